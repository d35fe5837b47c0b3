"""The expansion of real architectures (biases, frozen LayerNorm, shortformer positions) against
forward passes: every term evaluated, restricted passes, ``verify`` and the test assertions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr.nodes import Kron, Product
from tensoralgebra.paths import path_sources
from tensoralgebra.symbols import (
    W_E,
    C,
    Id_positions,
    N,
    W_ln,
    b_K,
    b_Q,
    b_U,
    c,
    c_K,
    c_Q,
    c_U,
    ones,
)

NORMALIZATIONS = (None, "LN", "LNPre")
POSITIONALS = (None, "standard", "shortformer")
KINDS = list(itertools.product(NORMALIZATIONS, (False, True), POSITIONALS))
REL = 1e-10


def rel_error(got, want) -> float:
    got, want = np.asarray(got), np.asarray(want)
    return float(np.abs(got - want).max(initial=0) / max(np.abs(want).max(initial=0), 1e-300))


def real_model(heads, normalization, biases, positional, seed=0, dtype="float64", **sizes):
    sizes = {"d_model": 6, "d_head": 3, "d_vocab": 7, "n_ctx": 5, **sizes}
    weights = ta.Weights.random(
        ta.Architecture(heads),
        **sizes,
        seed=seed,
        dtype=dtype,
        normalization=normalization,
        biases=biases,
        positional=positional,
    )
    return ta.AttentionOnlyTransformer(weights)


@st.composite
def real_cases(draw, max_layers=3, max_heads=2):
    """A small random real model (any normalization, biases and positional kind) and tokens."""
    heads = tuple(draw(st.lists(st.integers(0, max_heads), min_size=0, max_size=max_layers)))
    kind = draw(st.sampled_from(KINDS))
    seed = draw(st.integers(0, 2**16))
    model = real_model(heads, *kind, seed=seed)
    batch, seq = draw(st.integers(1, 2)), draw(st.integers(1, 5))
    tokens = np.random.default_rng(seed).integers(0, 7, size=(batch, seq))
    return model, tokens


# --- every symbol evaluated ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True)
@given(case=real_cases())
def test_the_logit_and_score_terms_sum_to_the_forward_pass(case):
    model, tokens = case
    trace, arch = model.run(tokens), model.architecture
    total = sum(ta.evaluate(p.expr, model, trace) for p in ta.logit_paths(arch))
    assert rel_error(total, trace.logits) <= REL
    for layer, n in enumerate(arch.heads):
        for head in range(n):
            terms = ta.score_paths(arch, layer, head)
            scores = sum(ta.evaluate(p.expr, model, trace) for p in terms)
            assert rel_error(scores, trace.head_scores(layer, head)) <= REL


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_factored_forms_evaluate_on_both_backends(kind):
    model = real_model((2, 1, 2), *kind, seed=1)
    trace, arch = model.run([[1, 2, 3, 4, 5], [6, 0, 2, 2, 1]]), model.architecture
    for backend in ("numpy", "torch"):
        logits = np.asarray(ta.evaluate(ta.logits(arch), model, trace, backend=backend))
        assert rel_error(logits, trace.logits) <= REL
        scores = np.asarray(ta.evaluate(ta.scores(arch, 2, 1), model, trace, backend=backend))
        assert rel_error(scores, trace.head_scores(2, 1)) <= REL
    expanded = ta.evaluate(ta.expand(ta.logits(arch)), model, trace)
    assert rel_error(expanded, trace.logits) <= REL


def test_each_constant_is_what_the_conventions_say():
    model = real_model((2, 1), "LN", True, "standard", seed=4)
    w, trace = model.weights, model.run([[1, 2, 3]])
    center = np.eye(6) - 1 / 6

    def value(symbol):  # a constant read at every position: [batch, seq, dim] of equal rows
        return ta.evaluate(Kron((ones, symbol)), model, trace)[0, 0]

    b = w.ln_b[0]
    want_c = w.b_O[0] + sum(w.W_O[0][h] @ (w.W_V[0][h] @ b + w.b_V[0][h]) for h in range(2))
    np.testing.assert_allclose(value(c(0)), want_c, rtol=1e-13)
    np.testing.assert_allclose(value(c_U), w.W_U @ w.ln_final_b + w.b_U, rtol=1e-13)
    np.testing.assert_allclose(value(b_U), w.b_U, rtol=1e-13)
    np.testing.assert_allclose(value(c_Q((1, 0))), w.W_Q[1][0] @ w.ln_b[1] + w.b_Q[1][0])
    np.testing.assert_allclose(value(c_K((0, 1))), w.W_K[0][1] @ b + w.b_K[0][1])
    np.testing.assert_allclose(value(b_Q((0, 1))), w.b_Q[0][1])
    np.testing.assert_allclose(value(b_K((0, 1))), w.b_K[0][1])
    stream = Kron((Id_positions, W_E))
    embedded = ta.evaluate(stream, model, trace)
    for symbol, matrix in ((W_ln(1), w.ln_w[1][:, None] * center), (C, center)):
        np.testing.assert_allclose(
            ta.evaluate(Product((Kron((N(1), symbol)), stream)), model, trace),
            embedded @ matrix.T / trace.ln_scale[1][..., None],
            rtol=1e-13,
        )


def _lnpre():
    model = real_model((1,), "LNPre", False, None)
    return model, model.run([[1, 2]])


def _plain():
    model = real_model((1,), None, False, None)
    return model, model.run([[1, 2]])


def _ln():
    model = real_model((1,), "LN", True, None)
    return model, model.run([[1, 2]])


def _on(symbol, make=_plain, source=W_E):
    model, trace = make()
    return lambda: ta.evaluate(Kron((symbol, source)), model, trace)


def _model_side(symbol, make=_plain):
    model, trace = make()
    return lambda: ta.evaluate(Kron((ones, symbol)), model, trace)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (_on(N(0)), "reads the frozen LayerNorm scale N^{L0}, but this model has no LayerNorm"),
        (_on(N(None)), "N^{f}, but this model has no LayerNorm"),
        (_on(N(3), _ln), "N^{L3}: layer 3 does not exist; the model has 1"),
        (_model_side(c(0)), "reads c^{L0}, but this model has no biases"),
        (_model_side(c(0), _lnpre), "reads c^{L0}, but this model has no biases"),
        (_model_side(c(2), _ln), "c^{L2}: layer 2 does not exist; the model has 1"),
        (_model_side(c_U, _lnpre), "reads c_U, which needs LayerNorm weights"),
        (_model_side(b_U), "reads b_U, but this model has no biases"),
        (_model_side(c_Q((0, 0)), _lnpre), "reads c_Q, which needs LayerNorm weights"),
        (_model_side(b_K((0, 1)), _ln), "head L0H1 does not exist"),
    ],
)
def test_symbols_a_model_lacks_are_refused(call, fragment):
    with pytest.raises(ta.TensorAlgebraError) as caught:
        call()
    assert fragment in str(caught.value)


def test_w_ln_of_lnpre_is_refused_and_a_trace_without_scales_too():
    model, trace = _lnpre()
    term = Kron((Id_positions, Product((W_ln(0), W_E))))
    with pytest.raises(ta.TensorAlgebraError, match=r"W_ln\^\{L0\}, which needs LayerNorm"):
        ta.evaluate(term, model, trace)
    plain_model, plain_trace = _plain()
    with pytest.raises(ta.TensorAlgebraError, match="the trace has none"):
        ta.evaluate(Kron((N(0), W_E)), model, plain_trace)
    del plain_model


# --- path-restricted passes ---------------------------------------------------------------------


@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=real_cases())
def test_each_term_is_its_restricted_pass_and_orders_are_ablations(case):
    model, tokens = case
    trace, arch = model.run(tokens), model.architecture
    scale = max(np.abs(trace.logits).max(), 1e-300)
    for path in ta.logit_paths(arch):
        alone = model.run(tokens, frozen=trace, keep=path).logits
        assert np.abs(alone - ta.evaluate(path.expr, model, trace)).max() / scale <= REL
    for k in range(arch.n_layers + 1):
        ablated = model.run(tokens, frozen=trace, keep_order=k).logits
        terms = sum(ta.evaluate(p.expr, model, trace) for p in ta.logit_paths(arch, max_order=k))
        assert np.abs(ablated - terms).max() / scale <= REL


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_keeping_heads_keeps_every_source_of_that_path(kind):
    model = real_model((1, 2), *kind, seed=2)
    tokens = [[1, 2, 3, 4], [4, 3, 2, 1]]
    trace, arch = model.run(tokens), model.architecture
    for heads in ((), ((0, 0),), ((1, 1),), ((0, 0), (1, 0))):
        kept = model.run(tokens, frozen=trace, keep=heads).logits
        paths = [p for p in ta.logit_paths(arch) if p.heads == heads]
        layers = tuple(layer for layer, _ in heads)
        assert [p.source for p in paths] == list(path_sources(arch, layers))
        want = sum(ta.evaluate(p.expr, model, trace) for p in paths)
        assert rel_error(kept, want) <= REL
    frozen = model.run(tokens, frozen=trace)
    assert np.array_equal(frozen.logits, trace.logits)


def test_a_restricted_pass_freezes_the_layernorm_scales():
    """Negative control: with the scales recomputed from the restricted stream, the term would
    differ; the restricted pass must use the frozen ones."""
    model = real_model((1,), "LNPre", False, None, seed=5)
    tokens = [[1, 2, 3]]
    trace, arch = model.run(tokens), model.architecture
    path = list(ta.logit_paths(arch))[-1]
    kept = model.run(tokens, frozen=trace, keep=path)
    np.testing.assert_array_equal(kept.ln_final_scale, trace.ln_final_scale)
    own_scale = model.run(tokens, keep=path)  # frozen on the whole pass by default, too
    np.testing.assert_array_equal(own_scale.ln_scale[0], trace.ln_scale[0])
    alone = np.asarray(kept.residual[-1])
    rescaled = alone - alone.mean(-1, keepdims=True)
    assert not np.allclose(
        np.sqrt((rescaled**2).mean(-1) + model.eps), trace.ln_final_scale, rtol=1e-3
    )


def _ln_biased():
    model = real_model((1, 1), "LN", True, None)
    return model, model.run([[1, 2]])


@pytest.mark.parametrize(
    "keep, fragment",
    [
        (ta.LogitPath(((0, 0),), "bias L0", "LN"), "bias L0, which joins the stream after layer 0"),
        (ta.LogitPath(((1, 0),), "bias L1", "LN"), "bias L1, which joins the stream after layer 1"),
        (ta.LogitPath(((0, 0),), "unembedding bias", "LN"), "which no head carries"),
        (ta.LogitPath((), "position", "LN"), "the position source, which Architecture"),
        (ta.LogitPath((), "bias L2", "LN"), "the bias L2 source, which Architecture"),
        (ta.LogitPath(((0, 1),), "token", "LN"), "head (0, 1) does not exist"),
    ],
)
def test_paths_a_model_cannot_have_are_refused(keep, fragment):
    model, trace = _ln_biased()
    with pytest.raises(ta.TensorAlgebraError) as caught:
        model.run([[1, 2]], frozen=trace, keep=keep)
    assert fragment in str(caught.value)


def test_a_frozen_trace_without_layernorm_scales_is_refused():
    model, _ = _ln_biased()
    plain = real_model((1, 1), None, False, None)
    with pytest.raises(ta.TensorAlgebraError, match="the frozen trace has no LayerNorm scales"):
        model.run([[1, 2]], frozen=plain.run([[1, 2]]))


# --- verify -------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, derandomize=True)
@given(case=real_cases(), max_order=st.sampled_from([None, 0, 1]))
def test_verify_passes_on_real_models(case, max_order):
    model, tokens = case
    top = None if max_order is None else min(max_order, model.architecture.n_layers)
    report = ta.verify(model, tokens, top)
    assert report.ok, report.table()
    for check in report.checks:
        assert check.sum_rel <= REL and check.terms == check.expected_terms
        if check.term_rel is not None:
            assert check.term_rel <= REL


def test_verify_checks_every_kind_of_term_and_notes_those_constant_along_keys():
    model = real_model((2, 1), "LN", True, "shortformer", seed=8)
    report = ta.verify(model, [[1, 2, 3, 4], [4, 3, 2, 1]])
    assert report.ok, report.table()
    arch = model.architecture
    by_name = {c.name: c for c in report.checks}
    assert by_name["logits"].terms == ta.count_logit_paths(arch) == by_name["logits"].expanded
    scores = by_name["scores L1H0"]
    assert scores.terms == ta.count_score_paths(arch, 1, 0) == scores.exprs == scores.expanded
    constant = sum(t.constant_along_keys for t in ta.score_paths(arch, 1, 0))
    assert (
        constant
        and (
            f"{constant} of the {scores.terms} terms are constant along keys: the softmax ignores "
            "them, so they cannot change the pattern (checked like the others)"
        )
        in scores.notes
    )
    assert max(c.term_rel for c in report.checks if c.term_rel is not None) <= REL


@pytest.mark.parametrize(
    "part, layer",
    [("ln_b", 0), ("b_V", 0), ("b_O", 1), ("b_Q", 1), ("b_K", 0), ("ln_w", 1), ("b_U", None)],
)
def test_verify_fails_when_a_bias_or_layernorm_weight_changes(part, layer):
    """Negative control: a model that no longer computes what was traced fails."""
    model = real_model((2, 1), "LN", True, "standard", seed=9)
    tokens = [[1, 2, 3, 4], [4, 3, 2, 1]]
    trace = model.run(tokens)
    import torch

    with torch.no_grad():
        parameter = getattr(model, part) if layer is None else getattr(model.layers[layer], part)
        parameter.view(-1)[0] += 1e-6
    assert not ta.verify(model, tokens, trace=trace).ok


def test_verify_of_real_float32_models_and_given_expansions():
    model = real_model((2, 2), "LNPre", True, "shortformer", seed=10, dtype="float32")
    tokens = [[1, 2, 3, 4, 5]]
    assert ta.verify(model, tokens).ok
    arch = model.architecture
    expanded = ta.expand(ta.scores(arch, 1, 1))
    [check] = ta.verify(model, tokens, expansion=expanded, of=(1, 1)).checks
    assert check.ok and check.terms == ta.count_score_paths(arch, 1, 1)
    assert ta.verify(model, tokens, expansion=ta.logits(arch)).ok


def test_verify_refuses_real_models_over_the_memory_budget():
    model = real_model((3, 3, 3), "LN", True, "standard")
    with pytest.raises(ta.ExpansionLimitError) as caught:
        ta.verify(model, [[1, 2, 3]], max_bytes=30_000)
    assert caught.value.option == "max_order"
    assert ta.verify(model, [[1, 2, 3]], caught.value.value, max_bytes=30_000).ok


# --- the assertions for test suites -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_the_assertions_pass_on_real_models(kind):
    arch = ta.Architecture((1, 2), positional=kind[2], normalization=kind[0], biases=kind[1])
    assert ta.testing.assert_expansion_on_random_model(arch, seed=1).ok
    model = real_model((1, 2), *kind)
    assert ta.testing.assert_logit_expansion(model, [[1, 2, 3]]).ok
    assert ta.testing.assert_score_expansion(model, [[1, 2, 3]], head=(1, 1)).ok


def test_the_assertions_fail_on_a_changed_real_model_naming_the_check():
    model = real_model((1, 1), "LN", True, None, seed=2)
    trace = model.run([[1, 2, 3]])
    import torch

    with torch.no_grad():
        model.layers[0].ln_b[0] += 1e-3
    with pytest.raises(AssertionError, match="logits: sum of terms off by"):
        ta.testing.assert_logit_expansion(model, [[1, 2, 3]], trace=trace)
