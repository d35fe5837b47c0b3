"""The symbolic checks' batched arithmetic gives what the term-by-term arithmetic gave: errors of
many terms at once, score terms evaluated through their sides in batched products, and the
heap trimmed only when there is something to trim."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tensoralgebra as ta
from tensoralgebra.numeric import budget
from tensoralgebra.numeric import comparison as cmp
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.evaluation import Evaluator
from tensoralgebra.strategies import architectures

entries = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False), st.just(np.nan), st.just(np.inf), st.just(0.0)
)


@settings(max_examples=200, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(0, 3), st.integers(1, 3)),
    data=st.data(),
    whole=st.one_of(st.floats(0, 1e6), st.just(np.nan)),
    floor=st.floats(0, 1e3),
)
def test_term_errors_are_each_terms_errors_against_its_scale(shape, data, whole, floor):
    """Row ``i`` of ``term_errors`` is ``errors(got_i, want_i, scale(want_i, whole, floor))``,
    NaN where either row holds one, a NaN ``whole`` ignored as ``scale`` ignores it."""
    got = data.draw(hnp.arrays(np.float64, shape, elements=entries))
    want = data.draw(hnp.arrays(np.float64, shape, elements=entries))
    err, rel = cmp.term_errors(got, want, whole, floor)
    for i in range(shape[0]):
        one = cmp.errors(got[i], want[i], cmp.scale(want[i], np.array(whole), floor))
        np.testing.assert_array_equal([err[i], rel[i]], one)


@settings(max_examples=25, deadline=None)
@given(arch=architectures(max_layers=3, max_heads=2, min_layers=1), seed=st.integers(0, 2**16))
def test_score_terms_evaluated_together_are_each_evaluated_alone(arch, seed):
    """``Evaluator.values`` (sides cached, products batched by shape) against ``value`` of each
    term, for every score term of the last layer's first head, and for logit terms (one by one
    inside ``values``)."""
    layer = max(i for i, n in enumerate(arch.heads) if n) if any(arch.heads) else None
    weights = ta.Weights.random(arch, d_model=5, d_head=2, d_vocab=6, n_ctx=4, seed=seed)
    model = ta.AttentionOnlyTransformer(weights)
    tokens = np.random.default_rng(seed).integers(0, 6, size=(2, 4))
    bindings = Bindings(model, model.run(tokens))
    together, alone = Evaluator(bindings, 2**20, concrete=True), Evaluator(bindings, 0)
    groups = [[p.expr for p in ta.logit_paths(arch)]]
    if layer is not None:
        groups.append([p.expr for p in ta.score_paths(arch, layer, 0)])
    for exprs in groups:
        batched = together.values(exprs)
        assert batched.shape[0] == len(exprs)
        for value, expr in zip(batched, exprs):
            np.testing.assert_allclose(value, alone.value(expr), rtol=1e-12, atol=1e-12)


class _Heap:
    def __init__(self, free):
        self.fordblks, self.trims = free, 0

    def __call__(self):
        return self

    def trim(self, pad):
        self.trims += 1


@pytest.mark.parametrize(
    ("free", "mallinfo", "trimmed"),
    [
        (0, True, 0),
        (budget.TRIM_FLOOR - 1, True, 0),
        (budget.TRIM_FLOOR, True, 1),
        (2**30, True, 1),
        (0, False, 1),  # no mallinfo2 (an older glibc): trim as before
    ],
)
def test_the_heap_is_trimmed_only_when_it_holds_enough_free(monkeypatch, free, mallinfo, trimmed):
    heap = _Heap(free)
    monkeypatch.setattr(budget, "_TRIM", heap.trim)
    monkeypatch.setattr(budget, "_FREE", heap if mallinfo else None)
    budget.release_freed()
    assert heap.trims == trimmed


def test_without_malloc_trim_nothing_is_trimmed(monkeypatch):
    monkeypatch.setattr(budget, "_TRIM", None)
    monkeypatch.setattr(budget, "_FREE", _Heap(2**30))
    budget.release_freed()  # nothing to call: no error


@pytest.mark.parametrize("block", [1, 3, 10, 2**20])
def test_term_errors_by_blocks_equal_the_whole(monkeypatch, block):
    rng = np.random.default_rng(2)
    got, want = rng.standard_normal((3, 4, 7)), rng.standard_normal((3, 4, 7))
    got[2, 3, 6] = np.nan
    whole = cmp.term_errors(got, want, 0.5, 0.1)
    monkeypatch.setattr(cmp, "BLOCK", block)
    for blocked, full in zip(cmp.term_errors(got, want, 0.5, 0.1), whole):
        np.testing.assert_array_equal(blocked, full)


def test_the_symbolic_checks_hold_a_batch_of_sides_at_a_time(monkeypatch):
    """With batches of a few kilobytes the symbolic checks stack no more sides than that at
    once (a pair's sides over), and find what one large batch finds."""
    weights = ta.Weights.random(
        ta.Architecture((2, 2, 2)), d_model=6, d_head=3, d_vocab=7, n_ctx=5, seed=1
    )
    model, tokens = ta.AttentionOnlyTransformer(weights), [[1, 2, 3, 4], [4, 3, 2, 1]]
    whole = ta.verify(model, tokens)
    stacked, multiply = [], Evaluator._multiply

    def spy(self, waiting, out):
        stacked.append(sum(q.nbytes + k.nbytes for g in waiting.values() for _, q, k in g))
        multiply(self, waiting, out)

    monkeypatch.setattr(Evaluator, "_multiply", spy)
    monkeypatch.setattr(budget, "term_batch", lambda max_bytes: 2000)
    small = ta.verify(model, tokens)
    pair = 2 * 2 * 4 * 6 * 8  # a query and a key side [batch, seq, d_model], float64
    assert small.ok and len(stacked) > 10 and max(stacked) <= 2000 + pair
    for a, b in zip(small.checks, whole.checks):
        assert (a.name, a.expanded, a.exprs) == (b.name, b.expanded, b.exprs)
        for field in ("expanded_rel", "expr_rel", "sum_rel"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-6, abs=1e-15)
