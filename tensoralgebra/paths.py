"""Paths through the residual stream: the terms of the logit expansion, enumerated directly.

A path is a sequence of heads ``(l_1, h_1), ..., (l_k, h_k)`` with strictly increasing layers
(docs/conventions.md §2); its term is ``A_p ⊗ W_U W_p W_src`` with ``A_p = A^{h_k}...A^{h_1}`` and
``W_p = W_OV^{h_k}...W_OV^{h_1}``. This is the fast route to the terms the rewrite rules produce:
:func:`logit_paths` yields exactly the terms of ``expand(logits(arch))``, in the same order, and
:func:`count_logit_paths` counts them exactly, in a moment at any size
(:mod:`tensoralgebra.counting`).

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(2, 2))
>>> [str(p) for p in ta.logit_paths(arch, max_order=1)]
['direct', 'L0H0', 'L0H1', 'L1H0', 'L1H1']
>>> p = list(ta.logit_paths(arch))[-1]
>>> p.heads, p.order, p.kind, p.source
(((0, 1), (1, 1)), 2, 'virtual', 'token')
>>> print(p.expr)
A^{L1H1} A^{L0H1} ⊗ W_U W_OV^{L1H1} W_OV^{L0H1} W_E
>>> ta.count_logit_paths(ta.Architecture(heads=(96,) * 96)) == 97**96
True
>>> ta.count_logit_paths_by_order(arch), ta.fitting_max_order(ta.Architecture((96,) * 96), 10_000)
((1, 4, 4), 1)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from functools import partial
from itertools import chain, cycle, repeat
from typing import NamedTuple

from tensoralgebra import counting, validation
from tensoralgebra.architecture import Architecture, check_architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadSet, HeadVar
from tensoralgebra.expr.nodes import Expr, IndexedSum, Kron, Product
from tensoralgebra.symbols import (
    W_E,
    W_OV,
    W_U,
    A,
    C,
    Id_positions,
    N,
    W_ln,
    W_pos,
    b_U,
    c,
    c_U,
    ones,
)

#: ``.kind`` of a logit path, by order: 0 is the direct path, 1 a single head, 2+ a virtual head.
KINDS = ("direct", "head", "virtual")
_SOURCE_MATRIX = {"token": W_E, "position": W_pos}
#: The source of the logits' own constant ``1 ⊗ b_U`` (``1 ⊗ c_U`` with LayerNorm ``LN``).
UNEMBEDDING_BIAS = "unembedding bias"
_BIAS = re.compile(r"bias L(0|[1-9][0-9]*)")


def bias_source(layer: int) -> str:
    """``"bias L<layer>"``: the name of layer ``layer``'s constant source ``1 ⊗ c^{L<layer>}``."""
    return f"bias L{layer}"


def bias_layer(source: str) -> int | None:
    """The layer of a constant source ``"bias L<l>"``; ``None`` for any other source."""
    match = _BIAS.fullmatch(source) if isinstance(source, str) else None
    return None if match is None else int(match.group(1))


def ln_symbols(normalization: str | None, layer: int | None) -> tuple[Expr, Expr] | None:
    """``(N^{Ll}, W̃_l)`` of a normalization (``layer=None``: the final LayerNorm), or ``None``."""
    if normalization is None:
        return None
    return N(layer), (C if normalization == "LNPre" else W_ln(layer))


def path_kind(order: int) -> str:
    """``"direct"`` (order 0, bigram statistics), ``"head"`` (order 1, skip-trigrams) or
    ``"virtual"`` (order 2 and more: a virtual head made by V-composition)."""
    return KINDS[min(validation.integer(order, "order", low=0), 2)]


