"""Evaluation of terms (numpy and torch) and verify: every expansion against forward passes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import HeadVar
from tensoralgebra.expr.nodes import Kron, Product, Transpose
from tensoralgebra.expr.traversal import instantiate, substitute
from tensoralgebra.numeric import stacks
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.strategies import models, tokens
from tensoralgebra.symbols import W_E, W_OV, W_QK, A, Id_positions, W_pos
from tensoralgebra.testing import assert_expansion, assert_logit_expansion, assert_score_expansion


def model_and_tokens(**bounds):
    return models(**bounds).flatmap(lambda m: tokens(m).map(lambda t: (m, t)))


def close(a, b, rel=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max(initial=0) <= rel * max(1.0, np.abs(b).max(initial=0))


@given(
    data=model_and_tokens(dtypes=("float64", "float32")),
    backend=st.sampled_from(("numpy", "torch")),
)
def test_verify_is_ok_at_floating_point_accuracy(data, backend):
    """Up to 4 layers × 3 heads, zero-head layers, d_head = 1, seq 1..n_ctx, batch 1..3,
    with and without positions, float64 and float32, numpy and torch."""
    model, toks = data
    report = ta.verify(model, toks, backend=backend, expr_limit=16)
    assert report.ok, report.table()
    if model.weights.dtype == np.float64:
        assert max(c.sum_rel for c in report.checks) <= 1e-12
        assert max(c.term_rel or 0 for c in report.checks) <= 1e-12


@given(data=model_and_tokens(max_layers=3), order=st.integers(0, 3))
def test_verify_up_to_an_order_checks_against_the_ablated_pass(data, order):
    model, toks = data
    order = min(order, model.architecture.n_layers)
    report = ta.verify(model, toks, max_order=order, expr_limit=8)
    assert report.ok, report.table()
    assert report.checks[0].terms == sum(
        ta.count_logit_paths(model.architecture, k) for k in range(order + 1)
    )


@given(data=model_and_tokens(max_layers=3, max_heads=2))
def test_numpy_and_torch_agree_on_every_kind_of_expression(data):
    model, toks = data
    arch = model.architecture
    trace = model.run(toks)
    schematic = ta.Architecture.schematic(arch.n_layers, arch.positional)
    exprs = [ta.logits(arch), ta.expand(ta.logits(arch)), ta.expand(ta.logits(schematic))]
    for layer in range(arch.n_layers):
        for head in range(arch.heads[layer]):
            schematic_terms = ta.expand(ta.scores(schematic, layer, "h"))
            one = substitute(schematic_terms, {HeadVar("h"): ta.Head(layer, head)})
            exprs += [ta.scores(arch, layer, head), one]
    for expr in exprs:
        value = ta.evaluate(expr, model, trace)
        assert isinstance(value, np.ndarray)
        on_torch = ta.evaluate(expr, model, trace, backend="torch")
        assert isinstance(on_torch, torch.Tensor)
        assert close(on_torch.numpy(), value)


@given(data=model_and_tokens(max_layers=3, max_heads=2))
def test_factored_expanded_and_schematic_forms_equal_the_forward_pass(data):
    model, toks = data
    arch, trace = model.architecture, model.run(toks)
    schematic = ta.Architecture.schematic(arch.n_layers, arch.positional)
    for expr in (ta.logits(arch), ta.expand(ta.logits(arch)), ta.expand(ta.logits(schematic))):
        assert close(ta.evaluate(expr, model, trace), trace.logits)
    assert close(
        ta.evaluate(instantiate(ta.logits(schematic), arch.heads), model, trace), trace.logits
    )
    for layer in range(arch.n_layers):
        for head in range(arch.heads[layer]):
            want = trace.head_scores(layer, head)
            assert close(ta.evaluate(ta.scores(arch, layer, head), model, trace), want)
            terms = ta.expand(ta.scores(schematic, layer, "h"))
            from tensoralgebra.expr import HeadVar
            from tensoralgebra.expr.traversal import substitute

            one = substitute(terms, {HeadVar("h"): ta.Head(layer, head)})
            assert close(ta.evaluate(one, model, trace), want)


@given(data=model_and_tokens(max_layers=3, max_heads=2), chunk=st.integers(1, 5))
def test_shared_prefix_stacks_equal_term_by_term_evaluation_in_any_chunking(data, chunk):
    model, toks = data
    arch, trace = model.architecture, model.run(toks)
    b = Bindings(model, trace)
    seen = {}
    for paths, values in stacks.logit_terms(b, chunk=chunk):
        # A prefix always goes through all heads of a layer at once: chunks are at most
        # max(chunk, heads of a layer, sources) paths.
        assert len(paths) <= max(chunk, len(arch.sources), *arch.heads)
        seen.update(zip(paths, values))
    assert set(seen) == set(ta.logit_paths(arch))
    for path, value in seen.items():
        assert close(value, ta.evaluate(path.expr, model, trace))
    for layer in range(arch.n_layers):
        for head in range(arch.heads[layer]):
            blocks = {}
            for qs, ks, values in stacks.score_terms(b, layer, head, chunk=chunk):
                blocks |= {(q, k): values[i, j] for i, q in enumerate(qs) for j, k in enumerate(ks)}
            official = list(ta.score_paths(arch, layer, head))
            assert set(blocks) == {(t.query, t.key) for t in official}
            for t in official[:: max(1, len(official) // 7)]:
                assert close(blocks[(t.query, t.key)], ta.evaluate(t.expr, model, trace))


def test_hand_built_three_factor_terms_read_the_sources_their_spaces_name():
    arch = ta.Architecture((1, 1), positional="standard")
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(arch, d_model=6, d_head=3, d_vocab=7, n_ctx=5)
    )
    toks = np.array([[3, 1, 4, 1, 5], [2, 6, 5, 3, 5]])
    trace, w = model.run(toks), model.weights
    X = np.eye(7)[toks]  # [batch, seq, d_vocab]
    P = np.broadcast_to(np.eye(5), (2, 5, 5))  # position one-hots: the first seq rows of Id_n_ctx
    ov = w.W_O[0][0] @ w.W_V[0][0]
    qk = w.W_Q[1][0].T @ w.W_K[1][0]
    A0 = trace.pattern(0, 0)
    q_comp = Kron(
        (
            A((0, 0)),
            Id_positions,
            Product((Transpose(W_E), Transpose(W_OV((0, 0))), W_QK((1, 0)), W_E)),
        )
    )
    want = A0 @ X @ (w.W_E.T @ ov.T @ qk @ w.W_E) @ X.swapaxes(1, 2)
    assert close(ta.evaluate(q_comp, model, trace), want)
    mixed = Kron(
        (Id_positions, A((0, 0)), Product((Transpose(W_pos), W_QK((1, 0)), W_OV((0, 0)), W_E)))
    )
    want = P @ (w.W_pos.T @ qk @ ov @ w.W_E) @ X.swapaxes(1, 2) @ A0.swapaxes(1, 2)
    assert close(ta.evaluate(mixed, model, trace), want)
    assert close(
        ta.evaluate(
            Kron((Id_positions, Id_positions, Product((Transpose(W_E), W_E)))), model, trace
        ),
        X @ w.W_E.T @ w.W_E @ X.swapaxes(1, 2),
    )


def test_verify_sees_a_weight_changed_after_tracing():
    """Negative control: one weight entry perturbed after the trace was recorded."""
    arch = ta.Architecture((2, 2))
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(arch, d_model=8, d_head=2, d_vocab=9, n_ctx=5)
    )
    toks = [[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]
    trace = model.run(toks)
    assert ta.verify(model, toks, trace=trace).ok
    with torch.no_grad():
        model.layers[0].W_V[1, 0, 3] += 1e-6
    report = ta.verify(model, toks, trace=trace)
    assert not report.ok
    assert not report.checks[0].ok and report.checks[0].sum_rel > 1e-10
    assert "FAILED" in report.table()
    with pytest.raises(AssertionError, match=r"logits: sum of terms off by [0-9.e-]+ \(relative"):
        assert_logit_expansion(model, toks, trace=trace)
    with pytest.raises(AssertionError, match=r"scores L1H\d: sum of terms off by"):
        assert_score_expansion(model, toks, trace=trace)


def test_verify_sees_a_wrong_pattern():
    """Negative control: a trace whose patterns are not the model's own is caught."""
    arch = ta.Architecture((1, 1))
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(arch, d_model=8, d_head=2, d_vocab=9, n_ctx=5)
    )
    toks = [[1, 2, 3, 4]]
    trace = model.run(toks)
    swapped = ta.Trace(
        tokens=trace.tokens,
        logits=trace.logits,
        patterns=(trace.patterns[1], trace.patterns[0]),
        scores=trace.scores,
        residual=trace.residual,
        attention=trace.attention,
    )
    assert not ta.verify(model, toks, trace=swapped).ok


