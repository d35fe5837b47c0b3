"""Bad input to the numeric backend: input → error type → a fragment of the message."""

from __future__ import annotations

import subprocess
import sys
import warnings

import hypothesis
import numpy as np
import pytest
import torch

import tensoralgebra as ta
from tensoralgebra.testing import assert_expansion_on_random_model, assert_score_expansion

ARCH = ta.Architecture((2, 1))
W = ta.Weights.random(ARCH, d_model=8, d_head=2, d_vocab=5, n_ctx=4)
MODEL = ta.AttentionOnlyTransformer(W)
TOKENS = [[1, 2, 3]]
SIZES = dict(d_model=8, d_head=2, d_vocab=5, n_ctx=4)


def weights(**changes):
    fields = dict(W_E=W.W_E, W_U=W.W_U, W_Q=W.W_Q, W_K=W.W_K, W_V=W.W_V, W_O=W.W_O, n_ctx=4)
    return ta.Weights(**{**fields, **changes})


def sized(d_model=8, d_head=2, d_vocab=5):
    """Weights of one one-head layer with these sizes (zeros allowed, to be refused)."""
    z = np.zeros
    return lambda: ta.Weights(
        W_E=z((d_model, d_vocab)),
        W_U=z((d_vocab, d_model)),
        W_Q=[z((1, d_head, d_model))],
        W_K=[z((1, d_head, d_model))],
        W_V=[z((1, d_head, d_model))],
        W_O=[z((1, d_model, d_head))],
        n_ctx=4,
    )


def transformer_lens(names):
    """W with the named weights in TransformerLens's layout (last two axes swapped)."""
    fields = dict(W_E=W.W_E, W_U=W.W_U, W_Q=W.W_Q, W_K=W.W_K, W_V=W.W_V, W_O=W.W_O)
    for name in names:
        value = fields[name]
        fields[name] = value.T if name in ("W_E", "W_U") else [v.swapaxes(1, 2) for v in value]
    return lambda: ta.Weights(**fields, n_ctx=4)