class LogitPath(NamedTuple):
    """One term of the logit expansion: a path of heads and the source it starts from.

    ``heads`` is a tuple of ``(layer, head)`` pairs, earliest layer first (for a schematic
    architecture ``head`` is the bound :class:`HeadVar` and the term is a Σ over its layer's heads);
    ``source`` is ``"token"``, ``"position"``, ``"bias L<l>"`` (layer ``l``'s constant source,
    carried only by heads of later layers) or ``"unembedding bias"`` (the logits' own constant,
    through no head); ``normalization`` is the architecture's (``None``, ``"LN"`` or ``"LNPre"``),
    which puts each layer's frozen LayerNorm on the path (docs/conventions.md §7). ``order``,
    ``kind`` and ``expr`` follow from them. A path is a small immutable tuple, so enumerating
    millions stays cheap.
    """

    heads: tuple[tuple[int, int | HeadVar], ...]
    source: str = "token"
    normalization: str | None = None

    @property
    def order(self) -> int:
        """The number of heads on the path."""
        return len(self.heads)

    @property
    def kind(self) -> str:
        """``"direct"``, ``"head"`` or ``"virtual"`` (see :func:`path_kind`)."""
        return path_kind(len(self.heads))

    @property
    def layers(self) -> tuple[int, ...]:
        """The layers the path passes through, earliest first."""
        return tuple(layer for layer, _ in self.heads)

    @property
    def expr(self) -> Expr:
        """The Kronecker term ``A_p ⊗ W_U W_p W_src`` (in a Σ chain for schematic heads); with a
        LayerNorm ``N^{f} A^{h_k} N^{l_k} ... ⊗ W_U W̃_f W_OV^{h_k} W̃_{l_k} ... W_src``, and a
        constant source's ``1`` rightmost in the position factor."""
        if self.source == UNEMBEDDING_BIAS:
            return Kron((ones, self.source_matrix))
        positions, weights = self.factors(ln_symbols(self.normalization, None))
        return bind_heads(Kron((_chain(positions), Product((W_U, *weights)))), [self])

    def factors(self, reader: tuple[Expr, Expr] | None) -> tuple[list[Expr], list[Expr]]:
        """The position factors and model-space factors of what this path carries to a reader
        (the unembedding, or a scoring head's queries or keys), latest first: ``reader``'s
        LayerNorm ``(N, W̃)`` if any, then each head's pattern and OV circuit with its layer's
        LayerNorm, then the source's ``1`` and matrix."""
        positions = [] if reader is None else [reader[0]]
        weights = [] if reader is None else [reader[1]]
        for (layer, _), index in zip(self.heads[::-1], self.indices[::-1]):
            norm = ln_symbols(self.normalization, layer)
            positions += [A(index)] if norm is None else [A(index), norm[0]]
            weights += [W_OV(index)] if norm is None else [W_OV(index), norm[1]]
        if bias_layer(self.source) is not None:
            positions.append(ones)
        weights.append(self.source_matrix)
        return positions, weights

    @property
    def indices(self) -> list[Head | HeadVar]:
        """The path's heads as symbol indices, earliest first."""
        return [h if isinstance(h, HeadVar) else Head(layer, h) for layer, h in self.heads]

    @property
    def pattern(self) -> Expr:
        """``A_p = A^{h_k} ... A^{h_1}`` (``Id`` for the direct path) [positions × positions]."""
        latest_first = self.indices[::-1]
        if not latest_first:
            return Id_positions
        return A(latest_first[0]) if len(latest_first) == 1 else Product(map(A, latest_first))

    @property
    def source_matrix(self) -> Expr:
        """``W_E`` for the token source, ``W_pos`` for the position source, ``c^{Ll}`` for the
        constant source of layer ``l``, ``b_U`` (``c_U`` with ``LN``) for the unembedding bias."""
        layer = bias_layer(self.source)
        if layer is not None:
            return c(layer)
        if self.source == UNEMBEDDING_BIAS:
            return c_U if self.normalization == "LN" else b_U
        try:
            return _SOURCE_MATRIX[self.source]
        except KeyError:
            raise TensorAlgebraError(
                f"unknown source {self.source!r}: a path starts from 'token', 'position', "
                "'bias L<l>' or 'unembedding bias'"
            ) from None

    def __str__(self) -> str:
        names = "→".join(_head_name(layer, h) for layer, h in self.heads) or "direct"
        return names if self.source == "token" else f"{names} ({self.source})"


def _chain(factors: list[Expr]) -> Expr:
    """``Id`` for no factor, the factor itself for one, else their product."""
    if not factors:
        return Id_positions
    return factors[0] if len(factors) == 1 else Product(factors)


def bind_heads(term: Expr, paths: list[LogitPath]) -> Expr:
    """``term`` inside a Σ for each head variable of ``paths`` (latest layer outermost, first
    path outermost), as the expansion writes schematic terms."""
    for path in reversed(paths):
        for layer, h in path.heads:
            if isinstance(h, HeadVar):
                term = IndexedSum(h, HeadSet((layer,)), term)
    return term


def _head_name(layer: int, h: int | HeadVar) -> str:
    return f"{h!r}∈H{layer}" if isinstance(h, HeadVar) else f"L{layer}H{h}"


def check_order(arch: Architecture, order: object, name: str = "max_order") -> int | None:
    """``order`` as a plain ``int`` if it is ``None`` or a path order possible in ``arch``
    (0..n_layers), else a clear error naming ``name``."""
    n = arch.n_layers
    context = f"a path of this {n}-layer architecture has order 0..{n}"
    return validation.optional_integer(order, name, low=0, high=n + 1, context=context)


