"""The score terms that matter: a branch-and-bound search over pairs of a query and a key path.

Head ``(l, h)`` scores query position ``i`` against key position ``j`` (unscaled, before the
mask) with ``S[i, j] = Σ_{q, k} q_q · k_k``, a sum over pairs of a query side ``q`` and a key side
``k`` (docs/conventions.md §4, :mod:`tensoralgebra.scores`), where a side's vector [d_head] is

    q_p = s_l[i] (r_p[i] W̃_l^T) W_Q^{hT}      (k_p likewise at j with W_K^h)

for a path ``p`` through layers before ``l`` carrying the stream ``r_p`` [rows, d_model] (§2),
``s_l = 1/σ`` the frozen scale of layer ``l``'s LayerNorm and ``W̃_l`` its weight times the
centring (``s = 1``, ``W̃ = Id`` without LayerNorm). In real architectures (§7) a side may also
start from a layer's constant source ``bias L<m>`` (the stream ``1 c^{Lm T}``, extended by later
layers), from shortformer positions (``W_pos[:, i] W_Q^T``, through no LayerNorm) or from the
head's own constant (``c_Q``, ``c_K``: the vector itself). One head more on a stream is
``r_{(p,m,h)} = Â^{m,h} (r_p W̃_m^T) W_OV^{m,hT}`` with ``Â^{m,h} = A^{m,h} diag(s_m)``.

**Side bounds.** As in :mod:`~tensoralgebra.numeric.path_search`, with ``n`` the row norms of a
prefix's stream and completions allowed heads in layers ``m..l-1``, splitting them by their last
head ``(m', h')`` (row norms map through a head to at most ``ρ_{m',h'} Â n``,
``ρ = ||W_OV W̃_{m'}||_2``, and the last head's read is ``P W_OV^{m',h'} W̃_{m'}``):

    Σ_c ||q_c|| ≤ T_m · n,   T_m = ||P||_2 s_l[i] e_i + G_m,
    G_m = Σ_{h'} ||P W_OV^{m,h'} W̃_m||_2 s_l[i] Â^{m,h'}[i, :] + G_{m+1} F_m,   G_l = 0,

``F_m = Id + Σ_{h'} ρ_{m,h'} Â^{m,h'}``, for ``P = W_Q W̃_l`` (the d_head-space bound) and for
``P = W̃_l`` (the size of what the head reads, the model-space bound). A child ``p + (m, h)``
waits with ``K_{m,h} · n_p``, ``K_{m,h} = ||P W_OV^{m,h} W̃_m|| s_l[i] Â^{m,h}[i, :] +
ρ_{m,h} G_{m+1} Â^{m,h}`` (its own path, then its completions), computed from its parent's stream.

**Largest sides.** The same kinds bound the largest ``||q_c||`` over a prefix's completions
(``V``, ``KV``: the entrywise maximum of the kinds' vectors, as ``V_l`` in
:mod:`~tensoralgebra.numeric.path_bounds`). When a prefix is split, its children's own sides
are computed at once, exactly (a child's stream at the read position is
``(Â^{m,h}[pos, :] (r_p W̃_m^T)) W_V^T W_O^T``): each child is bounded by its own side's norm
plus (or, for the largest, at most) what its completions through further heads add.

**Pair bounds.** For any sets ``Q``, ``K`` of sides, by Cauchy–Schwarz twice,
``Σ_{q∈Q, k∈K} |q · k| ≤ (Σ ||q||)(Σ ||k||)``, and as ``q · k = ρ_q W_QK ρ_k^T`` for the model-space
reads ``ρ``, also ``≤ ||W_QK^h||_2 (Σ ||ρ_q||)(Σ ||ρ_k||)``; the largest term of a pair is
bounded by the same products of the largest sides. A pair of one side that is a single path
(its vector ``v`` exact) and an open one is bounded better: ``v · k_c`` is the read
``u · r_c[pos]`` of the open side's stream with ``u = s_l[pos] W̃_l^T W^T v``, so the logit-path
bounds of :mod:`~tensoralgebra.numeric.path_bounds` apply, read in ``v``'s direction (one table
per such leaf, made when a pair of it first reaches the top of the frontier; a child's own side
read exactly, ``|v · own|``). The frontier is ordered by the pair's bound on its largest term.
The head's own constants have no model-space read: they use the first product. Expanding a pair
splits one open side (the one with the larger sum bound) into its own path (a leaf, its vector
exact) and its children; a pair of leaves is a term, evaluated exactly (``q · k``). The search
stops as ``top_paths`` does: the top ``k`` certain (``exact``), the frontier empty, or
``max_expansions`` pairs split (best effort). The **certificate** is the sum of the frontier's
pair sum bounds plus the ``|value|`` of terms evaluated but not returned. Bounds are widened by
a rounding margin.

Everything runs in torch on the model's device and dtype (bounds in float64 there); per step
only the bound scalars the frontier orders by come back to the host.

>>> import tensoralgebra as ta
>>> model = ta.AttentionOnlyTransformer(ta.Weights.random(
...     ta.Architecture(heads=(2, 2)), d_model=16, d_head=4, d_vocab=20, n_ctx=8, seed=0))
>>> top = ta.top_score_paths(model, [[3, 1, 4, 1, 5, 9]], layer=1, head=0, k=3)
>>> len(top.paths), top.exact, top.query
(3, True, 5)
>>> bool(abs(top.total - sum(top.contributions)) <= abs(top.total) + top.certificate)
True
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import torch

from tensoralgebra import validation
from tensoralgebra.expr.indices import Head
from tensoralgebra.numeric import budget
from tensoralgebra.numeric.model import check_model
from tensoralgebra.numeric.path_search import ENTRY_BYTES
from tensoralgebra.numeric.path_search_report import (
    MAX_EXPANSIONS,
    TopScorePaths,
    keep_best,
    search_fields,
)
from tensoralgebra.numeric.score_sides import Role, SideNode, Streams, root_sides
from tensoralgebra.paths import LogitPath
from tensoralgebra.scores import ScorePath


def top_score_paths(
    model,
    tokens,
    layer: int,
    head: int,
    k: int = 10,
    *,
    query: int | None = None,
    key: int | None = None,
    batch: int = 0,
    max_expansions: int = MAX_EXPANSIONS,
    max_bytes: int = budget.MEMORY_BUDGET,
) -> TopScorePaths:
    """The ``k`` score terms of head ``(layer, head)`` with the largest ``|value|`` at ``(query,
    key)``.

    ``tokens`` [batch, seq]; ``batch``: the sequence searched (default 0); ``query``: the query
    position ``0..seq-1`` (default the last); ``key``: the key position ``0..query`` (default the
    one the head attends to most from ``query``). A term's value is its part of the unscaled
    pre-softmax score ``S[query, key]`` with the patterns (and LayerNorm scales) of one forward
    pass frozen; terms are :class:`~tensoralgebra.ScorePath` s, as ``ta.score_paths`` lists
    them (real architectures' constant sides included). At most ``max_expansions`` pairs are
    split; a search that would hold more than ``max_bytes`` is refused up front. Returns a
    :class:`~tensoralgebra.numeric.path_search_report.TopScorePaths`.
    """
    model = check_model(model, "top_score_paths")
    arch = model.architecture
    array = model.tokens(tokens)
    layer = validation.index(
        layer, "layer", arch.n_layers, context=f"the model has layers 0..{arch.n_layers - 1}"
    )
    n = arch.heads[layer]
    head = validation.index(head, "head", n, context=f"layer {layer} has heads 0..{n - 1}")
    k = validation.positive_integer(k, "k")
    n_batch, seq = array.shape
    batch = validation.index(batch, "batch", n_batch, context=f"the tokens have {n_batch} rows")
    query = seq - 1 if query is None else query
    query = validation.index(query, "query", seq, context=f"the tokens have positions 0..{seq - 1}")
    max_expansions = validation.positive_integer(max_expansions, "max_expansions")
    max_bytes = validation.positive_integer(max_bytes, "max_bytes")
    trace = model.run(array[batch : batch + 1, : query + 1])
    if key is None:
        key = int(np.argmax(trace.pattern(layer, head)[0, query]))
    context = f"a query at {query} reads keys 0..{query} (the mask hides later ones)"
    key = validation.index(key, "key", query + 1, context=context)
    _check_memory(model, layer, query + 1, max_expansions, max_bytes)
    search = ScoreSearch(model, trace, layer, head, query, key)
    search.run(k, max_expansions)
    total = float(trace.head_scores(layer, head)[0, query, key])
    return search.result(k, total, max_expansions)


def score_search_bytes(model, layer: int, rows: int, expansions: int) -> int:
    """What a search holds at most: the forward pass of one sequence, the bound matrices and the
    float64 weights the directed bounds read, and per split pair one stream [rows, d_model], one
    frontier entry per head before ``layer``, its children's own sides and one leaf's bounds read
    in its direction (``T``, ``V``, ``K``, ``KV``, float64)."""
    d_vocab, d_model = model.W_U.shape
    itemsize = model.W_U.dtype.itemsize
    arch = model.architecture
    heads, before = sum(arch.heads), sum(arch.heads[:layer])
    traced = itemsize * (2 * heads * rows * rows + (2 * arch.n_layers + 1) * rows * d_model)
    traced += 3 * itemsize * rows * d_vocab + 8 * heads * rows * rows
    bounds = 8 * 4 * (before + layer + 1) * rows
    # the directed bounds' float64 inputs (W_V W̃, W_O, patterns), made once
    bounds += 8 * before * (2 * d_model * model.d_head + rows * rows)
    directed = 8 * 2 * (before + layer + 1) * rows  # one leaf's table
    children = itemsize * before * model.d_head  # a split's children's own sides
    per = itemsize * rows * d_model + ENTRY_BYTES * (before + 2) + directed + children
    return traced + bounds + (expansions + len(arch.sources) + layer + 2) * per


def _check_memory(model, layer: int, rows: int, expansions: int, max_bytes: int) -> None:
    nbytes = score_search_bytes(model, layer, rows, expansions)
    if nbytes <= max_bytes:
        return
    fit = budget.largest_fitting(
        lambda e: score_search_bytes(model, layer, rows, e), max_bytes, expansions
    )
    what = f"a top_score_paths search of {expansions:,} expansions at query {rows - 1}"
    note = "" if fit else " (an earlier query or a smaller model would need less)"
    raise budget.refusal(what, nbytes, max_bytes, "max_expansions" if fit else None, fit, note)


def qk_norm(W_Q: torch.Tensor, W_K: torch.Tensor) -> float:
    """``||W_Q^T W_K||_2`` [d_head, d_model] each, from the triangular factors of their QRs."""
    _, R_q = torch.linalg.qr(W_Q.T)
    _, R_k = torch.linalg.qr(W_K.T)
    return float(torch.linalg.matrix_norm(R_q @ R_k.T, ord=2))


class ScoreSearch:
    """The pair frontier, the evaluated terms and both sides' bounds of one search."""

    def __init__(self, model, trace, layer: int, head: int, query: int, key: int):
        self.arch, self.layer, self.head = model.architecture, layer, head
        self.query, self.key = query, key
        attention = model.layers[layer]
        with torch.no_grad():
            streams = Streams(model, trace, layer)
            self.roles = (
                Role(streams, attention.W_Q[head], query, "query", head),
                Role(streams, attention.W_K[head], key, "key", head),
            )
        self.margin = streams.margin
        self.qk = self.margin * qk_norm(attention.W_Q[head].double(), attention.W_K[head].double())
        self.frontier: list = []
        self.found: list[tuple[ScorePath, float]] = []
        self.expansions, self._count = 0, 0
        with torch.no_grad():
            sides = [root_sides(role) for role in self.roles]
        for q in sides[0]:
            for k in sides[1]:
                self._pair(q, k)

    def _pair(self, q: SideNode, k: SideNode) -> None:
        """Evaluate a pair of leaves, or put a pair with an open side in the frontier."""
        if q.is_leaf and k.is_leaf:
            self.found.append((self.term(q.path, k.path), float(q.vector @ k.vector)))
            return
        bound, largest = (self._product(q.bound, k.bound), self._product(q.largest, k.largest))
        leaf = _leaf_of(q, k)
        directed = leaf is not None and leaf.table is not None
        if directed:
            total, most = (k if leaf is q else q).directed(leaf)
            bound, largest = min(bound, total), min(largest, most)
        self._count += 1
        entry = (-min(largest, bound), self._count, q, k, bound, directed)
        heapq.heappush(self.frontier, entry)

    def _product(self, q: tuple[float, float], k: tuple[float, float]) -> float:
        """A bound on ``|q · k|`` (summed, or the largest) from the sides' bounds: the product
        of the d_head-space ones, or ``||W_QK||`` times the model-space ones when smaller."""
        bound = q[0] * k[0]
        if math.isfinite(q[1]) and math.isfinite(k[1]):
            bound = min(bound, self.qk * q[1] * k[1])
        return bound

    def term(self, q: LogitPath, k: LogitPath) -> ScorePath:
        arch = self.arch
        layer_field = None if arch.is_idealised else self.layer
        short = arch.positional == "shortformer"
        return ScorePath(q, k, Head(self.layer, self.head), layer_field, short)

    def run(self, k: int, max_expansions: int) -> None:
        """Split pairs best first until the top ``k`` are certain, the frontier is empty, or
        ``max_expansions`` pairs have been split."""
        best: list[float] = []
        for _, value in self.found:
            keep_best(best, abs(value), k)
        while self.frontier and self.expansions < max_expansions:
            if len(best) == k and -self.frontier[0][0] < best[0]:
                return
            _, _, q, key, _, directed = heapq.heappop(self.frontier)
            leaf = _leaf_of(q, key)
            if leaf is not None and not directed:
                # A leaf against an open side: read the open side in the leaf's direction (one
                # table per leaf, made when first needed), and let the pair wait again.
                if leaf.table is None:
                    with torch.no_grad():
                        leaf.table = (key if leaf is q else q).role.directed(leaf.vector)
                self._pair(q, key)
                continue
            before = len(self.found)
            with torch.no_grad():
                self._split(q, key)
            self.expansions += 1
            for _, value in self.found[before:]:
                keep_best(best, abs(value), k)

    def _split(self, q: SideNode, key: SideNode) -> None:
        """Split the open side of the pair with the larger bound (the one side open if one is)."""
        if key.is_leaf or (not q.is_leaf and q.bound[0] >= key.bound[0]):
            leaf, *children = q.split()
            for part in children:
                self._pair(part, key)
            self._dive(leaf, key, first=True)
        else:
            leaf, *children = key.split()
            for part in children:
                self._pair(q, part)
            self._dive(q, leaf, first=False)

    def _dive(self, q: SideNode, key: SideNode, first: bool) -> None:
        """Pair the side just split to a leaf with the other side split too (not waiting in
        the frontier), so that every expansion evaluates a term: a deep model's bounds would
        otherwise keep the search splitting open prefixes without ever finishing one."""
        other = key if first else q
        if other.is_leaf:
            self._pair(q, key)
            return
        for part in other.split():
            self._pair(q, part) if first else self._pair(part, key)

    def result(self, k: int, total: float, max_expansions: int) -> TopScorePaths:
        sums = (e[4] for e in self.frontier)
        fields = search_fields(self, lambda t: score_sort_key(t, self.arch), k, sums)
        return TopScorePaths(
            **fields, total=total, layer=self.layer, head=self.head, query=self.query,
            key=self.key, max_expansions=max_expansions,
        )  # fmt: skip


def _leaf_of(q: SideNode, k: SideNode) -> SideNode | None:
    """The leaf of a pair of a leaf and an open side (``None`` otherwise)."""
    if q.is_leaf != k.is_leaf:
        return q if q.is_leaf else k
    return None


def score_sort_key(term: ScorePath, arch) -> tuple:
    """About the order of ``ta.score_paths``: total order, query order highest first, layers,
    heads, then sources (tokens, positions, constant sources by layer, the head's own)."""
    q, k = term.query, term.key

    def rank(source: str) -> tuple:
        known = (*arch.sources, "position")
        return (0, known.index(source), "") if source in known else (1, 0, source)

    heads = (tuple(h for _, h in q.heads), tuple(h for _, h in k.heads))
    return (q.order + k.order, -q.order, q.layers, k.layers, heads, rank(q.source), rank(k.source))
