"""The conventional forward pass: patterns, the head as A ⊗ W_OV, restricted passes, bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given

import tensoralgebra as ta
from tensoralgebra.strategies import models, tokens


def model_and_tokens(**bounds):
    return models(**bounds).flatmap(lambda m: tokens(m).map(lambda t: (m, t)))


@given(data=model_and_tokens(dtypes=("float64", "float32")))
def test_patterns_are_row_stochastic_and_causal(data):
    model, toks = data
    trace = model.run(toks)
    tol = 1e-12 if trace.logits.dtype == np.float64 else 1e-5
    for pattern in trace.patterns:
        assert np.all(pattern >= 0)
        assert np.abs(pattern.sum(-1) - 1).max(initial=0) < tol
        assert np.all(np.triu(pattern, k=1) == 0)  # the -inf mask gives exact zeros


@given(data=model_and_tokens())
def test_a_head_is_its_pattern_kron_its_ov_circuit(data):
    """concat_h(A^h R W_V^hT) W_O^T == Σ_h (A^h ⊗ W_OV^h) R = Σ_h A^h R W_OV^hT
    (docs/conventions.md §1)."""
    model, toks = data
    trace, w = model.run(toks), model.weights
    for layer, out in enumerate(trace.attention):
        R = trace.residual[layer]
        kron_form = sum(
            (
                trace.pattern(layer, h) @ R @ (w.W_O[layer][h] @ w.W_V[layer][h]).T
                for h in range(w.W_Q[layer].shape[0])
            ),
            np.zeros_like(R),
        )
        assert np.abs(kron_form - out).max(initial=0) <= 1e-12 * max(1, np.abs(out).max(initial=0))
        assert np.array_equal(trace.residual[layer + 1], R + out)


@given(data=model_and_tokens())
def test_scores_are_the_unscaled_bilinear_form_and_patterns_their_scaled_softmax(data):
    model, toks = data
    trace, w = model.run(toks), model.weights
    seq = toks.shape[1]
    for layer in range(len(w.W_Q)):
        R = trace.residual[layer]
        for h in range(w.W_Q[layer].shape[0]):
            W_QK = w.W_Q[layer][h].T @ w.W_K[layer][h]
            scores = R @ W_QK @ R.swapaxes(-1, -2)
            assert np.allclose(trace.head_scores(layer, h), scores, rtol=1e-12, atol=1e-12)
            scaled = np.where(np.tri(seq, dtype=bool), scores / np.sqrt(w.d_head), -np.inf)
            soft = np.exp(scaled - scaled.max(-1, keepdims=True))
            soft /= soft.sum(-1, keepdims=True)
            assert np.allclose(trace.pattern(layer, h), soft, rtol=1e-12, atol=1e-14)


@given(data=model_and_tokens())
def test_keep_paths_sum_to_the_forward_pass_and_keep_order_to_partial_sums(data):
    model, toks = data
    trace, arch = model.run(toks), model.architecture
    scale = max(1.0, np.abs(trace.logits).max())
    by_order = {}
    for path in ta.logit_paths(arch):
        part = model.run(toks, frozen=trace, keep=path).logits
        by_order[path.order] = by_order.get(path.order, 0) + part
    for k in range(arch.n_layers + 1):
        partial = sum(by_order.get(j, 0) for j in range(k + 1))
        ablated = model.run(toks, frozen=trace, keep_order=k).logits
        assert np.abs(ablated - partial).max() <= 1e-12 * scale
    assert np.abs(partial - trace.logits).max() <= 1e-12 * scale


def test_keep_really_removes_the_skip_connection():
    """Negative control: keeping a head must not keep the direct path."""
    arch = ta.Architecture(heads=(1,))
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(arch, d_model=6, d_head=2, d_vocab=7, n_ctx=4)
    )
    toks = [[1, 2, 3]]
    trace = model.run(toks)
    head = model.run(toks, frozen=trace, keep=((0, 0),)).logits
    direct = model.run(toks, frozen=trace, keep=()).logits
    assert np.abs(head - direct).max() > 1e-3
    assert np.abs(head + direct - trace.logits).max() < 1e-12


def test_forward_returns_the_logits_as_a_tensor():
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(ta.Architecture((2,)), d_model=6, d_head=2, d_vocab=7, n_ctx=4)
    )
    logits = model(torch.tensor([[1, 2], [3, 4]]))
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 2, 7)
    assert np.array_equal(logits.numpy(), model.run([[1, 2], [3, 4]]).logits)


def test_importing_the_package_does_not_import_torch():
    code = (
        "import sys, tensoralgebra as ta, numpy as np\n"
        "w = ta.Weights.random(ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)\n"
        "assert ta.Trace and ta.VerifyReport and w.architecture\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_weights_accept_torch_tensors_and_the_model_reports_its_current_weights():
    w = ta.Weights.random(ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    as_torch = ta.Weights(
        W_E=torch.from_numpy(np.array(w.W_E)),
        W_U=w.W_U,
        W_Q=w.W_Q,
        W_K=w.W_K,
        W_V=w.W_V,
        W_O=[torch.from_numpy(np.array(o)) for o in w.W_O],
        n_ctx=3,
    )
    assert np.array_equal(as_torch.W_E, w.W_E) and isinstance(as_torch.W_O[0], np.ndarray)
    model = ta.AttentionOnlyTransformer(as_torch)
    with torch.no_grad():
        model.layers[0].W_V[0, 0, 0] += 1
    assert model.weights.W_V[0][0, 0, 0] == w.W_V[0][0, 0, 0] + 1


@pytest.mark.parametrize(
    ("toks", "message"),
    [
        ([[1, 9]], "tokens[0, 1] is 9: tokens must lie in 0..4"),
        ([[-1, 0]], "tokens[0, 0] is -1"),
        ([[0, 1, 2, 3]], "sequences of length 4 are longer than n_ctx=3"),
        (np.array([[1.0, 2.0]]), "tokens must be integers, got dtype float64"),
        (np.zeros((0, 2), dtype=int), "an empty batch has nothing to run"),
        (np.zeros((2, 0), dtype=int), "an empty batch has nothing to run"),
        ([], "an empty batch has nothing to run"),
        ([1, 2], "tokens must have shape [batch, seq], got shape (2,)"),
        (torch.tensor([[0.0]]), "tokens must be integers"),
    ],
)
def test_bad_tokens_are_refused_with_a_clear_message(toks, message):
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    )
    with pytest.raises(ta.TokensError) as error:
        model.run(toks)
    assert message in str(error.value)
    with pytest.raises(ta.TensorAlgebraError):
        ta.verify(model, toks)


def _w(**changes):
    w = ta.Weights.random(ta.Architecture((2, 1)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    fields = dict(W_E=w.W_E, W_U=w.W_U, W_Q=w.W_Q, W_K=w.W_K, W_V=w.W_V, W_O=w.W_O, n_ctx=3)
    return ta.Weights(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"W_K": lambda w: w.W_K[:1]}, "the weights disagree on the number of layers"),
        (
            {"W_V": lambda w: (w.W_V[0][:1], w.W_V[1])},
            "W_V[0] has shape (1, 2, 4), expected (2, 2, 4)",
        ),
        (
            {"W_O": lambda w: (w.W_O[0], w.W_O[1].swapaxes(1, 2))},
            "W_O[1] has shape (1, 2, 4), expected (1, 4, 2)",
        ),
        ({"W_U": lambda w: w.W_U.T}, "W_U has shape (4, 5), expected (5, 4)"),
        ({"W_U": lambda w: w.W_U.astype(np.float32)}, "W_U has dtype float32, but W_E has float64"),
        ({"W_E": lambda w: w.W_E.astype(np.int64)}, "W_E has dtype int64"),
        ({"W_E": lambda w: np.where(np.eye(4, 5, dtype=bool), np.nan, w.W_E)}, "W_E[0, 0] is nan"),
        ({"W_pos": lambda w: np.ones((4, 2))}, "W_pos has shape (4, 2), expected (4, 3)"),
        ({"n_ctx": lambda w: None}, "n_ctx (the longest sequence the model reads) is needed"),
    ],
)
def test_bad_weights_are_refused_naming_the_array_and_shapes(changes, message):
    w = ta.Weights.random(ta.Architecture((2, 1)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    with pytest.raises(ta.WeightsError) as error:
        _w(**{k: f(w) for k, f in changes.items()})
    assert message in str(error.value)


def test_frozen_traces_of_other_shapes_and_bad_keeps_are_refused():
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(ta.Architecture((2, 1)), d_model=4, d_head=2, d_vocab=5, n_ctx=4)
    )
    trace = model.run([[1, 2, 3]])
    with pytest.raises(ta.TensorAlgebraError, match="frozen trace has patterns of shapes"):
        model.run([[1, 2]], frozen=trace)
    with pytest.raises(ta.TensorAlgebraError, match="head \\(1, 1\\) does not exist"):
        model.run([[1, 2, 3]], keep=((1, 1),))
    with pytest.raises(ta.TensorAlgebraError, match="layers must strictly increase"):
        model.run([[1, 2, 3]], keep=((1, 0), (0, 0)))
    with pytest.raises(ta.TensorAlgebraError, match="keep_order 3 is out of range"):
        model.run([[1, 2, 3]], keep_order=3)
    with pytest.raises(ta.TensorAlgebraError, match="position source"):
        model.run([[1, 2, 3]], keep=ta.LogitPath((), "position"))


def test_weights_random_is_reproducible_and_typed():
    arch = ta.Architecture((2, 0), positional="standard")
    a = ta.Weights.random(arch, d_model=4, d_head=1, d_vocab=5, n_ctx=3, seed=7, dtype="float32")
    b = ta.Weights.random(arch, d_model=4, d_head=1, d_vocab=5, n_ctx=3, seed=7, dtype="float32")
    assert a.dtype == np.float32 and a.W_pos.shape == (4, 3) and a.architecture == arch
    assert np.array_equal(a.W_Q[0], b.W_Q[0]) and a.W_Q[1].shape == (0, 1, 4)
    assert not a.W_E.flags.writeable
    with pytest.raises(ta.WeightsError, match="d_head is 0: expected a positive integer"):
        ta.Weights.random(arch, d_model=4, d_head=0, d_vocab=5, n_ctx=3)
    with pytest.raises(ta.WeightsError, match="concrete Architecture"):
        ta.Weights.random(ta.Architecture.schematic(2), d_model=4, d_head=1, d_vocab=5, n_ctx=3)
