"""Memory budgets: sizes refused up front, before an allocation fails or the machine swaps.

:meth:`Weights.random <tensoralgebra.numeric.weights.Weights.random>` and
:func:`~tensoralgebra.verify` estimate the bytes they would hold and raise
:class:`~tensoralgebra.errors.ExpansionLimitError` over ``max_bytes`` (by default
:data:`MEMORY_BUDGET`), naming the figure and, when one exists, a smaller value of one option
that fits (found by recomputing the estimate, never guessed).

>>> largest_fitting(lambda n: 8 * n, budget=100, current=1000)
12
>>> print(refusal("the weights", 8000, 100, "d_vocab", 12).args[0])
the weights would take 8,000 bytes, over the memory budget of 100 bytes; d_vocab=12 fits
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
from collections.abc import Callable

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.numeric.stacks import CHUNK
from tensoralgebra.paths import count_logit_paths
from tensoralgebra.scores import side_counts

#: Default memory budget in bytes (1 GiB): ``max_bytes`` of ``Weights.random`` and ``verify``.
MEMORY_BUDGET = 2**30


def largest_fitting(cost: Callable[[int], int], budget: int, current: int) -> int | None:
    """The largest ``v`` in ``1..current - 1`` with ``cost(v) <= budget`` (``cost`` increasing),
    or ``None`` if not even ``1`` fits. Binary search: a few dozen evaluations at most."""
    if current <= 1 or cost(1) > budget:
        return None
    low, high = 1, current - 1  # cost(low) fits; the answer is in low..high
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if cost(mid) <= budget else (low, mid - 1)
    return low


def refusal(
    what: str, nbytes: int, budget: int, option: str | None, value: object, note: str = ""
) -> ExpansionLimitError:
    """The error for ``what`` needing ``nbytes`` over ``budget``, with the fitting ``option``."""
    reason = f"{what} would take {nbytes:,} bytes, over the memory budget of {budget:,} bytes"
    return ExpansionLimitError(reason + note, option=option, value=value)


def weights_bytes(arch: Architecture, sizes: dict, dtype) -> int:
    """The bytes of :meth:`Weights.random`'s arrays for ``arch`` and ``sizes`` (d_model, d_head,
    d_vocab, n_ctx)."""
    d_model, d_head, d_vocab, n_ctx = (sizes[k] for k in ("d_model", "d_head", "d_vocab", "n_ctx"))
    positions = d_model * n_ctx if arch.positional == "standard" else 0
    heads = sum(arch.heads) * 4 * d_head * d_model
    return dtype.itemsize * (2 * d_model * d_vocab + positions + heads)


def check_weights(arch: Architecture, sizes: dict, dtype, max_bytes: int) -> None:
    """Refuse ``Weights.random``'s weights over ``max_bytes``, naming the size whose largest
    fitting value is furthest below its value (the one to lower)."""
    nbytes = weights_bytes(arch, sizes, dtype)
    if nbytes <= max_bytes:
        return
    best = None
    for name, current in sizes.items():
        fit = largest_fitting(
            lambda v, name=name: weights_bytes(arch, {**sizes, name: v}, dtype), max_bytes, current
        )
        if fit is not None and (best is None or current / fit > best[2]):
            best = (name, fit, current / fit)
    described = ", ".join(f"{k}={v:,}" for k, v in sizes.items())
    what = f"the {dtype} weights of {arch!r} with {described}"
    note = "" if best else " (no smaller size fits: the architecture has too many heads)"
    raise refusal(what, nbytes, max_bytes, *(best[:2] if best else (None, None)), note)


def paths_into(arch: Architecture, layer: int, top: int | None) -> int:
    """How many paths of order ≤ ``top`` run through the layers before ``layer``: in real
    architectures, the sides of a layer-``layer`` head's score terms (constant sources,
    shortformer positions and the head's own constant too), or, for ``layer == n_layers``, the
    logit terms."""
    last = layer if top is None else min(top, layer)
    if not arch.is_idealised:
        if layer == arch.n_layers:
            return sum(count_logit_paths(arch, order=k) for k in range(last + 1))
        return side_counts(arch, layer, last)[1]
    before = Architecture(heads=arch.heads[:layer], positional=arch.positional)
    return sum(count_logit_paths(before, order=k) for k in range(last + 1))


#: Default ``term_budget`` of ``verify``: the most terms of one quantity checked one by one
#: (beyond it, a stratified sample of this many). Every score term of a 5-layer, 4-head model
#: (390,625 for a last-layer head) is within it.
TERM_BUDGET = 2**19


def verify_chunks(sizes: dict, n_layers: int, max_bytes: int) -> tuple[int, int]:
    """``(chunk, block)``: the most paths ``verify`` streams at once (a stack of them is held a
    few times per layer deep), sized to a thirty-second of ``max_bytes`` (larger chunks save
    little time once a chunk's products are large, and raise the peak by as much), and the most
    sides a block product of score terms takes per axis, sized to a sixteenth."""
    stream = sizes["batch"] * sizes["seq"] * sizes["d_model"] * sizes["itemsize"]
    pair = sizes["batch"] * sizes["seq"] ** 2 * sizes["itemsize"]
    chunk = max(1, min(CHUNK, max_bytes // (32 * stream * (n_layers + 4))))
    block = max(1, min(1024, math.isqrt(max(1, max_bytes // (16 * 4 * pair)))))
    return chunk, block


def held_sides(arch: Architecture, top: int | None, per_term: bool, budget: int, limits) -> dict:
    """The layer whose held side streams take most in ``verify``'s per-term checks: ``{"rows":
    how many sides, "wide": how many d_model-wide copies of each, "full": whether every pair is
    checked (or the rule-based expansion is, which holds the restricted passes' streams too),
    "pairs": how many pairs are sampled, "count": how many pairs there are}`` (all zero without
    heads).

    The copies: the stacks' streams; the restricted passes' too when every pair is checked or in
    real architectures; and an idealised head's query sides when every term's value is looked
    up one by one (the rule-based expansion's check)."""
    most = {"rows": 0, "wide": 0, "full": False, "pairs": 0, "count": 0}
    for layer in range(arch.n_layers):
        if not arch.heads[layer]:
            continue
        n = paths_into(arch, layer, top)
        lookups = n * n <= limits["expansion_limit"]
        full = (per_term and n * n <= budget) or lookups
        if full:
            rows, pairs = n, 0
        elif not per_term:
            rows, pairs = min(n, 2 * limits["expr_limit"]), 0
        else:
            pairs = min(n * n, max(budget, _strata_need(arch, layer, top)))
            rows = min(n, 2 * (pairs + limits["expr_limit"]))
        wide = _copies(arch.is_idealised, full, lookups)
        if rows * wide > most["rows"] * most["wide"]:
            most = {"rows": rows, "wide": wide, "full": full, "pairs": pairs, "count": n * n}
    return most


def _copies(idealised: bool, full: bool, lookups: bool) -> int:
    """How many d_model-wide copies of its held sides a layer keeps (:func:`held_sides`)."""
    if full:
        return 2 + (idealised and lookups)
    return 1 if idealised else 2


def _strata_need(arch: Architecture, layer: int, top: int | None) -> int:
    """At most how many pairs a stratified sample of a layer-``layer`` head's score terms takes
    whatever the budget: a pair per two strata of sides (source and order) and per head on
    either side (:mod:`~tensoralgebra.numeric.term_sample`)."""
    last = layer if top is None else min(top, layer)
    sources = len(arch.sources) + (layer if arch.biases else 0) + 2  # + positions, own constant
    return (sources * (last + 1)) ** 2 + 2 * sum(arch.heads[:layer])


def verify_bytes(arch, top, per_term, sizes: dict, budget: int = TERM_BUDGET, limits=None) -> int:
    """The bytes ``verify`` holds at once, at most, streaming (:func:`verify_parts` summed).
    ``sizes``: batch, seq, d_model, d_head, d_vocab, n_ctx, itemsize and max_bytes."""
    return sum(verify_parts(arch, top, per_term, sizes, budget, limits).values())


def verify_parts(arch, top, per_term, sizes: dict, budget: int = TERM_BUDGET, limits=None) -> dict:
    """What :func:`verify_bytes` counts, in bytes, part by part:

    - ``weights``: the per-head products the run binds (``W_OV``, ``W_QK`` [d_model, d_model])
      and, unless ``sizes["on_host"]`` (the parameters are read in place then), a host copy of
      the weights;
    - ``traces``: the forward pass and the order-by-order ablated passes (logits, residual
      streams, patterns and scores);
    - ``sides``: one layer's held side streams, d_model wide: from the stacks, and from the
      restricted passes when every pair is checked (and a head's query sides) or in real
      architectures (there also each head's query and key sides of both, d_head wide);
      idealised sides of a sample keep only their norms;
    - ``pairs``: the sampled pair codes (int64, a few copies) and their mask;
    - ``fixed``: the logits' sums by order and a few logits [batch, seq, d_vocab];
    - ``chunks``: the streamed chunks and block products (:func:`verify_chunks`);
    - ``cache``: the evaluator's cache of shared sides (:func:`evaluator_cache`);
    - ``terms``: a batch of the symbolic checks' term values and their expected values, and
      the score terms' sides waiting for their batched product, stacked (:func:`term_batch`
      bytes, four times)."""
    limits = limits or {"expr_limit": 256, "expansion_limit": 4096}
    batch, seq, d_model, d_vocab = (sizes[k] for k in ("batch", "seq", "d_model", "d_vocab"))
    item, stream, pair = sizes["itemsize"], batch * seq * d_model, batch * seq * seq
    last = arch.n_layers if top is None else top
    held = held_sides(arch, top, per_term, budget, limits)
    narrow = 0 if arch.is_idealised else 6 * sizes.get("d_head", d_model)
    one_pass = (arch.n_layers + 1) * stream + 2 * sum(arch.heads) * pair + batch * seq * d_vocab
    chunk, block = verify_chunks(sizes, arch.n_layers, sizes["max_bytes"])
    counted = Architecture(arch.heads, positional="standard" if arch.positional else None)
    return {
        "weights": item * 2 * sum(arch.heads) * d_model**2
        + (0 if sizes.get("on_host") else weights_bytes(counted, sizes, _Item(item))),
        "traces": item * (last + 1) * one_pass,
        "sides": item * held["rows"] * batch * seq * (held["wide"] * d_model + narrow),
        "pairs": 3 * 8 * held["pairs"] + (held["count"] if held["pairs"] else 0),
        "fixed": item * ((last + 2) * stream + 4 * batch * seq * d_vocab),
        "chunks": item * ((arch.n_layers + 4) * chunk * stream + 4 * block * block * pair),
        "cache": evaluator_cache(sizes["max_bytes"]),
        "terms": 4 * term_batch(sizes["max_bytes"]),
    }


def term_batch(max_bytes: int) -> int:
    """The bytes of term values (or of score terms' sides) the symbolic checks of ``verify``
    take at once: 4 MiB, or a 256th of ``max_bytes`` if that is less (one term at a time at
    least). Larger batches save little: a batch is there to spread Python's cost per product."""
    return min(2**22, max_bytes // 256)


def evaluator_cache(max_bytes: int) -> int:
    """The bytes ``verify``'s evaluator keeps of score terms' sides shared by the terms whose
    printed expressions it evaluates (:meth:`~tensoralgebra.numeric.evaluation.Evaluator.remember`):
    a sixty-fourth of the budget."""
    return max_bytes // 64


class _Item:
    """A dtype's stand-in for :func:`weights_bytes`, which reads only its ``itemsize``."""

    def __init__(self, itemsize: int):
        self.itemsize = itemsize


def check_verify(arch, top, per_term, sizes: dict, max_bytes, budget=TERM_BUDGET, limits=None):
    """Refuse a ``verify`` run over ``max_bytes``, advising a lower ``term_budget`` that fits,
    else a lower ``max_order``, else ``per_term=False``."""
    sizes = {**sizes, "max_bytes": max_bytes}
    nbytes = verify_bytes(arch, top, per_term, sizes, budget, limits)
    if nbytes <= max_bytes:
        return
    last = arch.n_layers if top is None else top
    fits = [
        k
        for k in range(last)
        if verify_bytes(arch, k, per_term, sizes, budget, limits) <= max_bytes
    ]
    lower = (
        largest_fitting(
            lambda v: verify_bytes(arch, top, per_term, sizes, v, limits), max_bytes, budget
        )
        if per_term
        else None
    )
    if lower is not None:
        option, value = "term_budget", lower
    elif fits:
        option, value = "max_order", fits[-1]
    elif per_term and verify_bytes(arch, top, False, sizes, budget, limits) <= max_bytes:
        option, value = "per_term", False
    else:
        option, value = None, None
    what = (
        f"verifying {arch!r} on tokens of shape ({sizes['batch']}, {sizes['seq']})"
        + ("" if top is None else f" up to order {top}")
        + ("" if per_term else " without per-term checks")
    )
    note = "" if option else " (fewer or shorter token sequences would need less)"
    raise refusal(what, nbytes, max_bytes, option, value, note)


def release_freed() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). Streaming allocates and frees arrays of a few megabytes chunk after chunk; glibc
    serves them from its heap once it has freed one as large (its mmap threshold adapts), and the
    heap's free pages then stay resident: at the shapes of a 4-layer, 8-head model the resident
    set grew by 6 MB a chunk, to twice what was in use, without this. Trimming walks the whole
    heap (a millisecond or more, at times tens), so it is done only when it may return
    something: with at least :data:`TRIM_FLOOR` free in the heap, and the resident set grown by
    :data:`TRIM_STEP` since the last trim. (Not since its lowest point: large temporaries are
    mapped and unmapped whole, and the resident set's swings with them are no heap growth.)"""
    global _trimmed_at
    if _TRIM is None:
        return
    if _FREE is not None and _FREE().fordblks < TRIM_FLOOR:
        return
    resident = _resident()
    if resident is not None and _trimmed_at is not None and resident - _trimmed_at < TRIM_STEP:
        return
    _TRIM(0)
    _trimmed_at = _resident()


#: The free bytes in the C heap below which :func:`release_freed` leaves them there.
TRIM_FLOOR = 2**22
#: How far the resident set grows after a trim before :func:`release_freed` trims again.
TRIM_STEP = 2**24
_trimmed_at: int | None = None  # the resident set's size after the last trim (None: never)


def _resident() -> int | None:
    """The resident set's size in bytes (``None`` where ``/proc`` does not tell: every call
    trims then)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later): sizes of its heap, ``fordblks`` free."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _libc(symbol: str, restype=None):
    name = ctypes.util.find_library("c")
    try:
        function = getattr(ctypes.CDLL(name), symbol) if name else None
    except (OSError, AttributeError):
        return None
    if function is not None and restype is not None:
        function.restype = restype
    return function


_TRIM = _libc("malloc_trim")
_FREE = _libc("mallinfo2", _MallInfo2)
