"""Paths through the residual stream: the terms of the logit expansion, enumerated directly.

A path is a sequence of heads ``(l_1, h_1), ..., (l_k, h_k)`` with strictly increasing layers
(MATH.md §2); its term is ``A_p ⊗ W_U W_p W_src`` with ``A_p = A^{h_k}...A^{h_1}`` and
``W_p = W_OV^{h_k}...W_OV^{h_1}``. This is the fast route to the terms the rewrite rules produce:
:func:`logit_paths` yields exactly the terms of ``expand(logits(arch))``, in the same order, and
:func:`count_logit_paths` counts them in closed form.

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
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import lru_cache, partial
from itertools import chain, cycle, repeat
from math import comb
from typing import NamedTuple

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadSet, HeadVar
from tensoralgebra.expr.nodes import Expr, IndexedSum, Kron, Product
from tensoralgebra.symbols import W_E, W_OV, W_U, A, Id_positions, W_pos

#: ``.kind`` of a logit path, by order: 0 is the direct path, 1 a single head, 2+ a virtual head.
KINDS = ("direct", "head", "virtual")
_SOURCE_MATRIX = {"token": W_E, "position": W_pos}


def path_kind(order: int) -> str:
    """``"direct"`` (order 0, bigram statistics), ``"head"`` (order 1, skip-trigrams) or
    ``"virtual"`` (order 2 and more: a virtual head made by V-composition)."""
    return KINDS[min(order, 2)]


class LogitPath(NamedTuple):
    """One term of the logit expansion: a path of heads and the source it starts from.

    ``heads`` is a tuple of ``(layer, head)`` pairs, earliest layer first (for a schematic
    architecture ``head`` is the bound :class:`HeadVar` and the term is a Σ over its layer's heads);
    ``source`` is ``"token"`` or ``"position"``. ``order``, ``kind`` and ``expr`` follow from them.
    A path is a small immutable tuple ``(heads, source)``, so enumerating millions stays cheap.
    """

    heads: tuple[tuple[int, int | HeadVar], ...]
    source: str = "token"

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
        """The Kronecker term ``A_p ⊗ W_U W_p W_src`` (in a Σ chain for schematic heads)."""
        latest_first = self.indices[::-1]
        ov = (W_U, *(W_OV(i) for i in latest_first), self.source_matrix)
        return bind_heads(Kron((self.pattern, Product(ov))), [self])

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
        """``W_E`` for the token source, ``W_pos`` for the position source."""
        try:
            return _SOURCE_MATRIX[self.source]
        except KeyError:
            raise TensorAlgebraError(
                f"unknown source {self.source!r}: a path starts from 'token' or 'position'"
            ) from None

    def __str__(self) -> str:
        names = "→".join(_head_name(layer, h) for layer, h in self.heads) or "direct"
        return names if self.source == "token" else f"{names} (position)"


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
    """``order`` if it is ``None`` or a path order possible in ``arch`` (0..n_layers)."""
    if order is None:
        return None
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= arch.n_layers:
        raise TensorAlgebraError(
            f"{name}={order!r} is out of range: a path of this {arch.n_layers}-layer architecture "
            f"has order 0..{arch.n_layers}"
        )
    return order


def heads_of(arch: Architecture, layers: tuple[int, ...], var: str = "h") -> Iterator[tuple]:
    """Every choice of one head in each of ``layers``, as ``((layer, head), ...)`` tuples; for a
    schematic architecture the one choice of head variables named as the expansion names them."""
    if arch.heads is None:
        if len(layers) == 1:
            return iter((((layers[0], HeadVar(var)),),))
        return iter((tuple((layer, HeadVar(var, layer)) for layer in layers),))
    choices = [[(layer, h) for h in range(arch.heads[layer])] for layer in layers]
    return itertools.product(*choices)


_new_path = partial(tuple.__new__, LogitPath)


def _with_sources(heads: Iterator[tuple], sources: tuple[str, ...]) -> Iterator[tuple]:
    """``(heads, source)`` for each heads and source, heads slowest, lazily and in C loops."""
    if len(sources) == 1:
        return zip(heads, repeat(sources[0]))
    each_twice = chain.from_iterable(map(repeat, heads, repeat(len(sources))))
    return zip(each_twice, cycle(sources))


def logit_paths(arch: Architecture, max_order: int | None = None) -> Iterator[LogitPath]:
    """Every term of the logit expansion with order ≤ ``max_order``, lazily.

    Terms come by order, then by the layers they pass through, then by heads, then by source:
    the order of ``ta.expand(ta.logits(arch))``.
    """
    top = check_order(arch, max_order)
    top = arch.n_layers if top is None else top
    groups = (
        map(_new_path, _with_sources(heads_of(arch, layers), arch.sources))
        for order in range(top + 1)
        for layers in itertools.combinations(range(arch.n_layers), order)
    )
    # Chained in C: the Python-level generator only runs once per set of layers, not per path.
    return chain.from_iterable(groups)


@lru_cache(maxsize=64)
def _elementary_symmetric(values: tuple[int, ...]) -> tuple[int, ...]:
    """``e[k]`` = the sum over k-subsets of the product of their values, for k = 0..len."""
    e = [1] + [0] * len(values)
    for n, v in enumerate(values, start=1):
        for k in range(n, 0, -1):
            e[k] += e[k - 1] * v
    return tuple(e)


def count_logit_paths(arch: Architecture, order: int | None = None) -> int:
    """The number of logit terms (of one ``order``, or all), in closed form.

    Concrete: ``Π_l (1 + |H_l|)`` in all, ``Σ_{|S|=k} Π_{l∈S} |H_l|`` of order ``k``; twice that
    with positions. Schematic: the grouped terms, ``2^L`` in all and ``C(L, k)`` of order ``k``.
    """
    order = check_order(arch, order, "order")
    sources = len(arch.sources)
    if arch.heads is None:
        n = arch.n_layers
        count = 2**n if order is None else comb(n, order)
    elif order is None:
        count = 1
        for h in arch.heads:
            count *= 1 + h
    else:
        count = _elementary_symmetric(arch.heads)[order]
    return count * sources
