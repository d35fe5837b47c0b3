"""Terms of the expansion as paths through the graph: listing by traversal, counting by DP.

A logit term is a chain of V edges from a source, closed by an ``out`` edge into the
unembedding; one side of a score term is such a chain closed by a Q or K edge into the scoring
head. Walking the graph backwards from the unembedding (or the head) along those edges finds
exactly the paths of :func:`tensoralgebra.logit_paths` (or the pairs of
:func:`tensoralgebra.score_paths`), as the same objects.

Order: the walk finds a node's chains in the graph's edge order; the listing then arranges them
as the enumeration does, by order, then the layers passed, then the heads, then the source
(sorting each order's chains by ``(layers, heads, source)``); score terms pair the two sides by
total order, query order highest first, query layers, key layers, query heads, key heads, sources.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(2, 2))
>>> G = ta.graph.build(arch)
>>> [str(p) for p in ta.graph.logit_paths(G, max_order=1)]
['direct', 'L0H0', 'L0H1', 'L1H0', 'L1H1']
>>> list(ta.graph.logit_paths(G)) == list(ta.logit_paths(arch))
True
>>> ta.graph.count_score_paths(G, 1, 0, kind="K"), ta.count_score_paths(arch, 1, 0, kind="K")
(2, 2)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from itertools import groupby, pairwise

import networkx as nx

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head
from tensoralgebra.graph.build import architecture, head_node
from tensoralgebra.graph.keys import HEAD, LAYER, ROLE, SOURCE, SOURCE_NODES, UNEMBED, head_name
from tensoralgebra.paths import LogitPath, check_order
from tensoralgebra.scores import SCORE_KINDS, ScorePath, _check_max_order

Edge = tuple[str, str, str]


def chains(G: nx.MultiDiGraph, node: str, channel: str, top: int) -> list[LogitPath]:
    """Every chain of V edges from a source, through at most ``top`` heads, that ``node`` reads
    with ``channel``, as a :class:`~tensoralgebra.LogitPath` (unsorted)."""
    found: list[LogitPath] = []
    data, pred = G.nodes, G.pred

    def walk(u: str, later: tuple) -> None:
        # ``later``: the heads after u on the chain, earliest first.
        if data[u][ROLE] == "source":
            found.append(LogitPath(later, data[u][SOURCE]))
            return
        heads = ((data[u][LAYER], data[u][HEAD]), *later)
        if len(heads) > top:
            return
        for w, keys in pred[u].items():
            if "V" in keys:
                walk(w, heads)

    for u, keys in pred[node].items():
        if channel in keys:
            walk(u, ())
    return found


def _ordered(G: nx.MultiDiGraph, paths: list[LogitPath]) -> dict[int, list[LogitPath]]:
    """``paths`` by order, each order sorted by (layers, heads, source) as the enumeration."""
    rank = {s: i for i, s in enumerate(architecture(G).sources)}
    by_order: dict[int, list[LogitPath]] = defaultdict(list)
    for p in paths:
        by_order[p.order].append(p)
    for same in by_order.values():
        same.sort(key=lambda p: (p.layers, tuple(h for _, h in p.heads), rank[p.source]))
    return by_order


def logit_paths(G: nx.MultiDiGraph, max_order: int | None = None) -> Iterator[LogitPath]:
    """Every logit term of order ≤ ``max_order`` whose path lies in ``G``, by traversal; on a
    graph from :func:`build` these are ``ta.logit_paths(arch, max_order)``, in its order."""
    arch = architecture(G)
    top = check_order(arch, max_order)
    top = arch.n_layers if top is None else top
    by_order = _ordered(G, chains(G, UNEMBED, "out", top))
    return (p for k in range(top + 1) for p in by_order.get(k, ()))


def score_paths(
    G: nx.MultiDiGraph, layer: int, head: int = 0, max_order: int | None = None
) -> Iterator[ScorePath]:
    """Every score term of a head with sides of order ≤ ``max_order`` whose paths lie in ``G``,
    by traversal; on a graph from :func:`build` these are ``ta.score_paths(arch, layer, head,
    max_order)``, in its order."""
    node = head_node(G, (layer, head))
    top = _check_max_order(architecture(G), layer, max_order)
    queries = _ordered(G, chains(G, node, "Q", top))
    keys = _ordered(G, chains(G, node, "K", top))
    return _pairs(queries, keys, top, Head(layer, head))


def _pairs(queries: dict, keys: dict, top: int, index: Head) -> Iterator[ScorePath]:
    def layers(p):
        return p.layers

    def heads(p):
        return p.heads

    for total in range(2 * top + 1):
        for q_order in range(min(total, top), max(0, total - top) - 1, -1):
            q_groups = [list(g) for _, g in groupby(queries.get(q_order, ()), layers)]
            k_groups = [list(g) for _, g in groupby(keys.get(total - q_order, ()), layers)]
            for q_layer in q_groups:
                for k_layer in k_groups:
                    for _, q_same in groupby(q_layer, heads):
                        q_same = list(q_same)
                        for _, k_same in groupby(k_layer, heads):
                            k_same = list(k_same)
                            for q in q_same:
                                for k in k_same:
                                    yield ScorePath(q, k, index)


def chain_counts(G: nx.MultiDiGraph) -> dict[str, list[int]]:
    """``counts[v][k]``: how many V chains from a source end with ``v``'s output after passing
    ``k`` heads (``v`` included), by dynamic programming over the DAG, for every writer ``v``."""
    n = architecture(G).n_layers + 1
    counts: dict[str, list[int]] = {}
    for v in nx.topological_sort(G):
        data = G.nodes[v]
        if data[ROLE] == "source":
            counts[v] = [1] + [0] * (n - 1)
        elif data[ROLE] == "head":
            total = [0] * n
            for u, keys in G.pred[v].items():
                if "V" in keys:
                    for k, c in enumerate(counts[u][:-1]):
                        total[k + 1] += c
            counts[v] = total
    return counts


def counts_into(G: nx.MultiDiGraph, node: str, channel: str, counts=None) -> list[int]:
    """How many chains ``node`` reads with ``channel``, per order (index = order)."""
    counts = chain_counts(G) if counts is None else counts
    total = [0] * (architecture(G).n_layers + 1)
    for u, keys in G.pred[node].items():
        if channel in keys:
            total = [a + b for a, b in zip(total, counts[u])]
    return total


def count_logit_paths(G: nx.MultiDiGraph, order: int | None = None) -> int:
    """The number of logit terms in ``G`` (of one ``order``, or all), by dynamic programming;
    ``ta.count_logit_paths(arch, order)`` on a graph from :func:`build`."""
    order = check_order(architecture(G), order, "order")
    per_order = counts_into(G, UNEMBED, "out")
    return sum(per_order) if order is None else per_order[order]


def count_score_paths(
    G: nx.MultiDiGraph,
    layer: int,
    head: int = 0,
    *,
    kind: str | None = None,
    max_order: int | None = None,
) -> int:
    """The number of score terms of a head in ``G`` (of one ``kind``, sides of order ≤
    ``max_order``), by dynamic programming; ``ta.count_score_paths`` on a graph from
    :func:`build`."""
    node = head_node(G, (layer, head))
    top = _check_max_order(architecture(G), layer, max_order)
    if kind is not None and kind not in SCORE_KINDS:
        raise TensorAlgebraError(f"unknown score kind {kind!r}: expected one of {SCORE_KINDS}")
    counts = chain_counts(G)
    q = counts_into(G, node, "Q", counts)[: top + 1]
    k = counts_into(G, node, "K", counts)[: top + 1]
    q0, qn, k0, kn = q[0], sum(q[1:]), k[0], sum(k[1:])
    by_kind = {"none": q0 * k0, "Q": qn * k0, "K": q0 * kn, "QK": qn * kn}
    return sum(by_kind.values()) if kind is None else by_kind[kind]


def chain_edges(path: LogitPath, node: str, channel: str) -> list[Edge]:
    """The edges ``(u, v, channel)`` of a chain that ``node`` reads with ``channel``."""
    names = [SOURCE_NODES[path.source], *(head_name(layer, h) for layer, h in path.heads)]
    hops = [(u, v, "V") for u, v in pairwise(names)]
    return [*hops, (names[-1], node, channel)]


def term_edges(term: LogitPath | ScorePath) -> list[Edge]:
    """The edges a term's path runs along: a logit term's chain into the unembedding; a score
    term's query chain into its head's Q input, then its key chain into the K input."""
    if isinstance(term, ScorePath):
        node = head_name(term.head.layer, term.head.head)
        return [*chain_edges(term.query, node, "Q"), *chain_edges(term.key, node, "K")]
    if isinstance(term, LogitPath):
        return chain_edges(term, UNEMBED, "out")
    raise TensorAlgebraError(f"a term is a LogitPath or a ScorePath, got {term!r}")
