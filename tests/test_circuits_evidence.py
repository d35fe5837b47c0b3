"""The paper's findings, found by the analyses on the shipped models (docs/ablation.md and the
other analysis pages, "On the shipped models"; numbers with margins).

two-layer-induction: a previous-token head in layer 0 (L0H0) and two induction heads in layer 1,
the largest baseline-subtracted K-composition from the first to the second, copying OV circuits
in the induction heads. two-layer-stdlib, on its held-out text: no induction head (its context of
64 bytes of Python source is too short to make one pay; recorded, not a failure of the detector),
and the order-by-order ablation the paper tabulates (direct path, heads, virtual heads).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tensoralgebra import circuits, models
from tensoralgebra.circuits.passes import next_token_losses
from tensoralgebra.cli import main

INDUCTION, STDLIB = "two-layer-induction", "two-layer-stdlib"


@pytest.fixture(scope="module")
def ablations():
    return {name: circuits.order_ablation(name) for name in models.names()}


def test_the_detectors_find_the_previous_token_head_and_the_induction_heads():
    found = circuits.detect_heads(models.load(INDUCTION), seed=0)
    assert found["previous_token"].flagged == [(0, 0)]
    assert found["induction"].flagged == [(1, 0), (1, 1)]
    assert found["duplicate_token"].flagged == []
    assert found["previous_token"].score(0, 0) == pytest.approx(0.604, abs=0.05)
    assert found["induction"].score(1, 0) == pytest.approx(0.929, abs=0.05)
    assert found["induction"].score(1, 1) == pytest.approx(0.860, abs=0.05)


def test_the_largest_k_composition_is_from_the_previous_token_head_to_an_induction_head():
    table = circuits.composition_scores(models.load(INDUCTION).weights, "K", seed=0)
    (earlier, later, score, excess), second = table.largest(2)
    assert score == pytest.approx(0.204, abs=0.01)
    assert (earlier, later) == ("L0H0", "L1H0")
    assert excess == pytest.approx(0.079, abs=0.01)
    spread = table.baselines[1].std
    assert excess > 8 * spread, (excess, spread)  # far outside the random baseline
    assert second[:2] == ("L0H0", "L1H1") and second[3] > 4 * spread


def test_the_induction_heads_copy_and_the_previous_token_heads_do_not():
    copying = circuits.copying_scores(models.load(INDUCTION).weights)
    scores = dict(zip(copying.heads, copying.scores))
    assert scores[(1, 0)] > 0.95 and scores[(1, 1)] > 0.95, scores
    assert scores[(0, 0)] < -0.9 and scores[(0, 1)] < -0.9, scores
    assert [h for h, c in zip(copying.heads, copying.copying) if c] == [(1, 0), (1, 1)]


def test_the_stdlib_models_have_no_induction_head_in_64_bytes_of_context():
    found = circuits.detect_heads(models.load(STDLIB), seed=0)
    induction = found["induction"]
    assert induction.flagged == [] and max(np.concatenate(induction.scores)) < 0.1
    assert found["previous_token"].flagged == [(0, 3)]
    table = circuits.composition_scores(models.load(STDLIB).weights, "K", seed=0)
    assert table.largest(1)[0][3] < 0.0  # no pair composes beyond the random baseline


@pytest.mark.parametrize("name", models.names())
def test_the_ablation_is_on_the_models_own_held_out_text_and_its_orders_sum(name, ablations):
    table = ablations[name]
    assert table.tokens_shape == (64, models.recipe_of(name).n_ctx)
    assert table.full == pytest.approx(models.info(name)["held_out_loss"], abs=1e-4)
    # The restricted pass of every order is the model (float32: to 1e-5 nats) ...
    assert table.losses[-1] == pytest.approx(table.full, abs=1e-5)
    # ... and the orders' reductions add up to the whole reduction from a uniform prediction.
    total = table.uniform - table.losses[-1]
    assert sum(table.kinds.values()) == pytest.approx(total, abs=1e-9)
    assert table.uniform - table.losses[0] + sum(table.marginal) == pytest.approx(total, abs=1e-9)


@pytest.mark.parametrize("name", models.names())
def test_order_zero_is_the_direct_path_alone(name, ablations):
    """The order-0 loss, against W_U (W_E + W_pos) computed here from the weights (the recipes'
    models have neither LayerNorm nor biases) and the full loss against a plain forward pass."""
    model = models.load(name)
    w, tokens = model.weights, model.dataset.held_out(model.n_ctx, 64)
    assert w.normalization is None and w.b_U is None and w.b_O is None
    stream = w.W_E.T[tokens].astype(np.float64)
    if w.W_pos is not None:
        stream = stream + w.W_pos.T[: tokens.shape[1]]
    direct = next_token_losses(stream @ w.W_U.T.astype(np.float64), tokens).mean()
    full = next_token_losses(model(model.tokens(tokens)).numpy(), tokens).mean()
    assert ablations[name].losses[0] == pytest.approx(direct, abs=1e-4)
    assert ablations[name].direct == pytest.approx(direct, abs=1e-4)
    assert ablations[name].full == pytest.approx(full, abs=1e-5)


#: The order-by-order table on the held-out text: loss with orders ≤ 0, 1, 2 (nats).
STDLIB_LOSSES = {
    "zero-layer-stdlib": (2.470,),
    "one-layer-stdlib": (4.425, 1.750),
    "two-layer-stdlib": (4.751, 1.858, 1.533),
}


@pytest.mark.parametrize("name", list(STDLIB_LOSSES))
def test_the_stdlib_order_by_order_table(name, ablations):
    table = ablations[name]
    assert table.uniform == pytest.approx(math.log(256))
    assert table.losses == pytest.approx(STDLIB_LOSSES[name], abs=0.05)


def test_two_layers_on_text_the_papers_pattern_heads_most_then_direct_then_virtual(ablations):
    """The paper: direct path 1.8 nats, heads 5.2, virtual heads 0.3 (its two-layer model)."""
    kinds = ablations[STDLIB].kinds
    assert kinds["direct"] == pytest.approx(0.794, abs=0.05)
    assert kinds["head"] == pytest.approx(2.893, abs=0.05)
    assert kinds["virtual"] == pytest.approx(0.325, abs=0.05)
    assert kinds["head"] > kinds["direct"] > kinds["virtual"] > 0.2


def test_the_command_reports_on_a_shipped_model_with_its_held_out_data(capsys):
    argv = ["circuits", "--model", INDUCTION, "--samples", "50", "--sequences", "8"]
    assert main([*argv, "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["model"]["name"] == INDUCTION
    assert found["ablation"]["tokens_shape"] == [8, 32]


def test_the_report_of_a_shipped_model_by_name():
    result = circuits.report("one-layer-stdlib", samples=50, figures=False)
    assert result.model["name"] == "one-layer-stdlib"
    assert result.ablation_data.startswith("64 held-out sequences of 64 tokens of 'stdlib'")
    text = {t for table in result.skip_trigrams for t in table.text.values()}
    assert text and all(t.isprintable() and t != "\ufffd" for t in text), text
    held_out = set(np.unique(models.dataset("one-layer-stdlib").held_out(64, 64)).tolist())
    named = {x for table in result.skip_trigrams for x in table.text}
    assert named <= held_out


def test_a_file_no_recipe_made_leaves_the_model_without_data(tmp_path):
    import tensoralgebra as ta

    w = ta.Weights.random(ta.Architecture((1,)), d_model=8, d_head=2, d_vocab=6, n_ctx=4)
    w.save(tmp_path / "random.safetensors")
    model = models.mark(ta.AttentionOnlyTransformer(w), tmp_path / "random.safetensors")
    assert models.recipe_in(tmp_path / "random.safetensors") is None
    assert model.name is None and model.dataset is None
    assert models.recipe_in(models.path(INDUCTION)).name == INDUCTION
