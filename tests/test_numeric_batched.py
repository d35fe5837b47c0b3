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
from tensoralgebra.numeric import budget, evaluation
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


@st.composite
def any_architectures(draw) -> ta.Architecture:
    """Concrete architectures of 1..3 layers, with any positions, normalization and biases."""
    base = draw(architectures(max_layers=3, max_heads=2, min_layers=1))
    return ta.Architecture(
        base.heads,
        positional=draw(st.sampled_from(("standard", "shortformer", None))),
        normalization=draw(st.sampled_from((None, "LN", "LNPre"))),
        biases=draw(st.booleans()),
    )


@settings(max_examples=40, deadline=None)
@given(arch=any_architectures(), seed=st.integers(0, 2**16))
def test_score_terms_evaluated_together_are_each_evaluated_alone(arch, seed):
    """``Evaluator.values`` (sides cached, products over the distinct sides batched by shape,
    streams shared along paths' common starts) against ``value`` of each term alone (nothing
    cached or shared), for every score term of the last layer's first head, and for the logit
    terms."""
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
    monkeypatch.setattr(budget, "_trimmed_at", None)  # never trimmed yet
    budget.release_freed()
    assert heap.trims == trimmed


MiB = 2**20
STEP = budget.TRIM_STEP


@pytest.mark.parametrize(
    ("resident", "trims"),
    [
        # the resident set at each call (a trim returns nothing here), how many trims
        ([100 * MiB] * 4, 1),  # the first call trims; nothing has grown since
        ([100 * MiB, 100 * MiB + STEP - 1], 1),
        ([100 * MiB, 100 * MiB + STEP], 2),
        ([100 * MiB, 100 * MiB + STEP, 100 * MiB + STEP + 1], 2),  # measured from the trim
        # not from the lowest point since (a large temporary mapped and unmapped)
        ([100 * MiB, 60 * MiB, 100 * MiB + STEP - 1], 1),
        ([100 * MiB, 60 * MiB, 100 * MiB + STEP], 2),
        ([None, None, None], 3),  # no /proc: every call trims, as before
    ],
)
def test_the_heap_is_trimmed_again_only_once_the_resident_set_has_grown(
    monkeypatch, resident, trims
):
    heap, now = _Heap(2**30), [None]
    monkeypatch.setattr(budget, "_TRIM", heap.trim)
    monkeypatch.setattr(budget, "_FREE", heap)
    monkeypatch.setattr(budget, "_resident", lambda: now[0])
    monkeypatch.setattr(budget, "_trimmed_at", None)
    for now[0] in resident:
        budget.release_freed()
    assert heap.trims == trims


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
    stacked, products = [], evaluation._Pairs.products

    def spy(self, ops):
        stacked.append(sum(v.nbytes for v in self.queries.values + self.keys.values))
        return products(self, ops)

    monkeypatch.setattr(evaluation._Pairs, "products", spy)
    monkeypatch.setattr(budget, "term_batch", lambda max_bytes: 2000)
    small = ta.verify(model, tokens)
    pair = 2 * 2 * 4 * 6 * 8  # a query and a key side [batch, seq, d_model], float64
    assert small.ok and len(stacked) > 10 and max(stacked) <= 2000 + pair
    for a, b in zip(small.checks, whole.checks):
        assert (a.name, a.expanded, a.exprs) == (b.name, b.expanded, b.exprs)
        for field in ("expanded_rel", "expr_rel", "sum_rel"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-6, abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=20),
    st.sampled_from(["numpy", "torch"]),
)
def test_pair_products_equal_each_pairs_product(nq, nk, pairs, backend):
    """Through the grid of distinct sides or the pairs' sides gathered, the same products."""
    import torch

    from tensoralgebra.numeric.stacks import pair_products

    rng = np.random.default_rng(nq * 10 + nk)
    queries, keys = rng.standard_normal((nq, 2, 3, 4)), rng.standard_normal((nk, 2, 3, 4))
    q_index, k_index = [i % nq for i, _ in pairs], [j % nk for _, j in pairs]
    if backend == "torch":
        queries, keys = torch.from_numpy(queries), torch.from_numpy(keys)
    out = pair_products(Bindings.ops_for(queries), queries, keys, q_index, k_index)
    assert tuple(out.shape) == (len(pairs), 2, 3, 3)
    for n, (i, j) in enumerate(zip(q_index, k_index)):
        want = np.asarray(queries[i]) @ np.asarray(keys[j]).swapaxes(-1, -2)
        np.testing.assert_allclose(np.asarray(out[n]), want, rtol=1e-12, atol=1e-12)
