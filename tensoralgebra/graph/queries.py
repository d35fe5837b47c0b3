"""Questions asked of the graph: paths through a head, terms of a kind into a head, the head
pairs that can K-compose, and the edges that matter up to a given order.

Every query reads the edges of the graph it is given, so it answers for a pruned graph (say,
only the edges whose composition score is high) as well as for the complete one. The term
queries also take an :class:`~tensoralgebra.Architecture` in place of a graph: they then answer
for its complete graph without building it, so a model of any size answers at once. Listings are
counted first and refused above ``limit`` terms (see :mod:`~tensoralgebra.graph.traverse`).

>>> import tensoralgebra as ta
>>> G = ta.graph.build(ta.Architecture(heads=(2, 2)))
>>> [str(p) for p in ta.graph.paths_through(G, "L0H1")]
['L0H1', 'L0H1→L1H0', 'L0H1→L1H1']
>>> for t in ta.graph.terms_into(G, "L1H0", kind="K"):
...     print(t.expr)
Id ⊗ A^{L0H0} ⊗ W_E^T W_QK^{L1H0} W_OV^{L0H0} W_E
Id ⊗ A^{L0H1} ⊗ W_E^T W_QK^{L1H0} W_OV^{L0H1} W_E
>>> ta.graph.k_composition_candidates(G)[:2]
[('L0H0', 'L1H0'), ('L0H0', 'L1H1')]
>>> sorted({c for *_, c in ta.graph.order_subgraph(G, 0).edges(keys=True)})
['K', 'Q', 'out']
>>> big = ta.Architecture(heads=(200,) * 10)  # 5.4 million edges: answered without a graph
>>> ta.graph.count_terms_into(big, "L1H0", "K"), len(list(ta.graph.terms_into(big, "L1H0", "K")))
(200, 200)
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import networkx as nx

from tensoralgebra.graph.build import _short, heads, per_head
from tensoralgebra.graph.keys import HEAD, LAYER, ROLE, UNEMBED, head_name
from tensoralgebra.graph.traverse import (
    MAX_LISTED,
    _limit,
    count_terms,
    list_terms,
    logit_key,
    logit_paths,
    refuse_over,
    score_paths,
)
from tensoralgebra.graph.walk import walker
from tensoralgebra.paths import LogitPath, check_order
from tensoralgebra.scores import ScorePath, check_score_kind, check_side_order


def _through_counts(walk, at, top) -> list[int]:
    """Logit terms through head ``at``, by order: chains into it times chains after it."""
    before, after = walk.side_counts(at, "V"), walk.after_counts(at)
    per = [0] * (walk.arch.n_layers + 1)
    for a, x in enumerate(before):
        for b, y in enumerate(after):
            if x and y and a + 1 + b <= walk.arch.n_layers:
                per[a + 1 + b] += x * y
    return per


def count_paths_through(source, head: object, max_order: int | None = None) -> int:
    """The number of logit terms of order ≤ ``max_order`` through ``head``, by dynamic
    programming (a graph) or in closed form (an architecture)."""
    walk = walker(source)
    at = walk.head(head)
    top = check_order(walk.arch, max_order)
    return sum(_through_counts(walk, at, top)[: (walk.arch.n_layers if top is None else top) + 1])


def paths_through(
    source, head: object, max_order: int | None = None, *, limit: int = MAX_LISTED
) -> list[LogitPath]:
    """Every logit term of order ≤ ``max_order`` whose path passes through ``head``, in the
    enumeration's order: the chains into the head joined to the chains from it to the output."""
    walk = walker(source)
    at = walk.head(head)
    top = check_order(walk.arch, max_order)
    top = walk.arch.n_layers if top is None else top
    per = _through_counts(walk, at, top)
    what = f"{{:,}} logit terms of order ≤ {top} pass through {head_name(*at)}"
    refuse_over(lambda o: sum(per[: o + 1]), top, _limit(limit), what.format)
    if top < 1 or not any(per[: top + 1]):
        return []
    # Chains into the head too long for its shortest way out would be walked in vain.
    shortest_tail = next(b for b, y in enumerate(walk.after_counts(at)) if y)
    before = walk.chains(at, "V", 0, top - 1 - shortest_tail)
    after = walk.tails(at, top - 1 - min(p.order for p in before))
    found = [
        LogitPath((*p.heads, at, *rest), p.source, p.normalization)
        for p in before
        for rest in after
        if p.order + 1 + len(rest) <= top
    ]
    return sorted(found, key=logit_key(walk.arch))