#: Layers with more heads than this are enumerated by a generator instead of a C loop over a
#: list of their heads, so a model with 10**30 heads still yields its first term at once; a
#: model with at most this many heads in all has every layer's heads listed up front.
_LISTED_HEADS = 1 << 16


def heads_of(arch: Architecture, layers: tuple[int, ...], var: str = "h") -> Iterator[tuple]:
    """Every choice of one head in each of ``layers``, as ``((layer, head), ...)`` tuples,
    lazily; for a schematic architecture the one choice of head variables named as the
    expansion names them (``var``, or ``var_l`` when several layers are chosen)."""
    if arch.heads is None:
        if len(layers) == 1:
            return iter((((layers[0], HeadVar(var)),),))
        return iter((tuple((layer, HeadVar(var, layer)) for layer in layers),))
    if all(arch.heads[layer] <= _LISTED_HEADS for layer in layers):
        choices = [[(layer, h) for h in range(arch.heads[layer])] for layer in layers]
        return itertools.product(*choices)
    return _lazy_product([(layer, arch.heads[layer]) for layer in layers])


def _lazy_product(sizes: list[tuple[int, int]]) -> Iterator[tuple]:
    """``itertools.product`` of the layers' heads (last layer fastest), without listing any."""
    if not sizes:
        yield ()
        return
    (layer, n), rest = sizes[0], sizes[1:]
    for h in range(n):
        for tail in _lazy_product(rest):
            yield ((layer, h), *tail)


#: ``_new_path(fields)``: the LogitPath of ``(heads, source, normalization)``, built in C.
_new_path = partial(tuple.__new__, LogitPath)


def _with_sources(
    heads: Iterator[tuple], sources: tuple[str, ...], normalization: str | None = None
) -> Iterator[tuple]:
    """``(heads, source, normalization)`` for each heads and source, heads slowest, lazily and
    in C loops."""
    if len(sources) == 1:
        return zip(heads, repeat(sources[0]), repeat(normalization))
    each_twice = chain.from_iterable(map(repeat, heads, repeat(len(sources))))
    return zip(each_twice, cycle(sources), repeat(normalization))


def path_sources(arch: Architecture, layers: tuple[int, ...], reader: int | None = None):
    """The sources of the paths through ``layers`` to ``reader`` (a layer, or ``None``: the
    unembedding), in the expansion's order: tokens, positions, then the constant sources of the
    layers before the path's first layer (before ``reader`` for the direct path), then, for the
    logits' direct path, the unembedding bias."""
    first = layers[0] if layers else (arch.n_layers if reader is None else reader)
    sources = arch.sources + arch.bias_sources(first)
    if arch.biases and reader is None and not layers:
        sources += (UNEMBEDDING_BIAS,)
    return sources


def logit_paths(arch: Architecture, max_order: int | None = None) -> Iterator[LogitPath]:
    """Every term of the logit expansion with order ≤ ``max_order``, lazily.

    Terms come by order, then by the layers they pass through, then by heads, then by source
    (tokens, positions, the constant sources ``"bias L<l>"`` in layer order, the unembedding
    bias): the order of ``ta.expand(ta.logits(arch))``.
    """
    check_architecture(arch, "logit_paths")
    top = check_order(arch, max_order)
    top = arch.n_layers if top is None else top
    if arch.heads is not None and not arch.biases and sum(arch.heads) <= _LISTED_HEADS:
        return _listed_logit_paths(arch, top)
    return _grouped_logit_paths(arch, top)


def _layer_sets(arch: Architecture, top: int) -> Iterator[tuple[int, ...]]:
    """The sets of layers a path of order ≤ ``top`` passes through, in the expansion's order."""
    layers = range(arch.n_layers)
    return chain.from_iterable(itertools.combinations(layers, order) for order in range(top + 1))


def _grouped_logit_paths(arch: Architecture, top: int) -> Iterator[LogitPath]:
    """:func:`logit_paths` for any architecture: one group of paths per set of layers, each with
    its own sources."""
    norm = arch.normalization
    groups = (
        map(_new_path, _with_sources(heads_of(arch, layers), path_sources(arch, layers), norm))
        for layers in _layer_sets(arch, top)
    )
    # Chained in C: the Python-level generator only runs once per set of layers, not per path.
    return chain.from_iterable(groups)


def _listed_logit_paths(arch: Architecture, top: int) -> Iterator[LogitPath]:
    """:func:`logit_paths` when every path has the same sources (no constant sources) and every
    layer's heads can be listed: the heads of all sets of layers chained into one stream, so
    that each path costs its construction and nothing more. Yields what
    :func:`_grouped_logit_paths` yields."""
    choices = [[(layer, h) for h in range(n)] for layer, n in enumerate(arch.heads)]
    heads = chain.from_iterable(
        itertools.product(*[choices[layer] for layer in layers])
        for layers in _layer_sets(arch, top)
    )
    fields = _with_sources(heads, arch.sources, arch.normalization)
    return map(tuple.__new__, repeat(LogitPath), fields)


