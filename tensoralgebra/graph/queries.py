"""Questions asked of the graph: paths through a head, terms of a kind into a head, the
induction-circuit shape, and the edges that matter up to a given order.

Every query reads the edges of the graph it is given, so it answers for a pruned graph (say,
only the edges whose composition score is high) as well as for the complete one.

>>> import tensoralgebra as ta
>>> G = ta.graph.build(ta.Architecture(heads=(2, 2)))
>>> [str(p) for p in ta.graph.paths_through(G, "L0H1")]
['L0H1', 'L0H1→L1H0', 'L0H1→L1H1']
>>> for t in ta.graph.terms_into(G, "L1H0", kind="K"):
...     print(t.expr)
Id ⊗ A^{L0H0} ⊗ W_E^T W_QK^{L1H0} W_OV^{L0H0} W_E
Id ⊗ A^{L0H1} ⊗ W_E^T W_QK^{L1H0} W_OV^{L0H1} W_E
>>> ta.graph.induction_circuits(G)[:2]
[('L0H0', 'L1H0'), ('L0H0', 'L1H1')]
>>> sorted({c for *_, c in ta.graph.order_subgraph(G, 0).edges(keys=True)})
['K', 'Q', 'out']
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import networkx as nx

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.graph.build import architecture, head_node, heads
from tensoralgebra.graph.keys import HEAD, LAYER, ROLE, UNEMBED
from tensoralgebra.graph.traverse import _ordered, chains, logit_paths, score_paths
from tensoralgebra.paths import LogitPath, check_order
from tensoralgebra.scores import SCORE_KINDS, ScorePath


def paths_through(
    G: nx.MultiDiGraph, head: object, max_order: int | None = None
) -> list[LogitPath]:
    """Every logit term of order ≤ ``max_order`` whose path passes through ``head``, in the
    enumeration's order: the chains into the head joined to the chains from it to the output."""
    node = head_node(G, head)
    arch = architecture(G)
    top = check_order(arch, max_order)
    top = arch.n_layers if top is None else top
    here = (G.nodes[node][LAYER], G.nodes[node][HEAD])
    found = [
        LogitPath((*before.heads, here, *after), before.source)
        for before in chains(G, node, "V", top)
        for after in _tails(G, node)
        if before.order + 1 + len(after) <= top
    ]
    by_order = _ordered(G, found)
    return [p for k in sorted(by_order) for p in by_order[k]]


def _tails(G: nx.MultiDiGraph, node: str) -> Iterator[tuple]:
    """The heads after ``node`` on each chain from its output to the unembedding."""
    data = G.nodes
    for v, keys in G.succ[node].items():
        if v == UNEMBED and "out" in keys:
            yield ()
        if data[v][ROLE] == "head" and "V" in keys:
            for rest in _tails(G, v):
                yield ((data[v][LAYER], data[v][HEAD]), *rest)


def _check_kind(kind: object) -> None:
    if kind is not None and kind not in SCORE_KINDS:
        raise TensorAlgebraError(f"unknown score kind {kind!r}: expected one of {SCORE_KINDS}")


def terms_into(
    G: nx.MultiDiGraph,
    head: object,
    kind: str | None = None,
    *,
    through: object = None,
    max_order: int | None = None,
) -> Iterator[ScorePath]:
    """The score terms of ``head`` of one ``kind`` (``"none"``, ``"Q"``, ``"K"``, ``"QK"``; all
    if ``None``), with a side through head ``through`` if given, in the enumeration's order.
    ``kind="K"`` lists the K-composition paths into the head."""
    node = head_node(G, head)
    _check_kind(kind)
    via = None if through is None else _head_pair(G, through)
    terms = score_paths(G, G.nodes[node][LAYER], G.nodes[node][HEAD], max_order)
    return (
        t
        for t in terms
        if kind in (None, t.kind) and (via is None or via in t.query.heads or via in t.key.heads)
    )


def _head_pair(G: nx.MultiDiGraph, head: object) -> tuple[int, int]:
    node = head_node(G, head)
    return G.nodes[node][LAYER], G.nodes[node][HEAD]


def induction_circuits(G: nx.MultiDiGraph, key: str | None = None) -> list[tuple[str, str]]:
    """Pairs ``(h1, h2)`` shaped like an induction circuit: ``h1`` feeds ``h2``'s key input and
    ``h2`` writes to the output. In graph order; by the K edge's ``key`` value, largest first,
    when ``key`` is given (pairs whose K edge lacks it are left out)."""
    writers = [h for h in heads(G) if G.has_edge(h, UNEMBED, "out")]
    found = [(h1, h2) for h1 in heads(G) for h2 in writers if G.has_edge(h1, h2, "K")]
    if key is None:
        return found
    weighted = [pair for pair in found if key in G.edges[(*pair, "K")]]
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
    check_order(architecture(G), k, "k")
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


def carried_terms(G: nx.MultiDiGraph, max_order: int | None = None) -> Iterator:
    """Every term lying in ``G``: its logit terms, then each head's score terms (by traversal)."""
    yield from logit_paths(G, max_order)
    for node in heads(G):
        layer, h = G.nodes[node][LAYER], G.nodes[node][HEAD]
        top = None if max_order is None else min(max_order, layer)
        yield from score_paths(G, layer, h, top)
