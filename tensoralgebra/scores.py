"""Attention scores: the expansion of every head's scores into Q-, K- and QK-composition terms.

Head ``h`` of layer ``l`` scores query position ``i`` against key position ``j`` with
``S^h = R_l W_QK^h R_l^T`` (docs/conventions.md §1), where ``R_l`` is the residual stream layer
``l`` reads. That stream is a sum over paths through the earlier layers, so (docs/conventions.md §4)

    S^h = Σ_{q, k} A_q ⊗ A_k ⊗ (W_src_q^T W_q^T W_QK^h W_k W_src_k)

over pairs of a query path ``q`` and a key path ``k``. A pair's kind says which side composes:

=========  ===============  ==============================================================
kind       paths            meaning
=========  ===============  ==============================================================
``none``   both direct      the head reads the embeddings directly (no composition)
``Q``      query only       earlier heads feed the query side: Q-composition
``K``      key only         earlier heads feed the key side: K-composition (a previous-token
                            head feeding an induction head works this way)
``QK``     both             Q- and K-composition together
=========  ===============  ==============================================================

A side whose path has order 2 or more is a virtual head (V-composition of earlier heads) feeding
Q or K. The scores are unscaled: a model divides them by ``sqrt(d_head)`` before the softmax.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(1, 1))
>>> for p in ta.score_paths(arch, layer=1, head=0):
...     print(f"{p.kind:4} {p.expr}")
none Id ⊗ Id ⊗ W_E^T W_QK^{L1H0} W_E
Q    A^{L0H0} ⊗ Id ⊗ W_E^T W_OV^{L0H0 T} W_QK^{L1H0} W_E
K    Id ⊗ A^{L0H0} ⊗ W_E^T W_QK^{L1H0} W_OV^{L0H0} W_E
QK   A^{L0H0} ⊗ A^{L0H0} ⊗ W_E^T W_OV^{L0H0 T} W_QK^{L1H0} W_OV^{L0H0} W_E
>>> ta.count_score_paths(ta.Architecture(heads=(4, 4, 4)), layer=2)
625
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from math import isqrt
from typing import NamedTuple

from tensoralgebra import counting, validation
from tensoralgebra.architecture import Architecture, check_architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadVar
from tensoralgebra.expr.nodes import Bilinear, Expr, Kron, Product, Sum, Transpose
from tensoralgebra.factored import check_written, fresh_name, residual_stream, written_heads
from tensoralgebra.paths import (
    LogitPath,
    _chain,
    bias_layer,
    bind_heads,
    heads_of,
    layer_heads,
    ln_symbols,
    path_sources,
)
from tensoralgebra.symbols import (
    W_K,
    W_Q,
    W_QK,
    Id_positions,
    W_pos,
    b_K,
    b_Q,
    c_K,
    c_Q,
    ones,
)

#: The sources of a score side that belong to the scoring head itself: its query constant
#: ``1 ⊗ c_Q^h`` and its key constant ``1 ⊗ c_K^h`` (``b_Q^h``, ``b_K^h`` without LayerNorm bias).
QUERY_BIAS, KEY_BIAS = "query bias", "key bias"

#: ``.kind`` of a score term: which of its query and key paths pass through earlier heads.
SCORE_KINDS = ("none", "Q", "K", "QK")
#: Names of the head variables of schematic score terms: query side, key side, the head itself
#: (the sides' names are primed when the scoring head is given one of them).
QUERY_VAR, KEY_VAR, HEAD_VAR = "hq", "hk", "h"


def check_score_kind(kind: object, name: str = "kind", *, allow_none: bool = False) -> str | None:
    """``kind`` if it is one of :data:`SCORE_KINDS` (or ``None``, meaning every kind, when
    ``allow_none``), else a clear error naming ``name``.

    >>> check_score_kind("QK")
    'QK'
    >>> check_score_kind("V", "--kind")
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: --kind is 'V': expected one of 'none', 'Q', 'K', 'QK'
    """
    if kind is None and allow_none:
        return None
    return validation.choice(kind, name, SCORE_KINDS)


def score_kind(query_order: int, key_order: int) -> str:
    """``"none"``, ``"Q"``, ``"K"`` or ``"QK"``: which sides pass through earlier heads."""
    q = validation.integer(query_order, "query_order", low=0)
    k = validation.integer(key_order, "key_order", low=0)
    return SCORE_KINDS[(q > 0) + 2 * (k > 0)]


class ScorePath(NamedTuple):
    """One term of a head's attention scores: a query path, a key path and the head.

    ``query`` and ``key`` are paths as in :func:`~tensoralgebra.logit_paths` (heads earliest
    first, and a source); ``head`` is the scoring head (a :class:`Head`, or a :class:`HeadVar` for
    a schematic architecture). In real architectures (docs/conventions.md §7) a side may also
    start from a constant source ``"bias L<l>"``, from the head's own ``"query bias"`` or
    ``"key bias"``, or (``shortformer``) from ``"position"`` added after the LayerNorm, through no
    head; ``layer`` is the scoring head's layer (its LayerNorm ``N^{Ll}`` and ``W̃_l`` stand on
    every side that reads the stream).
    """

    query: LogitPath
    key: LogitPath
    head: Head | HeadVar
    layer: int | None = None
    shortformer: bool = False

    @property
    def order(self) -> tuple[int, int]:
        """``(query order, key order)``: how many earlier heads each side passes through."""
        return (len(self.query.heads), len(self.key.heads))

    @property
    def kind(self) -> str:
        """``"none"``, ``"Q"``, ``"K"`` or ``"QK"`` (see :func:`score_kind`); a side of order 2
        or more is a virtual head feeding that side."""
        return score_kind(*self.order)

    @property
    def constant_along_keys(self) -> bool:
        """Whether the term has the same value for every key of a query row, so that the softmax
        ignores it and it cannot change the pattern: its key side is the head's key constant, or
        a layer's constant source without LayerNorm (patterns keep constants: ``A 1 = 1``)."""
        source = self.key.source
        if source == KEY_BIAS:
            return True
        return bias_layer(source) is not None and self.key.normalization is None

    @property
    def expr(self) -> Expr:
        """``A_q ⊗ A_k ⊗ W_src_q^T W_q^T W_QK^h W_k W_src_k`` (in Σs for schematic heads); a
        constant side reads ``1`` and its constant, with ``W_Q^T`` or ``W_K`` for ``W_QK``."""
        q, k = self.query, self.key
        q_positions, q_weights = _side_nodes(q, self.head, self.layer, self.shortformer, True)
        k_positions, k_weights = _side_nodes(k, self.head, self.layer, self.shortformer, False)
        q_own, k_own = q.source == QUERY_BIAS, k.source == KEY_BIAS
        middle = (W_QK(self.head),) if not (q_own or k_own) else ()
        middle += (Transpose(W_Q(self.head)),) if k_own and not q_own else ()
        middle += (W_K(self.head),) if q_own and not k_own else ()
        term = Kron((q_positions, k_positions, Product(q_weights + middle + k_weights)))
        return bind_heads(term, [q, k])

    def __str__(self) -> str:
        return f"{self.kind}: query {self.query}, key {self.key}"


