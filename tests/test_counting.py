"""Exact counts at any size: per-order tables against the plain recurrence and the enumeration,
the largest max_order that fits a limit, the size limits, and counts for people to read."""

import itertools
import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import ExpansionLimitError, counting

positional = st.sampled_from((None, "standard"))
head_counts = st.lists(st.sampled_from([0, 1, 2, 3, 5, 12, 10**20]), max_size=9)


def recurrence(heads):
    """``e_k`` of the head counts by the textbook O(L²) recurrence."""
    e = [1] + [0] * len(heads)
    for n, h in enumerate(heads, start=1):
        for k in range(n, 0, -1):
            e[k] += e[k - 1] * h
    return e


@given(heads=head_counts, pos=positional, data=st.data())
def test_tables_match_the_recurrence(heads, pos, data):
    arch = ta.Architecture(heads, positional=pos)
    s, e = len(arch.sources), recurrence(heads)
    top = data.draw(st.one_of(st.none(), st.integers(0, len(heads))), label="max_order")
    table = ta.count_logit_paths_by_order(arch, top)
    assert table == tuple(s * n for n in e[: len(heads) + 1 if top is None else top + 1])
    assert [ta.count_logit_paths(arch, k) for k in range(len(heads) + 1)] == [s * n for n in e]
    assert ta.count_logit_paths(arch) == s * sum(e)


@given(heads=st.lists(st.integers(0, 3), max_size=4), pos=positional)
def test_tables_match_the_enumeration(heads, pos):
    arch = ta.Architecture(heads, positional=pos)
    by_order = [0] * (len(heads) + 1)
    for path in ta.logit_paths(arch):
        by_order[path.order] += 1
    assert ta.count_logit_paths_by_order(arch) == tuple(by_order)


@given(n=st.integers(0, 60), pos=positional)
def test_schematic_tables_are_binomials(n, pos):
    arch = ta.Architecture.schematic(n, positional=pos)
    s = len(arch.sources)
    assert ta.count_logit_paths_by_order(arch) == tuple(s * math.comb(n, k) for k in range(n + 1))


@given(heads=head_counts, pos=positional, limit=st.integers(0, 10**4))
def test_fitting_max_order_is_the_largest_that_fits(heads, pos, limit):
    arch = ta.Architecture(heads, positional=pos)
    cumulative = list(itertools.accumulate(ta.count_logit_paths_by_order(arch)))
    fits = [k for k, n in enumerate(cumulative) if n <= limit]
    assert ta.fitting_max_order(arch, limit) == (fits[-1] if fits else None)


@given(heads=st.lists(st.integers(0, 4), max_size=4), pos=positional, limit=st.integers(0, 2000))
def test_fitting_score_max_order_is_the_largest_that_fits(heads, pos, limit):
    arch = ta.Architecture([*heads, 1], positional=pos)  # the scored head: L{last}H0
    layer = len(heads)
    sizes = [ta.count_score_paths(arch, layer, 0, max_order=k) for k in range(layer + 1)]
    fits = [k for k, n in enumerate(sizes) if n <= limit]
    assert ta.fitting_score_max_order(arch, layer, limit) == (fits[-1] if fits else None)


@given(heads=st.lists(st.integers(1, 3), min_size=1, max_size=4), data=st.data())
def test_counts_by_kind_match_the_single_counts(heads, data):
    arch = ta.Architecture(heads, positional=data.draw(positional, label="positional"))
    layer = data.draw(st.integers(0, len(heads) - 1), label="layer")
    top = data.draw(st.one_of(st.none(), st.integers(0, layer)), label="max_order")
    by_kind = ta.count_score_paths_by_kind(arch, layer, max_order=top)
    assert list(by_kind) == list(ta.SCORE_KINDS)
    for kind, n in by_kind.items():
        assert n == ta.count_score_paths(arch, layer, kind=kind, max_order=top)
    assert sum(by_kind.values()) == ta.count_score_paths(arch, layer, max_order=top)


# Sizes that took over a minute with the quadratic recurrence; each now takes a moment. The
# bound is generous (a loaded machine); the point is the order of growth.
FAST = 5.0


