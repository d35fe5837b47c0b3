"""Order-by-order ablation and term-kind contributions: the identities on random idealised and
real models (Hypothesis), the hand-built induction model, figures and bad input."""

import itertools

import numpy as np
import pytest
from hand_built import induction_model
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.circuits.ablation import direct_logits, order_ablation
from tensoralgebra.circuits.contributions import (
    logit_difference_contributions,
    score_kind_contributions,
)
from tensoralgebra.circuits.detectors import repeated_random_tokens
from tensoralgebra.circuits.plots_attention import plot_attention, plot_order_ablation
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.numeric.tokens import TokensError

KINDS = list(
    itertools.product((None, "LN", "LNPre"), (False, True), (None, "standard", "shortformer"))
)
TOL = 1e-10


@st.composite
def cases(draw):
    """A small random model, idealised or real, and a dataset of 1..3 sequences of length ≥ 2."""
    heads = tuple(draw(st.lists(st.integers(0, 2), max_size=3)))
    normalization, biases, positional = draw(st.sampled_from(KINDS))
    n_ctx = draw(st.integers(2, 5))
    weights = ta.Weights.random(
        ta.Architecture(heads),
        d_model=draw(st.integers(2, 6)),
        d_head=draw(st.integers(1, 3)),
        d_vocab=draw(st.integers(2, 7)),
        n_ctx=n_ctx,
        seed=draw(st.integers(0, 2**32 - 1)),
        normalization=normalization,
        biases=biases,
        positional=positional,
    )
    model = ta.AttentionOnlyTransformer(weights)
    seq, n = draw(st.integers(2, n_ctx)), draw(st.integers(1, 3))
    row = st.lists(st.integers(0, weights.d_vocab - 1), min_size=seq, max_size=seq)
    return model, np.array(draw(st.lists(row, min_size=n, max_size=n)))


@settings(max_examples=40, deadline=None)
@given(cases())
def test_orders_telescope_order_0_is_the_direct_path_and_the_last_is_the_full_model(case):
    model, tokens = case
    table = order_ablation(model, tokens)
    top = model.architecture.n_layers
    assert len(table.losses) == len(table.by_layer) == top + 1
    assert abs(table.losses[0] - table.direct) <= TOL * max(1, table.direct)
    assert abs(table.losses[top] - table.full) <= TOL * max(1, table.full)
    assert abs(table.by_layer[0] - table.direct) <= TOL * max(1, table.direct)
    assert abs(table.by_layer[top] - table.full) <= TOL * max(1, table.full)
    gain = table.losses[0] - table.full
    assert abs(sum(table.marginal) - gain) <= TOL * max(1, table.full)
    assert abs(sum(table.layer_reductions) - gain) <= TOL * max(1, table.full)
    kinds = table.kinds
    assert abs(kinds["head"] + kinds["virtual"] - gain) <= TOL * max(1, table.full)


@settings(max_examples=25, deadline=None)
@given(cases(), st.data())
def test_term_kinds_and_heads_add_up_to_the_logit_difference(case, data):
    model, tokens = case
    d_vocab = model.W_E.shape[1]
    answers = data.draw(
        st.lists(st.integers(0, d_vocab - 1), min_size=len(tokens), max_size=len(tokens))
    )
    split = logit_difference_contributions(model, tokens, answers, list(reversed(answers)))
    scale = max(1.0, abs(split.full))
    assert abs(sum(split.kinds.values()) - split.full) <= TOL * scale
    assert abs(sum(split.heads.values()) - split.kinds["head"]) <= TOL * scale


@settings(max_examples=25, deadline=None)
@given(cases(), st.data())
def test_score_kinds_add_up_to_the_traced_scores(case, data):
    model, tokens = case
    arch = model.architecture
    layers = [layer for layer, n in enumerate(arch.heads) if n]
    if not layers:
        return
    layer = data.draw(st.sampled_from(layers))
    head = data.draw(st.integers(0, arch.heads[layer] - 1))
    kinds = score_kind_contributions(model, tokens, layer, head)
    scale = max(1.0, float(np.abs(model.run(tokens).head_scores(layer, head)).max()))
    assert kinds.error <= TOL * scale
    if layer == 0:  # nothing to compose with
        assert kinds.rms["Q"] == kinds.rms["K"] == kinds.rms["QK"] == 0


def test_direct_logits_are_w_u_w_e_without_biases_or_layernorm():
    w = ta.Weights.random(
        ta.Architecture((2,), positional="standard"), d_model=5, d_head=2, d_vocab=6, n_ctx=4
    )
    tokens = np.array([[1, 2, 3]])
    want = (w.W_U @ (w.W_E[:, tokens[0]] + w.W_pos[:, :3])).T[None]
    assert np.allclose(direct_logits(w, tokens, None), want, atol=1e-14)


def test_the_hand_built_induction_head_works_through_its_order_1_term_and_k_composition():
    model = induction_model()
    tokens = repeated_random_tokens(12, 8, 8, seed=3)
    table = order_ablation(model, tokens)
    assert table.losses[0] == pytest.approx(np.log(12), abs=1e-12)  # W_U W_E = 0
    assert table.marginal[1] == pytest.approx(0, abs=1e-12)  # no virtual head: W_V^1 W_O^0 = 0
    assert table.layer_reductions[0] == pytest.approx(0, abs=1e-12)
    kinds = score_kind_contributions(model, tokens, 1, 0, target="induction")
    assert (
        kinds.advantage["K"] == pytest.approx(kinds.advantage["total"])
        and kinds.advantage["K"] > 100
    )
    assert kinds.rms["none"] == kinds.rms["Q"] == kinds.rms["QK"] == 0