@functools.lru_cache(maxsize=2**14)
def _side_nodes(
    side: LogitPath, head: Head | HeadVar, layer: int | None, shortformer: bool, query: bool
) -> tuple[Expr, tuple[Expr, ...]]:
    """A score term's side: the chain of its position factors, and its model-space factors as
    the form reads them (a query side's transposed, latest last). Kept for the few thousand
    sides last asked for: each side is in as many terms as the other side has paths."""
    if side.source in (QUERY_BIAS, KEY_BIAS):
        own = {QUERY_BIAS: (c_Q, b_Q), KEY_BIAS: (c_K, b_K)}[side.source]
        positions, weights = [ones], [own[0 if side.normalization == "LN" else 1](head)]
    elif shortformer and side.source == "position":
        positions, weights = [], [W_pos]
    else:
        positions, weights = side.factors(ln_symbols(side.normalization, layer))
    if query:
        return _chain(positions), tuple(Transpose(w) for w in weights[::-1])
    return _chain(positions), tuple(weights)


def scoring_head(arch: Architecture, layer: int, head: int | str | None) -> Head | HeadVar:
    """The head whose scores are expanded: ``Head(layer, head)`` for a concrete architecture (a
    clear error if it does not exist); for a schematic one, a head variable (``h`` by default,
    or the name given)."""
    check_architecture(arch, "scores")
    layer = arch.check_layer(layer)
    if arch.is_schematic:
        if isinstance(head, str):
            return HeadVar(head)
        if head is None or validation.integer(head, "head") == 0:
            return HeadVar(HEAD_VAR)
        raise TensorAlgebraError(
            f"head {head!r}: a schematic architecture's heads are symbolic; pass a variable "
            "name such as 'h' (or nothing)"
        )
    n = arch.heads[layer]
    has = f"heads 0..{n - 1}" if n else "no heads"
    return Head(layer, validation.index(head, "head", n, context=f"layer {layer} has {has}"))