def count_terms_into(
    source,
    head: object,
    kind: str | None = None,
    *,
    through: object = None,
    max_order: int | None = None,
) -> int:
    """The number of score terms :func:`terms_into` lists, without listing them."""
    walk = walker(source)
    at = walk.head(head)
    kind = check_score_kind(kind, allow_none=True)
    via = None if through is None else walk.head(through)
    return count_terms(walk, at, kind, via, check_side_order(walk.arch, at[0], max_order))


def terms_into(
    source,
    head: object,
    kind: str | None = None,
    *,
    through: object = None,
    max_order: int | None = None,
    limit: int = MAX_LISTED,
) -> Iterator[ScorePath]:
    """The score terms of ``head`` of one ``kind`` (``"none"``, ``"Q"``, ``"K"``, ``"QK"``; all
    if ``None``), with a side through head ``through`` if given, in the enumeration's order.
    ``kind="K"`` lists the K-composition paths into the head. Only the chains that can be part
    of such a term are walked, so a few terms of a large model come at once."""
    walk = walker(source)
    at = walk.head(head)
    kind = check_score_kind(kind, allow_none=True)
    via = None if through is None else walk.head(through)
    top = check_side_order(walk.arch, at[0], max_order)
    what = (
        f"{head_name(*at)} has {{:,}} score terms"
        + ("" if kind is None else f" of kind {kind}")
        + ("" if via is None else f" with a side through {head_name(*via)}")
        + f" (sides of order ≤ {top})"
    )
    refuse_over(lambda o: count_terms(walk, at, kind, via, o), top, _limit(limit), what.format)
    return iter(list_terms(walk, at, kind, via, top))


def k_composition_candidates(G: nx.MultiDiGraph, key: str | None = None) -> list[tuple[str, str]]:
    """Head pairs ``(h1, h2)`` that *can* K-compose, by shape only: ``h1`` feeds ``h2``'s key
    input and ``h2`` writes to the output (the wiring of an induction circuit). In a complete
    graph that is every pair of heads in different layers: telling which pairs do compose needs
    weights, e.g. composition scores on the K edges (:func:`add_composition_scores`) and
    ``key="composition"``, which orders the pairs by that value, largest first, and leaves out
    pairs whose K edge lacks it; :func:`prune` then keeps the high ones."""
    per_head(G)
    writers = [h for h in heads(G) if G.has_edge(h, UNEMBED, "out")]
    found = [(h1, h2) for h1 in heads(G) for h2 in writers if G.has_edge(h1, h2, "K")]
    if key is None:
        return found
    weighted = [pair for pair in found if G.edges[(*pair, "K")].get(key) is not None]
    return sorted(weighted, key=lambda pair: -G.edges[(*pair, "K")][key])


def prune(G: nx.MultiDiGraph, key: str, threshold: float) -> nx.MultiDiGraph:
    """A copy of ``G`` without the edges whose ``key`` value is below ``threshold`` (edges with
    no ``key`` value stay: e.g. composition scores exist on head-to-head edges only)."""
    kept = G.copy()
    low = [(u, v, c) for u, v, c, w in G.edges(keys=True, data=key) if w is not None]
    kept.remove_edges_from([(u, v, c) for u, v, c in low if G.edges[u, v, c][key] < threshold])
    return kept


