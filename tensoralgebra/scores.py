"""Attention scores: the expansion of every head's scores into Q-, K- and QK-composition terms.

Head ``h`` of layer ``l`` scores query position ``i`` against key position ``j`` with
``S^h = R_l W_QK^h R_l^T`` (MATH.md §1), where ``R_l`` is the residual stream layer ``l`` reads.
That stream is a sum over paths through the earlier layers, so (MATH.md §4)

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

import itertools
from collections.abc import Iterator
from typing import NamedTuple

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadVar
from tensoralgebra.expr.nodes import Bilinear, Expr, Kron, Product, Transpose
from tensoralgebra.factored import residual_stream
from tensoralgebra.paths import LogitPath, _elementary_symmetric, bind_heads, heads_of
from tensoralgebra.symbols import W_OV, W_QK, Id_positions

#: ``.kind`` of a score term: which of its query and key paths pass through earlier heads.
SCORE_KINDS = ("none", "Q", "K", "QK")
#: Names of the head variables of schematic score terms: query side, key side, the head itself.
QUERY_VAR, KEY_VAR, HEAD_VAR = "hq", "hk", "h"


def score_kind(query_order: int, key_order: int) -> str:
    """``"none"``, ``"Q"``, ``"K"`` or ``"QK"``: which sides pass through earlier heads."""
    return SCORE_KINDS[(query_order > 0) + 2 * (key_order > 0)]


class ScorePath(NamedTuple):
    """One term of a head's attention scores: a query path, a key path and the head.

    ``query`` and ``key`` are paths as in :func:`~tensoralgebra.logit_paths` (heads earliest
    first, and a source); ``head`` is the scoring head (a :class:`Head`, or a :class:`HeadVar` for
    a schematic architecture).
    """

    query: LogitPath
    key: LogitPath
    head: Head | HeadVar

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
    def expr(self) -> Expr:
        """``A_q ⊗ A_k ⊗ W_src_q^T W_q^T W_QK^h W_k W_src_k`` (in Σs for schematic heads)."""
        q, k = self.query, self.key
        form = (
            Transpose(q.source_matrix),
            *(Transpose(W_OV(i)) for i in q.indices),
            W_QK(self.head),
            *(W_OV(i) for i in k.indices[::-1]),
            k.source_matrix,
        )
        return bind_heads(Kron((q.pattern, k.pattern, Product(form))), [q, k])

    def __str__(self) -> str:
        return f"{self.kind}: query {self.query}, key {self.key}"


def scoring_head(arch: Architecture, layer: int, head: int | str | None) -> Head | HeadVar:
    """The head whose scores are expanded: ``Head(layer, head)`` for a concrete architecture (a
    clear error if it does not exist); for a schematic one, a head variable (``h`` by default)."""
    arch.check_layer(layer)
    if arch.is_schematic:
        if head is None or head == 0:
            return HeadVar(HEAD_VAR)
        if isinstance(head, str):
            return HeadVar(head)
        raise TensorAlgebraError(
            f"head {head!r}: a schematic architecture's heads are symbolic; pass a variable "
            "name such as 'h' (or nothing)"
        )
    n = arch.n_heads(layer)
    if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < n:
        has = f"heads 0..{n - 1}" if n else "no heads"
        raise TensorAlgebraError(f"head {head!r} does not exist: layer {layer} has {has}")
    return Head(layer, head)


def scores(arch: Architecture, layer: int, head: int | str | None = 0) -> Expr:
    """A head's attention scores in factored form, the bilinear
    ``(query-side residual)^T · (Id ⊗ Id ⊗ W_QK^h) · (key-side residual)``.

    Both sides are the residual stream ``layer`` reads, written as the product of the earlier
    layers' factors and the embedding; ``ta.expand`` turns it into the score terms.
    """
    index = scoring_head(arch, layer, head)
    form = Kron((Id_positions, Id_positions, W_QK(index)))
    query = residual_stream(arch, layer, QUERY_VAR)
    return Bilinear(query, form, residual_stream(arch, layer, KEY_VAR))


def _check_max_order(arch: Architecture, layer: int, max_order: object) -> int:
    if max_order is None:
        return layer
    if isinstance(max_order, bool) or not isinstance(max_order, int) or not 0 <= max_order <= layer:
        raise TensorAlgebraError(
            f"max_order={max_order!r} is out of range: each side of a layer-{layer} head's score "
            f"terms passes through 0..{layer} earlier heads"
        )
    return max_order


def score_paths(
    arch: Architecture, layer: int, head: int | str | None = 0, max_order: int | None = None
) -> Iterator[ScorePath]:
    """Every score term of a head whose query and key paths have order ≤ ``max_order``, lazily.

    Terms come by total order; then query order, highest first (for a second-layer head: no
    composition, Q, K, QK, as in the paper); then the layers and heads of the query and the key
    path; then the sources: the order of ``ta.expand(ta.scores(arch, layer, head))``.
    """
    index = scoring_head(arch, layer, head)
    top = _check_max_order(arch, layer, max_order)
    return _score_paths(arch, layer, index, top)


def _layer_pairs(layer: int, top: int) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(query layers, key layers) in the expansion's order: total order, query order highest
    first, then query layers, then key layers."""
    for total in range(2 * top + 1):
        for q_order in range(min(total, top), max(0, total - top) - 1, -1):
            yield from itertools.product(
                itertools.combinations(range(layer), q_order),
                itertools.combinations(range(layer), total - q_order),
            )


def _score_paths(arch, layer, index, top) -> Iterator[ScorePath]:
    sources = list(itertools.product(arch.sources, arch.sources))
    for q_layers, k_layers in _layer_pairs(layer, top):
        for q_heads in heads_of(arch, q_layers, QUERY_VAR):
            for k_heads, (q_src, k_src) in itertools.product(
                heads_of(arch, k_layers, KEY_VAR), sources
            ):
                yield ScorePath(LogitPath(q_heads, q_src), LogitPath(k_heads, k_src), index)


def count_score_paths(
    arch: Architecture,
    layer: int,
    head: int | str | None = 0,
    *,
    kind: str | None = None,
    max_order: int | None = None,
) -> int:
    """The number of score terms of a head (of one ``kind``, with sides of order ≤
    ``max_order``), in closed form.

    With ``N`` paths of order ≤ ``max_order`` through the layers before ``layer`` (``Σ_k e_k``
    of their head counts; for a schematic architecture, groups: ``Σ_k C(layer, k)``) and ``s``
    sources: ``N² s²`` in all; ``s²`` of kind none, ``(N-1) s²`` each of kinds Q and K,
    ``(N-1)² s²`` of kind QK.
    """
    scoring_head(arch, layer, head)
    top = _check_max_order(arch, layer, max_order)
    if arch.heads is None:
        from math import comb

        per_order = [comb(layer, k) for k in range(layer + 1)]
    else:
        per_order = list(_elementary_symmetric(arch.heads[:layer]))
    n = sum(per_order[: top + 1])
    counts = {"none": 1, "Q": n - 1, "K": n - 1, "QK": (n - 1) ** 2}
    if kind is not None and kind not in counts:
        raise TensorAlgebraError(f"unknown score kind {kind!r}: expected one of {SCORE_KINDS}")
    total = n * n if kind is None else counts[kind]
    return total * len(arch.sources) ** 2