def side_variables(index: Head | HeadVar) -> tuple[str, str]:
    """The names of the query- and key-side head variables of a schematic head's score terms:
    ``hq`` and ``hk``, primed as needed so that neither captures the scoring head."""
    query = fresh_name(QUERY_VAR, [index] if isinstance(index, HeadVar) else [])
    return query, fresh_name(KEY_VAR, [query, index] if isinstance(index, HeadVar) else [query])


def scores(arch: Architecture, layer: int, head: int | str | None = 0) -> Expr:
    """A head's attention scores in factored form, the bilinear
    ``(query-side residual)^T · (Id ⊗ Id ⊗ W_QK^h) · (key-side residual)``.

    Both sides are the residual stream ``layer`` reads, written as the product of the earlier
    layers' factors and the embedding; ``ta.expand`` turns it into the score terms. Refused up
    front when the two sides would write out more than ``MAX_WRITTEN_HEADS`` heads.
    """
    index = scoring_head(arch, layer, head)
    check_written(
        arch,
        2 * written_heads(arch, index.layer if isinstance(index, Head) else layer),
        f"the scores of layer {layer}'s head",
    )
    query_var, key_var = side_variables(index)
    query, key = _read(arch, layer, query_var), _read(arch, layer, key_var)
    scores = Bilinear(query, _form(W_QK(index)), key)
    if not arch.biases:
        return scores
    # The head's own constants (docs/conventions.md §7): queries 1 c_Q^T, keys 1 c_K^T [head].
    own_q, own_k = (Kron((ones, m(index))) for m in _own_constants(arch))
    return Sum(
        (
            scores,
            Bilinear(query, _form(Transpose(W_Q(index))), own_k),
            Bilinear(own_q, _form(W_K(index)), key),
            # Constant by constant is one term already: 1 ⊗ 1 ⊗ c_Q^T c_K.
            Kron((ones, ones, Product((Transpose(own_q.args[1]), own_k.args[1])))),
        )
    )


def _form(core: Expr) -> Kron:
    return Kron((Id_positions, Id_positions, core))


def _own_constants(arch: Architecture):
    return (c_Q, c_K) if arch.normalization == "LN" else (b_Q, b_K)


def _read(arch: Architecture, layer: int, var: str) -> Expr:
    """What a head of ``layer`` reads for its queries or keys: the residual stream, through the
    layer's LayerNorm ``N^{Ll} ⊗ W̃_l`` if any, plus ``Id ⊗ W_pos`` with shortformer positions."""
    stream = residual_stream(arch, layer, var)
    norm = ln_symbols(arch.normalization, layer)
    if norm is not None:
        stream = Product((Kron(norm), *(stream.args if type(stream) is Product else (stream,))))
    if arch.positional == "shortformer":
        stream = Sum((stream, Kron((Id_positions, W_pos))))
    return stream