def count_logit_paths(arch: Architecture, order: int | None = None) -> int:
    """The number of logit terms (of one ``order``, or all), exactly.

    Concrete: ``Π_l (1 + |H_l|)`` in all, ``e_k = Σ_{|S|=k} Π_{l∈S} |H_l|`` of order ``k``;
    twice that with positions. Schematic: the grouped terms, ``2^L`` in all and ``C(L, k)`` of
    order ``k``. With biases, the constant sources add ``Σ_l Π_{l'>l} (1 + |H_l'|) + 1``
    (docs/conventions.md §7). Instant at any size (see :mod:`tensoralgebra.counting` for the
    limits).
    """
    check_architecture(arch, "count_logit_paths")
    order = check_order(arch, order, "order")
    groups = counting.head_groups(arch.heads, arch.n_layers)
    exact = counting.total_count if order is None else partial(counting.order_count, order=order)
    count = exact(groups) * len(arch.sources)
    if not arch.biases:
        return count
    heads = layer_heads(arch)
    if order is None:
        return count + counting.suffix_total(heads) + 1
    return count + counting.suffix_order_counts(heads, order)[order] + (order == 0)


def layer_heads(arch: Architecture, before: int | None = None) -> list[int]:
    """The head count of each layer before ``before`` (all by default); a schematic layer counts
    as one grouped term."""
    n = arch.n_layers if before is None else before
    return [1] * n if arch.heads is None else list(arch.heads[:n])


def count_logit_paths_by_order(arch: Architecture, max_order: int | None = None) -> tuple[int, ...]:
    """The number of logit terms of each order ``0, 1, ..., max_order`` (all orders by
    default) at once: ``count_logit_paths_by_order(arch)[k] == count_logit_paths(arch, k)``.

    Refused up front (:class:`~tensoralgebra.errors.ExpansionLimitError`, naming a
    ``max_order`` that fits) when the table would be too large to compute in a moment.
    """
    check_architecture(arch, "count_logit_paths_by_order")
    top = check_order(arch, max_order)
    top = arch.n_layers if top is None else top
    groups = counting.head_groups(arch.heads, arch.n_layers)
    counts = counting.order_counts(groups, top)
    if len(arch.sources) > 1:  # one count per source; a copy of a huge table only if needed
        counts = tuple(n * len(arch.sources) for n in counts)
    counts = counts + (0,) * (top + 1 - len(counts))
    if not arch.biases:
        return counts
    constants = counting.suffix_order_counts(layer_heads(arch), top)
    constants = constants + (0,) * (top + 1 - len(constants))
    return tuple(n + m + (k == 0) for k, (n, m) in enumerate(zip(counts, constants)))


def fitting_max_order(arch: Architecture, limit: int) -> int | None:
    """The largest ``max_order`` whose listing ``logit_paths(arch, max_order)`` has at most
    ``limit`` terms (``None`` if not even the direct path fits), found from the counts alone.

    >>> import tensoralgebra as ta
    >>> ta.fitting_max_order(ta.Architecture((8, 8, 8)), 100)
    1
    >>> ta.fitting_max_order(ta.Architecture(()), 0) is None
    True
    """
    check_architecture(arch, "fitting_max_order")
    limit = validation.integer(limit, "limit", low=0)
    groups = counting.head_groups(arch.heads, arch.n_layers)
    if arch.biases:
        return _fitting_with_constants(arch, groups, limit)
    cap = limit // len(arch.sources)
    cumulative = counting.capped_cumulative_counts(groups, cap)
    if cumulative[-1] <= cap:
        return arch.n_layers  # orders past the last layer with heads add no terms
    return len(cumulative) - 2 if len(cumulative) > 1 else None


def _fitting_with_constants(arch: Architecture, groups: dict[int, int], limit: int) -> int | None:
    """:func:`fitting_max_order` with constant sources: order by order, the sources' paths up to
    that order (known to be over ``limit`` without the constants' exact count, or counted)."""
    cap = limit // len(arch.sources)
    cumulative = counting.capped_cumulative_counts(groups, cap)
    heads, best = layer_heads(arch), None
    for top, n in enumerate(cumulative):
        if n > cap:
            break
        constants = sum(counting.suffix_order_counts(heads, top)) + 1
        if n * len(arch.sources) + constants > limit:
            break
        best = top
    if best == len(cumulative) - 1 and cumulative[-1] <= cap:
        return arch.n_layers  # orders past the last layer with heads add no terms
    return best
