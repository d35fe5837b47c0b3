"""Exact counts of paths at any size, in a moment: the arithmetic behind ``count_logit_paths``
and ``count_score_paths`` (docs/conventions.md §2).

A path picks at most one head in each layer, so the number of paths of order ``k`` is the
coefficient of ``x^k`` in ``Π_l (1 + |H_l| x)`` (the elementary symmetric polynomial ``e_k`` of
the head counts). Layers with the same head count ``h`` multiply to ``(1 + h x)^m``, whose
coefficients ``C(m, k) h^k`` follow one from the next; the few distinct factors are multiplied by
Kronecker substitution (each polynomial packed into one big integer, so that Python's
subquadratic integer product does the work). A schematic layer counts as one grouped term, so it
enters as ``h = 1``.

>>> order_counts({2: 3})  # three layers of two heads: C(3, k) 2^k
(1, 6, 12, 8)
>>> order_counts({2: 1, 3: 1}, max_order=1)
(1, 5)
>>> capped_cumulative_counts({96: 96}, cap=10_000)
(1, 9217, 10001)
>>> format_count(12345), format_count(7**40_000)
('12,345', '≈8.35e33803 (33,804 digits)')

Sizes are refused up front, never after a long run: a table of counts may hold at most
:data:`MAX_TABLE_BITS` bits, one count at most :data:`MAX_COUNT_BITS`, and the products of
distinct factors at most :data:`MAX_PRODUCT_WORK` units of work; the error then names a
``max_order`` that is known to fit.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from tensoralgebra.errors import ExpansionLimitError

#: The most bits a table of per-order counts may hold (128 MiB): enough for the counts of every
#: order of 10 000 layers of 1 000 heads.
MAX_TABLE_BITS = 2**30
#: The most bits one count may have (about 2.5 million decimal digits).
MAX_COUNT_BITS = 2**23
#: The most work (in units of ``n · m^0.585`` for a product of ``n``- and ``m``-digit integers,
#: ``n ≥ m``, Karatsuba's cost) that multiplying distinct factors may take: about a second.
MAX_PRODUCT_WORK = 10**8
#: Counts with at most this many digits are written out in full by :func:`format_count`.
EXACT_DIGITS = 30

_LOG2_10 = math.log2(10)
#: Factors with at most this many coefficients are multiplied term by term.
_SCHOOLBOOK = 8


def head_groups(heads: Iterable[int] | None, n_layers: int) -> dict[int, int]:
    """``{head count: number of layers with it}`` over the layers with heads; a schematic
    architecture (``heads`` is None) has ``n_layers`` layers of one grouped term each."""
    if heads is None:
        return {1: n_layers} if n_layers else {}
    return {h: m for h, m in Counter(heads).items() if h}


def total_count(groups: Mapping[int, int]) -> int:
    """``Π_l (1 + |H_l|)``: the number of paths of every order."""
    _check_count_bits(sum(m * math.log2(1 + h) for h, m in groups.items()))
    return math.prod(pow(1 + h, m) for h, m in groups.items())


def order_count(groups: Mapping[int, int], order: int) -> int:
    """``e_order``: the number of paths of one order (0 beyond the number of layers with heads)."""
    if len(groups) <= 1:
        ((h, m),) = groups.items() or ((0, 0),)
        _check_count_bits(_log2_comb(m, order) + order * math.log2(max(h, 1)))
        return math.comb(m, order) * h**order
    depth = sum(groups.values())
    if order > depth:
        return 0
    problem = _over_limits(groups, order)
    if problem:
        raise ExpansionLimitError(problem)
    return order_counts(groups, order)[order]


def order_counts(groups: Mapping[int, int], max_order: int | None = None) -> tuple[int, ...]:
    """``(e_0, e_1, ..., e_top)``: the number of paths of each order up to ``max_order`` (all by
    default), where ``top`` is ``max_order`` or the number of layers with heads, the smaller.

    Refused up front (:class:`ExpansionLimitError`, naming a ``max_order`` that fits) when the
    table or the work to compute it would exceed the limits of this module.
    """
    depth = sum(groups.values())
    top = depth if max_order is None else min(max_order, depth)
    problem = _over_limits(groups, top)
    if problem:
        fits = _largest_top(groups, top)
        raise ExpansionLimitError(problem, option="max_order", value=fits)
    factors = [(_power_coefficients(h, m, top), _log2_sum(h, m)) for h, m in groups.items()]
    return _multiply_all(factors, top) if factors else (1,)


def capped_cumulative_counts(
    groups: Mapping[int, int], cap: int, max_order: int | None = None
) -> tuple[int, ...]:
    """``(n_0, n_0 + n_1, ...)``, the number of paths of order ≤ k for k = 0, 1, ..., up to
    ``max_order`` or the first k whose number exceeds ``cap`` (that last entry is then
    ``cap + 1``, standing for "more than ``cap``"). Only the first few orders are computed
    (Newton's identities from the power sums ``p_i = Σ_l |H_l|^i``), so it is instant at any
    size."""
    depth = sum(groups.values())
    top = depth if max_order is None else min(max_order, depth)
    e, power_sums, cumulative = [1], [], [min(1, cap + 1)]
    while cumulative[-1] <= cap and len(e) <= top:
        k = len(e)
        power_sums.append(sum(m * h**k for h, m in groups.items()))
        signed = sum((-1) ** i * e[k - 1 - i] * power_sums[i] for i in range(k))
        e.append(signed // k)  # exact: k · e_k is that alternating sum
        cumulative.append(min(cumulative[-1] + e[-1], cap + 1))
    return tuple(cumulative)


def format_count(n: int) -> str:
    """A count for people to read: in full with thousands separators up to
    :data:`EXACT_DIGITS` digits, else ``≈1.23e30004 (30,005 digits)`` (no ``str()`` of the
    whole number, which Python refuses beyond 4 300 digits and which takes quadratic time)."""
    if n < 0:
        return "-" + format_count(-n)
    if n < 10**EXACT_DIGITS:
        return f"{n:,}"
    exponent, mantissa = _log10_split(n)
    return f"≈{mantissa:.2f}e{exponent} ({exponent + 1:,} digits)"


def count_digits(n: int) -> int:
    """The number of decimal digits of ``n >= 0``, without converting it to a string."""
    return 1 if n < 10 else _log10_split(n)[0] + 1


def _log10_split(n: int) -> tuple[int, float]:
    """``(e, m)`` with ``n ≈ m · 10^e`` and ``1 <= m < 10`` (m rounded to 3 digits); ``e`` exact."""
    shift = max(n.bit_length() - 64, 0)
    log10 = math.log10(n >> shift) + shift / _LOG2_10
    exponent = math.floor(log10)
    # Near a power of ten the float may land on the wrong side: settle it exactly.
    if log10 - exponent < 1e-9 or exponent + 1 - log10 < 1e-9:
        exponent = exponent + 1 if n >= 10 ** (exponent + 1) else exponent
        exponent = exponent - 1 if n < 10**exponent else exponent
    mantissa = 10 ** (log10 - exponent)
    return exponent, min(max(mantissa, 1.0), 9.99)


def _check_count_bits(log2: float) -> None:
    if log2 > MAX_COUNT_BITS:
        digits = int(log2 / _LOG2_10) + 1
        raise ExpansionLimitError(
            f"this count has about {digits:,} digits, more than the "
            f"{int(MAX_COUNT_BITS / _LOG2_10):,} that are computed exactly"
        )


def _log2_comb(m: int, k: int) -> float:
    if not 0 <= k <= m:
        return 0.0
    return (math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)) / math.log(2)


def _log2_sum(h: int, m: int) -> float:
    """``log2((1 + h)^m)``: a bound on the bits of every coefficient of ``(1 + h x)^m``."""
    return m * math.log2(1 + h)


def _power_coefficients(h: int, m: int, top: int) -> list[int]:
    """``C(m, k) h^k`` for k = 0..min(m, top), each from the one before in linear time."""
    coefficients, c = [1], 1
    for k in range(min(m, top)):
        c = c * (h * (m - k)) // (k + 1)
        coefficients.append(c)
    return coefficients


def _multiply_all(factors: list[tuple[list[int], float]], top: int) -> tuple[int, ...]:
    """The product of the polynomials, smallest pair first (as :func:`_product_plan` costs it)."""
    heap = [(len(p) * (b + 1), i, p, b) for i, (p, b) in enumerate(factors)]
    heapq.heapify(heap)
    tiebreak = len(heap)
    while len(heap) > 1:
        _, _, a, bits_a = heapq.heappop(heap)
        _, _, b, bits_b = heapq.heappop(heap)
        product, bits = _kronecker_product(a, b, bits_a + bits_b, top), bits_a + bits_b
        heapq.heappush(heap, (len(product) * (bits + 1), tiebreak, product, bits))
        tiebreak += 1
    return tuple(heap[0][2])


def _kronecker_product(a: list[int], b: list[int], bits: float, top: int) -> list[int]:
    """``a · b`` truncated to degree ``top``; ``bits`` bounds the bits of its coefficients
    (each is at most ``sum(a) · sum(b)``)."""
    if len(a) < len(b):
        a, b = b, a
    n = min(len(a) + len(b) - 1, top + 1)
    if len(b) <= _SCHOOLBOOK:  # a few layers: shifted copies cost less than packing
        return [
            sum(b[j] * a[k - j] for j in range(max(0, k - len(a) + 1), min(k, len(b) - 1) + 1))
            for k in range(n)
        ]
    width = (math.ceil(bits) + 8) // 8  # bytes per coefficient, with a spare bit of rounding
    packed_a = int.from_bytes(b"".join(c.to_bytes(width, "little") for c in a), "little")
    packed_b = int.from_bytes(b"".join(c.to_bytes(width, "little") for c in b), "little")
    raw = (packed_a * packed_b).to_bytes((len(a) + len(b)) * width, "little")
    return [int.from_bytes(raw[i * width : (i + 1) * width], "little") for i in range(n)]


def _over_limits(groups: Mapping[int, int], top: int) -> str | None:
    """Why the table of orders 0..top would be too large to compute, or None if it fits."""
    total_bits = sum(_log2_sum(h, m) for h, m in groups.items())
    table_bits = (top + 1) * (min(total_bits, _largest_log2(groups, top)) + 1)
    if table_bits > MAX_TABLE_BITS:
        return (
            f"the counts of orders 0..{top} would take about {table_bits / 8 / 2**20:,.0f} MiB, "
            f"more than the {MAX_TABLE_BITS // 8 // 2**20} MiB limit"
        )
    work = _product_plan(groups, top)
    if work > MAX_PRODUCT_WORK:
        return (
            f"the counts of orders 0..{top} of {len(groups)} distinct head counts would take "
            f"about {work / MAX_PRODUCT_WORK:,.1f} times the work limit to multiply out"
        )
    return None


def _largest_log2(groups: Mapping[int, int], top: int) -> float:
    """A bound on the bits of any ``e_k``, k ≤ top: ``e_k ≤ C(L, k) h_max^k``."""
    if not groups:
        return 0.0
    depth, biggest = sum(groups.values()), max(groups)
    k = min(top, depth)
    peak = min(k, depth // 2)  # C(L, k) grows up to k = L/2
    return _log2_comb(depth, peak) + k * math.log2(max(biggest, 1))


def _product_plan(groups: Mapping[int, int], top: int) -> float:
    """The work :func:`_multiply_all` would do for the table of orders 0..top."""
    heap = [(min(m, top) + 1, _log2_sum(h, m)) for h, m in groups.items()]
    heap = [(n * (b + 1), n, b) for n, b in heap]
    heapq.heapify(heap)
    work = 0.0
    while len(heap) > 1:
        _, n_a, b_a = heapq.heappop(heap)
        _, n_b, b_b = heapq.heappop(heap)
        width = (b_a + b_b) / 30 + 1  # in 30-bit digits, as CPython stores integers
        big, small = max(n_a, n_b) * width, min(n_a, n_b) * width
        schoolbook = min(n_a, n_b) <= _SCHOOLBOOK
        work += big * min(n_a, n_b) if schoolbook else big * small**0.585
        n = min(n_a + n_b - 1, top + 1)
        heapq.heappush(heap, (n * (b_a + b_b + 1), n, b_a + b_b))
    return work


def _largest_top(groups: Mapping[int, int], top: int) -> int:
    """The largest ``k <= top`` whose table fits the limits (order 0 always does)."""
    low, high = 0, top  # invariant: low fits, high + 1 does not
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if _over_limits(groups, mid) is None else (low, mid - 1)
    return low


# Constant sources (docs/conventions.md §7): layer l's biases join the stream after it, so its
# paths pass through the later layers only: Σ_l Π_{l' > l} (1 + |H_l'| x) counts them by order.

#: The most runs of equal head counts times orders that a table of constant sources' counts
#: may combine (each run is one leaf of a balanced product tree).
MAX_SUFFIX_STEPS = 4_000_000


def _runs(heads: Sequence[int]) -> list[tuple[int, int]]:
    """``[(head count, number of consecutive layers with it), ...]`` in layer order."""
    runs: list[list[int]] = []
    for h in heads:
        if runs and runs[-1][0] == h:
            runs[-1][1] += 1
        else:
            runs.append([h, 1])
    return [(h, m) for h, m in runs]


def suffix_total(heads: Sequence[int]) -> int:
    """``Σ_l Π_{l' > l} (1 + |H_l'|)``: the paths from the constant sources of all layers, every
    order (a balanced tree over runs of equal head counts: a moment at any size).

    >>> suffix_total([2, 3]), suffix_total([1] * 4)  # (1 + 4) + 1;  1 + 2 + 4 + 8
    (5, 15)
    """
    groups = head_groups(heads, len(heads))
    _check_count_bits(sum(_log2_sum(h, m) for h, m in groups.items()) + math.log2(len(heads) + 1))

    def leaf(h: int, m: int) -> tuple[int, int]:  # (Σ of suffix products, product)
        return (m if h == 0 else ((1 + h) ** m - 1) // h), (1 + h) ** m

    def combine(left, right):  # left: earlier layers; their suffixes run through ``right`` too
        return left[0] * right[1] + right[0], left[1] * right[1]

    return _tree([leaf(h, m) for h, m in _runs(heads)], combine, (0, 1))[0]


def suffix_order_counts(heads: Sequence[int], top: int) -> tuple[int, ...]:
    """The coefficients of ``x^0..x^top`` in ``Σ_l Π_{l' > l} (1 + |H_l'| x)``: the paths of each
    order from the constant sources of all layers (a run of ``m`` layers of ``h`` heads gives
    ``C(m, k + 1) h^k``, the hockey-stick identity).

    >>> suffix_order_counts([2, 3], 2)  # layer 0's: 1 + 3x; layer 1's: 1
    (2, 3, 0)

    Refused up front (:class:`ExpansionLimitError`, naming a ``max_order`` that fits) when the
    table would be too large to compute in a moment.
    """
    top = min(top, len(heads))
    runs = _runs(heads)
    problem = _over_limits(head_groups(heads, len(heads)), top)
    if problem is None and len(runs) * (top + 1) > MAX_SUFFIX_STEPS:
        problem = (
            f"the counts of orders 0..{top} over {len(runs):,} runs of equal head counts would "
            f"take more than {MAX_SUFFIX_STEPS:,} steps"
        )
    if problem:
        fits = min(
            _largest_top(head_groups(heads, len(heads)), top), MAX_SUFFIX_STEPS // len(runs) - 1
        )
        raise ExpansionLimitError(problem, option="max_order", value=max(fits, 0))
    depth_bits = math.log2(len(heads) + 1) + 1

    def leaf(h: int, m: int):
        product = _power_coefficients(h, m, top)
        sums = [math.comb(m, k + 1) * h**k for k in range(min(m - 1, top) + 1)]
        bits = _log2_sum(h, m)
        return sums, product, bits

    def combine(left, right):
        (s_l, p_l, b_l), (s_r, p_r, b_r) = left, right
        shifted = _kronecker_product(s_l, p_r, b_l + b_r + depth_bits, top)
        sums = [a + b for a, b in itertools.zip_longest(shifted, s_r, fillvalue=0)]
        return sums, _kronecker_product(p_l, p_r, b_l + b_r, top), b_l + b_r

    sums = _tree([leaf(h, m) for h, m in runs], combine, ([0], [1], 0.0))[0]
    return tuple(sums) + (0,) * (top + 1 - len(sums))


def _tree(leaves: list, combine, empty):
    """``combine`` over ``leaves`` in order, as a balanced tree (so big products meet late)."""
    if not leaves:
        return empty
    while len(leaves) > 1:
        pairs = [combine(a, b) for a, b in zip(leaves[::2], leaves[1::2])]
        leaves = pairs + ([leaves[-1]] if len(leaves) % 2 else [])
    return leaves[0]