def check_side_order(arch: Architecture, layer: int, max_order: object) -> int:
    """``max_order`` for the score terms of a head of ``layer``: ``None`` (every order, i.e.
    ``layer``) or an order ``0..layer`` each side may pass through, as a plain ``int``."""
    context = (
        f"each side of a layer-{layer} head's score terms passes through 0..{layer} earlier heads"
    )
    top = validation.optional_integer(
        max_order, "max_order", low=0, high=layer + 1, context=context
    )
    return layer if top is None else top


def score_paths(
    arch: Architecture, layer: int, head: int | str | None = 0, max_order: int | None = None
) -> Iterator[ScorePath]:
    """Every score term of a head whose query and key paths have order ≤ ``max_order``, lazily.

    Terms come by total order; then query order, highest first (for a second-layer head: no
    composition, Q, K, QK, as in the paper); then the layers and heads of the query and the key
    path; then the sources: the order of ``ta.expand(ta.scores(arch, layer, head))``.
    """
    index = scoring_head(arch, layer, head)
    layer = arch.check_layer(layer)
    top = check_side_order(arch, layer, max_order)
    return _score_paths(arch, layer, index, top)


def _layer_pairs(layer: int, top: int) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(query layers, key layers) in the expansion's order: total order, query order highest
    first, then query layers, then key layers (lazily: none of these is listed)."""
    for total in range(2 * top + 1):
        for q_order in range(min(total, top), max(0, total - top) - 1, -1):
            for q_layers in itertools.combinations(range(layer), q_order):
                for k_layers in itertools.combinations(range(layer), total - q_order):
                    yield q_layers, k_layers


def side_sources(arch: Architecture, layer: int, layers: tuple[int, ...], own: str):
    """The sources of a score side through ``layers`` for a head of ``layer``, in the expansion's
    order: tokens, then (for a side through no head) shortformer positions, the constant
    sources of the layers before the side's first head (:func:`~tensoralgebra.paths.path_sources`),
    then the head's own constant ``own`` (with biases, for a side through no head)."""
    sources = path_sources(arch, layers, layer)
    if not layers:
        if arch.positional == "shortformer":  # positions rank before the constants
            sources = (*arch.sources, "position", *sources[len(arch.sources) :])
        sources += (own,) if arch.biases else ()
    return sources


def _score_paths(arch, layer, index, top) -> Iterator[ScorePath]:
    query_var, key_var = side_variables(index)
    norm, short = arch.normalization, arch.positional == "shortformer"
    layer_field = None if arch.is_idealised else layer  # the paper's model: its fields only
    for q_layers, k_layers in _layer_pairs(layer, top):
        q_sources = side_sources(arch, layer, q_layers, QUERY_BIAS)
        k_sources = side_sources(arch, layer, k_layers, KEY_BIAS)
        for q_heads in heads_of(arch, q_layers, query_var):
            for k_heads in heads_of(arch, k_layers, key_var):
                for q_src in q_sources:
                    for k_src in k_sources:
                        yield ScorePath(
                            LogitPath(q_heads, q_src, norm),
                            LogitPath(k_heads, k_src, norm),
                            index,
                            layer_field,
                            short,
                        )


def _side_count(arch: Architecture, layer: int, top: int) -> int:
    """``N``: the number of paths of order ≤ ``top`` through the layers before ``layer``
    (one source)."""
    heads = None if arch.heads is None else arch.heads[:layer]
    groups = counting.head_groups(heads, layer)
    if top >= layer:
        return counting.total_count(groups)
    return sum(counting.order_counts(groups, top))