BAD = [
    # keep and keep_order
    (lambda: MODEL.run(TOKENS, keep=[(0.7, 0)]), ta.TensorAlgebraError, "layer of keep[0] is 0.7"),
    (lambda: MODEL.run(TOKENS, keep=[(True, True)]), ta.TensorAlgebraError, "not a bool"),
    (lambda: MODEL.run(TOKENS, keep=[(0, "1")]), ta.TensorAlgebraError, "head of keep[0] is '1'"),
    (lambda: MODEL.run(TOKENS, keep=[0]), ta.TensorAlgebraError, "keep[0] is 0, expected a"),
    (lambda: MODEL.run(TOKENS, keep_order=1.0), ta.TensorAlgebraError, "keep_order is 1.0"),
    (lambda: MODEL.run(TOKENS, keep_order=3), ta.TensorAlgebraError, "order 0..2"),
    # tokens
    (
        lambda: MODEL.run(np.ma.masked_array([[1, 2]], mask=[[0, 1]])),
        ta.TokensError,
        "masked array with 1 masked entry (the first at [0, 1])",
    ),
    (lambda: MODEL.run([[1, 2], [3]]), ta.TokensError, "ragged: sequences of lengths 1, 2"),
    (
        lambda: MODEL.run(torch.tensor([[1, 2]], dtype=torch.bfloat16)),
        ta.TokensError,
        "must be integers, got dtype torch.bfloat16",
    ),
    (
        lambda: MODEL.run(torch.empty((1, 2), dtype=torch.int64, device="meta")),
        ta.TokensError,
        "meta device",
    ),
    # weights: zero sizes, torch dtypes and devices, TransformerLens's layout
    (sized(d_head=0), ta.WeightsError, "d_head is 0, but every size must be at least 1"),
    (sized(d_model=0), ta.WeightsError, "d_model is 0, but every size must be at least 1"),
    (sized(d_vocab=0), ta.WeightsError, "d_vocab is 0, but every size must be at least 1"),
    (
        lambda: weights(W_E=torch.empty((8, 5), dtype=torch.float64, device="meta")),
        ta.WeightsError,
        "W_E is a torch tensor on the meta device",
    ),
    (
        lambda: weights(W_U=torch.zeros((5, 8), dtype=torch.bfloat16)),
        ta.WeightsError,
        "W_U has dtype torch.bfloat16: expected torch.float32 or torch.float64",
    ),
    (
        lambda: weights(W_E=np.ma.masked_array(W.W_E, mask=np.eye(8, 5))),
        ta.WeightsError,
        "W_E is a masked array with 5 masked entries",
    ),
    (lambda: weights(n_ctx=4.0), ta.WeightsError, "n_ctx is 4.0: expected an integer"),
    (
        lambda: weights(W_pos=np.zeros((4, 8))),
        ta.WeightsError,
        "W_pos looks like TransformerLens's [n_ctx, d_model] layout: transpose the last two axes",
    ),
    (
        transformer_lens(["W_U"]),
        ta.WeightsError,
        "W_U looks like TransformerLens's [d_model, d_vocab] layout: transpose the last two axes",
    ),
    (
        transformer_lens(["W_Q"]),
        ta.WeightsError,
        "W_Q[0] has shape (2, 8, 2), expected [n_heads, d_head, d_model] with d_model=8 last; it "
        "looks like TransformerLens's [n_heads, d_model, d_head] layout",
    ),
    (
        transformer_lens(["W_K"]),
        ta.WeightsError,
        "W_K[0] looks like TransformerLens's [n_heads, d_model, d_head] layout",
    ),
    (
        transformer_lens(["W_O"]),
        ta.WeightsError,
        "W_O[0] looks like TransformerLens's [n_heads, d_head, d_model] layout",
    ),
    (
        transformer_lens(["W_E", "W_U", "W_Q", "W_K", "W_V", "W_O"]),
        ta.WeightsError,
        "these weights look like TransformerLens's layout (W_E [d_vocab, d_model]",
    ),
    # Weights.random
    (
        lambda: ta.Weights.random(ARCH, **SIZES, dtype="banana"),
        ta.WeightsError,
        "dtype is 'banana': expected 'float32' or 'float64'",
    ),
    (
        lambda: ta.Weights.random(ARCH, **SIZES, dtype=None),
        ta.WeightsError,
        "dtype is None",
    ),
    (
        lambda: ta.Weights.random(ARCH, **SIZES, seed=-1),
        ta.WeightsError,
        "seed -1 is out of range: expected 0..4294967295",
    ),
    (
        lambda: ta.Weights.random(ARCH, **{**SIZES, "d_head": 0}),
        ta.WeightsError,
        "d_head is 0: expected a positive integer",
    ),
    (
        lambda: ta.Weights.random(ARCH, **{**SIZES, "d_vocab": 10**12}),
        ta.ExpansionLimitError,
        "would take 128,000,000,001,536 bytes, over the memory budget of "
        "1,073,741,824 bytes; d_vocab=8388596 fits",
    ),
    (
        lambda: ta.Weights.random(ta.Architecture((10**30,)), **SIZES),
        ta.ExpansionLimitError,
        "no smaller size fits: the architecture has too many heads",
    ),
    # evaluate
    (
        lambda: ta.evaluate(ta.logits(ARCH), None, MODEL.run(TOKENS)),
        ta.TensorAlgebraError,
        "evaluate needs an AttentionOnlyTransformer as its model, got NoneType",
    ),
    (
        lambda: ta.evaluate(ta.logits(ARCH), MODEL, "trace"),
        ta.TensorAlgebraError,
        "evaluation needs a Trace, got str",
    ),
    # verify
    (lambda: ta.verify(None, TOKENS), ta.TensorAlgebraError, "verify needs an Attention"),
    (lambda: ta.verify(MODEL, TOKENS, trace="x"), ta.TensorAlgebraError, "trace must be a Trace"),
    (
        lambda: ta.verify(MODEL, TOKENS, tolerance="1e-3"),
        ta.TensorAlgebraError,
        "tolerance is '1e-3': expected a positive number",
    ),
    (lambda: ta.verify(MODEL, TOKENS, tolerance=-1e-3), ta.TensorAlgebraError, "positive, finite"),
    (
        lambda: ta.verify(MODEL, TOKENS, tolerance=float("nan")),
        ta.TensorAlgebraError,
        "tolerance is nan: expected a positive, finite number",
    ),
    (lambda: ta.verify(MODEL, TOKENS, max_order=3), ta.TensorAlgebraError, "order 0..2"),
    (lambda: ta.verify(MODEL, TOKENS, max_order="1"), ta.TensorAlgebraError, "max_order is '1'"),
    (lambda: ta.verify(MODEL, TOKENS, per_term="no"), ta.TensorAlgebraError, "per_term is 'no'"),
    (lambda: ta.verify(MODEL, TOKENS, backend="jax"), ta.TensorAlgebraError, "backend is 'jax'"),
    (lambda: ta.verify(MODEL, TOKENS, expr_limit=-1), ta.TensorAlgebraError, "expr_limit -1"),
    (lambda: ta.verify(MODEL, TOKENS, max_bytes=0), ta.TensorAlgebraError, "max_bytes is 0"),
    (
        lambda: ta.verify(MODEL, TOKENS, max_bytes=1000),
        ta.ExpansionLimitError,
        "over the memory budget of 1,000 bytes",
    ),
    (
        lambda: ta.verify(MODEL, TOKENS, expansion="logits"),
        ta.TensorAlgebraError,
        "expansion must be an expression",
    ),
    (
        lambda: ta.verify(MODEL, TOKENS, of=(1, 0)),
        ta.TensorAlgebraError,
        "no expansion is given",
    ),
    (
        lambda: ta.verify(MODEL, TOKENS, expansion=ta.scores(ARCH, 1, 0)),
        ta.TensorAlgebraError,
        "an expression of the logits maps to positions⊗vocab; for a head's scores pass of=",
    ),
    (
        lambda: ta.verify(MODEL, TOKENS, expansion=ta.logits(ARCH), of=(1, 0)),
        ta.TensorAlgebraError,
        "an expression of a head's scores is a form on positions⊗positions⊗source",
    ),
    (
        lambda: ta.verify(MODEL, TOKENS, expansion=ta.logits(ARCH), of=(1, 1)),
        ta.TensorAlgebraError,
        "the head of of= 1 is out of range: layer 1 has heads 0..0",
    ),
    (
        lambda: ta.verify(MODEL, TOKENS, expansion=ta.logits(ARCH), of="scores"),
        ta.TensorAlgebraError,
        "of is 'scores': expected one of 'logits'",
    ),
    (
        lambda: ta.verify(MODEL, TOKENS, expansion=ta.expand(ta.logits(ARCH)), expansion_limit=5),
        ta.ExpansionLimitError,
        "expansion= has 6 terms once its sums over heads are written out, over expansion_limit=5",
    ),
]