def test_report_as_table_json_and_dict():
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(ta.Architecture((2, 1)), d_model=8, d_head=2, d_vocab=9, n_ctx=5)
    )
    report = assert_expansion(model, [[1, 2, 3]])
    data = report.to_dict()
    assert data["ok"] is True and json.loads(report.to_json()) == data
    names = [c["name"] for c in data["checks"]]
    assert names == [
        "logits",
        "logits order≤0",
        "logits order≤1",
        "scores L0H0",
        "scores L0H1",
        "scores L1H0",
    ]
    assert [c["terms"] for c in data["checks"]] == [6, 1, 4, 1, 1, 9]
    table = report.table().splitlines()
    assert table[-1] == "all 6 checks ok" and table[2].split()[:2] == ["logits", "6"]
    assert repr(report) == "VerifyReport(Architecture(heads=(2, 1)), float64: 6 checks, ok)"


def test_score_assertion_names_a_missing_head():
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    )
    assert_score_expansion(model, [[1, 2]], head=(0, 0))
    with pytest.raises(AssertionError, match="no head \\(0, 3\\)"):
        assert_score_expansion(model, [[1, 2]], head=(0, 3))


def test_evaluate_refuses_what_it_cannot_bind():
    arch = ta.Architecture((1,))
    model = ta.AttentionOnlyTransformer(
        ta.Weights.random(arch, d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    )
    trace = model.run([[1, 2]])
    with pytest.raises(ta.TensorAlgebraError, match="model has no W_pos"):
        ta.evaluate(Kron((Id_positions, W_pos)), model, trace)
    with pytest.raises(ta.TensorAlgebraError, match="A\\^\\{L1H0\\}: head L1H0 does not exist"):
        ta.evaluate(Kron((A((1, 0)), W_E)), model, trace)
    with pytest.raises(ta.TensorAlgebraError, match="backend is 'jax': expected one of"):
        ta.evaluate(Kron((Id_positions, W_E)), model, trace, backend="jax")
    with pytest.raises(ta.TensorAlgebraError, match="cannot apply W_OV"):
        ta.evaluate(W_OV((0, 0)), model, trace)
    other = ta.AttentionOnlyTransformer(
        ta.Weights.random(ta.Architecture((2,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    )
    with pytest.raises(ta.TensorAlgebraError, match="the trace has heads \\(1,\\) per layer"):
        ta.evaluate(Kron((Id_positions, W_E)), other, trace)


@settings(max_examples=10)
@given(data=model_and_tokens(max_layers=2, max_heads=2, max_n_ctx=4))
def test_public_strategies_draw_valid_models_and_tokens(data):
    model, toks = data
    assert toks.dtype == np.int64 and 1 <= toks.shape[1] <= model.n_ctx
    assert toks.min() >= 0 and toks.max() < model.weights.d_vocab