def count_score_paths_by_kind(
    arch: Architecture, layer: int, head: int | str | None = 0, *, max_order: int | None = None
) -> dict[str, int]:
    """The number of score terms of a head of each kind, with sides of order ≤ ``max_order``,
    exactly and at once: ``{"none": ..., "Q": ..., "K": ..., "QK": ...}``.

    With ``N`` paths of order ≤ ``max_order`` through the layers before ``layer`` (``Σ_k e_k``
    of their head counts; for a schematic architecture, groups: ``Σ_k C(layer, k)``) and ``s``
    sources: ``s²`` of kind none, ``(N-1) s²`` each of kinds Q and K, ``(N-1)² s²`` of kind QK
    (``N² s²`` in all). In real architectures, with ``n`` sides in all and ``n0`` through no head
    (:func:`side_counts`): ``n0²``, ``(n-n0) n0`` each, ``(n-n0)²``.
    """
    index = scoring_head(arch, layer, head)
    layer = arch.check_layer(layer)
    top = check_side_order(arch, layer, max_order)
    del index  # checked only: every head of a layer has the same number of terms
    n0, n = side_counts(arch, layer, top)
    return {"none": n0 * n0, "Q": (n - n0) * n0, "K": n0 * (n - n0), "QK": (n - n0) ** 2}


def side_counts(arch: Architecture, layer: int, top: int) -> tuple[int, int]:
    """``(n0, n)``: the sides of a layer-``layer`` head's score terms through no head, and all of
    them up to order ``top``: ``n = s N + Σ_{l'<l} Π_{l'<l''<l} (1 + |H_l''|) + [shortformer] +
    [biases]`` (the constant sources' paths, shortformer positions, the head's own constant),
    ``n0 = s + l [biases] + [shortformer] + [biases]``."""
    s = len(arch.sources)
    extra = (arch.positional == "shortformer") + arch.biases
    n0, n = s + extra, s * _side_count(arch, layer, top) + extra
    if arch.biases:
        constants = counting.suffix_order_counts(layer_heads(arch, layer), top)
        n0, n = n0 + layer, n + sum(constants)
    return n0, n


def count_score_paths(
    arch: Architecture,
    layer: int,
    head: int | str | None = 0,
    *,
    kind: str | None = None,
    max_order: int | None = None,
) -> int:
    """The number of score terms of a head (of one ``kind``, with sides of order ≤
    ``max_order``), exactly: see :func:`count_score_paths_by_kind`."""
    if kind is not None:
        check_score_kind(kind)
    by_kind = count_score_paths_by_kind(arch, layer, head, max_order=max_order)
    return sum(by_kind.values()) if kind is None else by_kind[kind]


def fitting_score_max_order(
    arch: Architecture, layer: int, limit: int, head: int | str | None = 0
) -> int | None:
    """The largest ``max_order`` whose listing ``score_paths(arch, layer, head, max_order)`` has
    at most ``limit`` terms (``None`` if not even the no-composition terms fit), from the counts.

    >>> import tensoralgebra as ta
    >>> arch = ta.Architecture((12,) * 12)
    >>> ta.fitting_score_max_order(arch, 11, 5000), ta.fitting_score_max_order(arch, 11, 20_000)
    (0, 1)
    """
    scoring_head(arch, layer, head)
    layer = arch.check_layer(layer)
    limit = validation.integer(limit, "limit", low=0)
    if not arch.is_idealised:
        return _fitting_real(arch, layer, limit)
    cap = isqrt(limit // len(arch.sources) ** 2)  # N² s² ≤ limit  ⇔  N ≤ ⌊√⌊limit / s²⌋⌋
    heads = None if arch.heads is None else arch.heads[:layer]
    cumulative = counting.capped_cumulative_counts(counting.head_groups(heads, layer), cap)
    if cumulative[-1] <= cap:
        return layer
    return len(cumulative) - 2 if len(cumulative) > 1 else None


def _fitting_real(arch: Architecture, layer: int, limit: int) -> int | None:
    """:func:`fitting_score_max_order` for real architectures, order by order (``n² ≤ limit``
    with ``n`` the sides up to that order; the sides grow with the order, so the first order
    over ``limit`` ends the search)."""
    best = None
    for top in range(layer + 1):
        if side_counts(arch, layer, top)[1] ** 2 > limit:
            break
        best = top
    return best