def order_subgraph(G: nx.MultiDiGraph, k: int) -> nx.MultiDiGraph:
    """A copy of ``G`` (all nodes) with only the edges that carry at least one term of order
    ≤ ``k`` lying in ``G``: a logit term through ≤ k heads, or a score term both of whose sides
    pass through ≤ k heads (``max_order=k`` of :func:`score_paths`). Linear in the edges."""
    check_order(per_head(G), k, "k")
    reach = _earliest(G)
    tail_logit, tail_score = _tails_needed(G, reach, k)
    keep = []
    for u, v, c in G.edges(keys=True):
        r = reach[u]["V"]
        if c == "out":
            carried = r
        elif c in ("Q", "K"):
            carried = max(r, reach[v]["K" if c == "Q" else "Q"])
        else:
            carried = r + 1 + min(tail_logit[v], tail_score[v])
        if carried <= k:
            keep.append((u, v, c))
    sub = nx.MultiDiGraph(**G.graph)
    sub.add_nodes_from(G.nodes(data=True))
    sub.add_edges_from((u, v, c, G.edges[u, v, c]) for u, v, c in keep)
    return sub


def _earliest(G: nx.MultiDiGraph) -> dict[str, dict[str, float]]:
    """``reach[v]["V"]``: the fewest heads on a chain from a source ending with ``v``'s output;
    ``reach[v]["Q"]`` and ``["K"]``: the fewest on a chain ``v`` reads with that channel."""
    reach: dict[str, dict[str, float]] = {}
    for v in nx.topological_sort(G):
        into = {c: math.inf for c in ("Q", "K", "V")}
        for u, keys in G.pred[v].items():
            for c in into:
                if c in keys:
                    into[c] = min(into[c], reach[u]["V"])
        if G.nodes[v][ROLE] == "source":
            into["V"] = 0
        elif G.nodes[v][ROLE] == "head":
            into["V"] += 1
        reach[v] = into
    return reach


def _tails_needed(G, reach, k) -> tuple[dict[str, float], dict[str, float]]:
    """The fewest heads after ``v`` that close a logit term, and a side of a score term whose
    other side has order ≤ ``k``."""
    logit: dict[str, float] = {}
    score: dict[str, float] = {}
    for v in reversed(list(nx.topological_sort(G))):
        best_logit = best_score = math.inf
        for w, keys in G.succ[v].items():
            if "out" in keys:
                best_logit = 0
            if ("Q" in keys and reach[w]["K"] <= k) or ("K" in keys and reach[w]["Q"] <= k):
                best_score = 0
            if "V" in keys:
                best_logit = min(best_logit, 1 + logit[w])
                best_score = min(best_score, 1 + score[w])
        logit[v], score[v] = best_logit, best_score
    return logit, score


def carried_terms(
    G: nx.MultiDiGraph, max_order: int | None = None, *, limit: int = MAX_LISTED
) -> Iterator:
    """Every term lying in ``G``: its logit terms, then each head's score terms (by traversal);
    refused up front when there are more than ``limit`` in all."""
    arch = per_head(G)
    top = check_order(arch, max_order)
    nodes = [(G.nodes[n][LAYER], G.nodes[n][HEAD]) for n in heads(G)]
    tops = {at: at[0] if top is None else min(top, at[0]) for at in nodes}
    walk = walker(G)
    count = sum(walk.side_counts(UNEMBED, "out")[: (arch.n_layers if top is None else top) + 1])
    count += sum(count_terms(walk, at, None, None, tops[at]) for at in nodes)
    refuse_over(lambda _: count, 0, _limit(limit), f"{_short(arch)} carries {{:,}} terms".format)
    return _carried(G, max_order, nodes, tops, count or 1)


def _carried(G, max_order, nodes, tops, limit) -> Iterator:
    yield from logit_paths(G, max_order, limit=limit)
    for at in nodes:
        yield from score_paths(G, *at, tops[at], limit=limit)