@pytest.mark.parametrize(("call", "error", "fragment"), BAD)
def test_bad_numeric_input_is_refused_clearly(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)


def test_verify_refuses_a_run_over_the_budget_with_an_order_that_fits():
    arch = ta.Architecture((4, 4, 4))
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(arch, d_model=8, d_head=2, d_vocab=50, n_ctx=16)
    )
    tokens = np.zeros((4, 16), dtype=int)
    with pytest.raises(ta.ExpansionLimitError) as caught:
        ta.verify(model, tokens, max_bytes=500_000)
    error = caught.value
    assert error.option == "max_order" and "over the memory budget" in error.reason
    assert ta.verify(model, tokens, max_order=error.value, max_bytes=500_000).ok


def test_accepted_lookalikes_of_refused_input():
    """What is refused above has neighbours that are fine: nothing masked, numpy integers."""
    trace = MODEL.run(np.ma.masked_array([[1, 2]], mask=[[0, 0]]))
    assert trace.tokens.tolist() == [[1, 2]]
    kept = MODEL.run(TOKENS, keep=[(np.int64(1), np.int32(0))])
    assert kept.keep == [(np.int64(1), np.int32(0))]
    assert ta.verify(MODEL, TOKENS, max_order=np.int64(1), tolerance=np.float32(1e-9)).ok
    w = ta.Weights.random(ARCH, **{**SIZES, "n_ctx": np.int64(4)}, seed=np.uint32(7))
    assert w.n_ctx == 4 and type(w.n_ctx) is int


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: assert_score_expansion(MODEL, TOKENS, head="L1H0"), "head is 'L1H0'"),
        (lambda: assert_score_expansion(MODEL, TOKENS, head=(1.0, 0)), "layer of head is 1.0"),
        (lambda: assert_expansion_on_random_model(ARCH, batch=0), "batch is 0"),
        (lambda: assert_expansion_on_random_model(ARCH, seed=-2), "seed -2 is out of range"),
    ],
)
def test_the_testing_helpers_refuse_bad_options(call, fragment):
    with pytest.raises(ta.TensorAlgebraError) as caught:
        call()
    assert fragment in str(caught.value)


def _global_state():
    return (
        torch.get_num_threads(),
        torch.is_grad_enabled(),
        np.get_printoptions(),
        np.geterr(),
        list(warnings.filters),
        hypothesis.settings.default,
    )


def test_nothing_global_changes_on_use():
    """Thread counts, print options, floating-point error modes, warning filters and
    Hypothesis's settings are the caller's: the numeric backend and the test helpers leave
    them as they were."""
    before = _global_state()
    assert_expansion_on_random_model(ARCH, seed=1)
    ta.verify(MODEL, TOKENS, expansion=ta.logits(ARCH))
    MODEL.run(TOKENS, keep_order=1)
    assert _global_state() == before


def test_nothing_global_changes_on_import():
    code = (
        "import warnings, hypothesis, numpy as np, torch\n"
        "def state():\n"
        "    return (torch.get_num_threads(), np.get_printoptions(), np.geterr(),\n"
        "            list(warnings.filters), hypothesis.settings.default)\n"
        "before = state()\n"
        "import tensoralgebra.numeric.verification, tensoralgebra.numeric.model\n"
        "import tensoralgebra.testing, tensoralgebra.strategies\n"
        "assert state() == before, (state(), before)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