def _timed(call):
    start = time.perf_counter()
    result = call()
    assert time.perf_counter() - start < FAST
    return result


def test_ten_thousand_layers_of_a_thousand_heads():
    arch = ta.Architecture((1000,) * 10_000)
    table = _timed(lambda: ta.count_logit_paths_by_order(arch))
    assert len(table) == 10_001 and table[1] == 10**7 and table[-1] == 1000**10_000
    assert table[5000] == math.comb(10_000, 5000) * 1000**5000
    assert _timed(lambda: ta.count_logit_paths(arch)) == 1001**10_000
    by_kind = _timed(lambda: ta.count_score_paths_by_kind(arch, 9999, max_order=5000))
    n = sum(_timed(lambda: ta.count_logit_paths_by_order(ta.Architecture((1000,) * 9999), 5000)))
    assert by_kind == {"none": 1, "Q": n - 1, "K": n - 1, "QK": (n - 1) ** 2}
    assert _timed(lambda: ta.count_score_paths(arch, 9999)) == 1001 ** (2 * 9999)
    assert _timed(lambda: ta.fitting_score_max_order(arch, 9999, 5000)) == 0


def test_a_hundred_thousand_schematic_layers():
    arch = ta.Architecture.schematic(100_000)
    assert _timed(lambda: ta.count_logit_paths(arch)) == 2**100_000
    assert _timed(lambda: ta.count_logit_paths(arch, 3)) == math.comb(100_000, 3)
    assert _timed(lambda: ta.count_score_paths(arch, 99_999)) == 4**99_999
    assert _timed(lambda: ta.fitting_max_order(arch, 5000)) == 0
    assert _timed(lambda: ta.fitting_max_order(arch, 100_001)) == 1
    with pytest.raises(ExpansionLimitError) as refused:
        _timed(lambda: ta.count_logit_paths_by_order(arch))
    fits = refused.value.value
    assert refused.value.option == "max_order" and fits > 0
    assert len(_timed(lambda: ta.count_logit_paths_by_order(arch, fits))) == fits + 1


def test_a_layer_of_a_different_size_costs_no_more():
    arch = ta.Architecture((1000,) * 9_999 + (7,))
    table = _timed(lambda: ta.count_logit_paths_by_order(arch, 2000))
    assert table[1] == 9_999_000 + 7 and len(table) == 2001


def test_many_distinct_head_counts_are_refused_with_a_max_order_that_fits():
    arch = ta.Architecture(tuple(range(1, 2001)))
    with pytest.raises(ExpansionLimitError) as refused:
        _timed(lambda: ta.count_logit_paths_by_order(arch))
    fits = refused.value.value
    table = _timed(lambda: ta.count_logit_paths_by_order(arch, fits))
    assert table[1] == 2000 * 2001 // 2 and len(table) == fits + 1
    assert (
        _timed(lambda: ta.fitting_max_order(ta.Architecture(tuple(range(1, 10**5))), 10**10)) == 1
    )


def test_a_count_too_large_to_hold_is_refused():
    arch = ta.Architecture((2**64,) * 200_000)
    with pytest.raises(ExpansionLimitError, match="digits, more than the"):
        ta.count_logit_paths(arch)


READABLE = [
    (0, "0"),
    (12345, "12,345"),
    (10**30 - 1, "999,999,999,999,999,999,999,999,999,999"),
    (10**30, "≈1.00e30 (31 digits)"),
    (1001**10_000, "≈2.19e30004 (30,005 digits)"),
    (10**100_000, "≈1.00e100000 (100,001 digits)"),
    (10**100_000 - 1, "≈9.99e99999 (100,000 digits)"),
    (-(10**40), "-≈1.00e40 (41 digits)"),
]


# Explicit ids: pytest's own would call str() on numbers Python refuses to convert.
@pytest.mark.parametrize(("n", "text"), READABLE, ids=[text for _, text in READABLE])
def test_counts_for_people_to_read(n, text):
    assert ta.format_count(n) == text


@given(st.integers(0, 10**200))
def test_count_digits_is_exact(n):
    assert counting.count_digits(n) == len(str(n))
    assert counting.count_digits(10 ** len(str(n))) == len(str(n)) + 1