def test_chunked_and_whole_tables_agree_and_print():
    model = induction_model()
    tokens = repeated_random_tokens(12, 8, 6, seed=1)
    whole, small = order_ablation(model, tokens), order_ablation(model, tokens, max_bytes=400_000)
    assert np.allclose(whole.losses, small.losses, atol=1e-12)
    text = str(whole)
    assert "order-by-order ablation" in text and "virtual" in text and "L1" in text
    assert whole.to_dict()["marginal"] == list(whole.marginal)


def test_figures_are_drawn_and_saved(tmp_path):
    model = induction_model()
    tokens = repeated_random_tokens(12, 6, 1, seed=0)
    fig = plot_attention(
        model,
        tokens[0],
        [(0, 0), (1, 0)],
        decode=lambda t: "abcdefghijkl"[t],
        path=tmp_path / "a.png",
    )
    assert len(fig.axes) == 3 and (tmp_path / "a.png").stat().st_size > 1000
    assert fig.axes[0].get_xticklabels()[1].get_text() == f"1:{'abcdefghijkl'[tokens[0, 1]]}"
    plot_order_ablation(order_ablation(model, tokens), path=tmp_path / "b.svg")
    assert (tmp_path / "b.svg").read_text().startswith("<?xml")


def _model(**kw):
    sizes = {"d_model": 4, "d_head": 2, "d_vocab": 5, "n_ctx": 4, **kw}
    return ta.AttentionOnlyTransformer(ta.Weights.random(ta.Architecture(heads=(1, 1)), **sizes))


T = [[1, 2, 3, 4]]
BAD = [
    (lambda: order_ablation(None, T), TensorAlgebraError, "needs an AttentionOnlyTransformer"),
    (lambda: order_ablation("gpt-2"), TensorAlgebraError, "no shipped model is named 'gpt-2'"),
    (lambda: order_ablation(_model()), TensorAlgebraError, "needs tokens [n, seq]: the model"),
    (lambda: order_ablation(_model(), []), TokensError, "empty batch"),
    (lambda: order_ablation(_model(), [[]]), TokensError, "empty batch"),
    (lambda: order_ablation(_model(), [[1]]), TensorAlgebraError, "at least 2 tokens"),
    (lambda: order_ablation(_model(), [[1, 5]]), TokensError, "tokens[0, 1] is 5"),
    (lambda: order_ablation(_model(), [[1, -1]]), TokensError, "tokens[0, 1] is -1"),
    (lambda: order_ablation(_model(), [[1.0, 2.0]]), TokensError, "must be integers"),
    (lambda: order_ablation(_model(), [1, 2, 3]), TokensError, "[batch, seq]"),
    (lambda: order_ablation(_model(), [[1] * 5]), TokensError, "longer than n_ctx=4"),
    (
        lambda: order_ablation(_model(), [[1, 2]], full_context=True),
        TensorAlgebraError,
        "shorter than the model's n_ctx=4",
    ),
    (
        lambda: order_ablation(_model(), T, full_context="yes"),
        TensorAlgebraError,
        "full_context is 'yes'",
    ),
    (lambda: order_ablation(_model(), T, max_bytes=100), ExpansionLimitError, "over the memory"),
    (lambda: order_ablation(_model(), T, max_bytes=0), TensorAlgebraError, "max_bytes is 0"),
    (
        lambda: score_kind_contributions(_model(), T, 2, 0),
        TensorAlgebraError,
        "layer 2 does not exist",
    ),
    (
        lambda: score_kind_contributions(_model(), T, 1, 1),
        TensorAlgebraError,
        "head 1 does not exist: layer 1 has 1 heads",
    ),
    (
        lambda: score_kind_contributions(_model(), T, 1, 0, target="V"),
        TensorAlgebraError,
        "target is 'V'",
    ),
    (
        lambda: score_kind_contributions(_model(), T, 1, 0, target="induction"),
        TensorAlgebraError,
        "no query of these tokens has both",
    ),
    (
        lambda: logit_difference_contributions(_model(), T, [1, 2], [3, 4]),
        TensorAlgebraError,
        "answers must be 1 integer tokens",
    ),
    (
        lambda: logit_difference_contributions(_model(), T, [9], [3]),
        TensorAlgebraError,
        "answers[0] is 9",
    ),
    (
        lambda: logit_difference_contributions(_model(), T, [1], [0.5]),
        TensorAlgebraError,
        "distractors must be 1 integer tokens",
    ),
    (lambda: plot_attention(_model(), T, [(0, 3)]), TensorAlgebraError, "head 3 does not exist"),
    (lambda: plot_attention(_model(), T, [(5, 0)]), TensorAlgebraError, "layer 5 does not exist"),
    (lambda: plot_attention(_model(), T, []), TensorAlgebraError, "heads is empty"),
    (lambda: plot_attention(_model(), T, "L0H0"), TensorAlgebraError, "heads is 'L0H0'"),
    (lambda: plot_attention(_model(), T + T), TensorAlgebraError, "draws one prompt, got 2"),
    (lambda: plot_attention(_model(), T, decode="abc"), TensorAlgebraError, "decode is 'abc'"),
    (lambda: plot_attention(_model(), T, path="x.gif"), TensorAlgebraError, "expected a file"),
    (
        lambda: plot_attention(_model(), T, path="/nonexistent/dir/x.png"),
        TensorAlgebraError,
        "cannot write a figure",
    ),
    (lambda: plot_order_ablation({"losses": [1]}), TensorAlgebraError, "needs an OrderAblation"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), BAD)
def test_bad_input_is_refused_clearly(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)
