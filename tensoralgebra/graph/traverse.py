"""Terms of the expansion as paths through the graph: listing by traversal, counting by DP.

A logit term is a chain of V edges from a source, closed by an ``out`` edge into the
unembedding; one side of a score term is such a chain closed by a Q or K edge into the scoring
head. Walking the graph backwards from the unembedding (or the head) along those edges finds
exactly the paths of :func:`tensoralgebra.logit_paths` (or the pairs of
:func:`tensoralgebra.score_paths`), as the same objects.

Order: the listing arranges the chains as the enumeration does, by order, then the layers
passed, then the heads, then the source; score terms by total order, query order highest first,
query layers, key layers, query heads, key heads, sources.

Bounds: every listing is counted first, by dynamic programming over the graph (or in closed form
from an architecture, which every function here accepts in place of a graph), and refused above
``limit`` terms (:data:`MAX_LISTED` by default) with an
:class:`~tensoralgebra.errors.ExpansionLimitError` that names a ``max_order`` that fits.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(2, 2))
>>> G = ta.graph.build(arch)
>>> [str(p) for p in ta.graph.logit_paths(G, max_order=1)]
['direct', 'L0H0', 'L0H1', 'L1H0', 'L1H1']
>>> list(ta.graph.logit_paths(G)) == list(ta.logit_paths(arch))
True
>>> ta.graph.count_score_paths(G, 1, 0, kind="K"), ta.count_score_paths(arch, 1, 0, kind="K")
(2, 2)
>>> try:
...     ta.graph.logit_paths(ta.Architecture(heads=(12,) * 12))
... except ta.ExpansionLimitError as error:
...     print(error.reason[:82], error.option, error.value, sep="\\n")
Architecture(heads=(12, 12, ...)) has 23,298,085,122,481 logit terms of order ≤ 12
max_order
2
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise

import networkx as nx

from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.expr.expand import MAX_TERMS
from tensoralgebra.expr.indices import Head
from tensoralgebra.graph.build import _short
from tensoralgebra.graph.keys import UNEMBED, head_name
from tensoralgebra.graph.sources import source_rank
from tensoralgebra.graph.walk import GraphWalk, fits, walker
from tensoralgebra.paths import LogitPath, check_order
from tensoralgebra.scores import ScorePath, check_score_kind, check_side_order
from tensoralgebra.validation import positive_integer

Edge = tuple[str, str, str]
#: The most terms (or chains) a listing returns; above it, it refuses and names a
#: ``max_order`` that fits. The same bound as ``ta.expand``'s.
MAX_LISTED = MAX_TERMS
#: Which sides of a score term pass through earlier heads, by kind: (query side, key side).
KIND_SIDES = {"none": (False, False), "Q": (True, False), "K": (False, True), "QK": (True, True)}


def refuse_over(
    count_at: Callable[[int], int], top: int, limit: int, what: Callable[[int], str]
) -> None:
    """Refuse a listing of more than ``limit`` items (``count_at(top)`` of them), naming the
    largest ``max_order`` that lists some and fits, when there is one."""
    n = count_at(top)
    if n <= limit:
        return
    fit = fits(count_at, top, limit)
    raise ExpansionLimitError(
        f"{what(n)}, more than the {limit:,} listed at once",
        option=None if fit is None else "max_order",
        value=fit,
    )


def _limit(limit: object) -> int:
    return positive_integer(limit, "limit")


def logit_key(arch) -> Callable[[LogitPath], tuple]:
    """The enumeration's order of logit terms: order, layers, heads, source."""
    rank = source_rank(arch)
    return lambda p: (p.order, p.layers, tuple(h for _, h in p.heads), rank[p.source])


def score_key(arch) -> Callable[[ScorePath], tuple]:
    """The enumeration's order of score terms (see the module's docstring)."""
    side = logit_key(arch)

    def key(t: ScorePath) -> tuple:
        (qo, ql, qh, qs), (ko, kl, kh, ks) = side(t.query), side(t.key)
        return (qo + ko, -qo, ql, kl, qh, kh, qs, ks)

    return key


def chains(
    G: nx.MultiDiGraph, node: str, channel: str, top: int, *, limit: int = MAX_LISTED
) -> list[LogitPath]:
    """Every chain of V edges from a source, through at most ``top`` heads, that ``node`` (a
    head or the unembedding) reads with ``channel``, as :class:`~tensoralgebra.LogitPath`\\ s in
    the enumeration's order."""
    walk = GraphWalk(G)
    target = UNEMBED if node == UNEMBED else walk.head(node)
    per = walk.side_counts(target, channel)
    refuse_over(
        lambda o: sum(per[: o + 1]), top, _limit(limit), lambda n: f"{node} reads {n:,} chains"
    )
    return sorted(walk.chains(target, channel, 0, top), key=logit_key(walk.arch))


def logit_paths(
    source, max_order: int | None = None, *, limit: int = MAX_LISTED
) -> Iterator[LogitPath]:
    """Every logit term of order ≤ ``max_order`` whose path lies in ``source`` (a graph, or an
    architecture's complete graph), by traversal; on a graph from :func:`build` these are
    ``ta.logit_paths(arch, max_order)``, in its order."""
    walk = walker(source)
    top = check_order(walk.arch, max_order)
    top = walk.arch.n_layers if top is None else top
    per = walk.side_counts(UNEMBED, "out")
    what = f"{_short(walk.arch)} has {{:,}} logit terms of order ≤ {top}"
    refuse_over(lambda o: sum(per[: o + 1]), top, _limit(limit), what.format)
    return iter(sorted(walk.chains(UNEMBED, "out", 0, top), key=logit_key(walk.arch)))


def count_logit_paths(source, order: int | None = None) -> int:
    """The number of logit terms in ``source`` (of one ``order``, or all), by dynamic
    programming; ``ta.count_logit_paths(arch, order)`` on a graph from :func:`build`."""
    walk = walker(source)
    order = check_order(walk.arch, order, "order")
    per_order = walk.side_counts(UNEMBED, "out")
    return sum(per_order) if order is None else per_order[order]


def _sides(walk, head, via, top) -> dict[str, int]:
    """Chains into ``head``'s query and key inputs, uncomposed (order 0) and composed (1..top),
    all (``"Q0"``, ``"Q+"``) and through ``via`` (``"Qv0"``, ``"Qv+"``)."""
    out = {}
    for c in ("Q", "K"):
        for tag, v in (("", None), ("v", via)):
            per = walk.side_counts(head, c, v) if tag == "" or via is not None else [0] * (top + 1)
            out[f"{c}{tag}0"], out[f"{c}{tag}+"] = per[0], sum(per[1 : top + 1])
    return out


def count_terms(walk, head, kind, via, top) -> int:
    """The number of score terms of ``head`` of ``kind`` (all if None), sides of order ≤
    ``top``, with a side through ``via`` if given: products of side counts."""
    n = _sides(walk, head, via, top)
    total = 0
    for name, (q_composed, k_composed) in KIND_SIDES.items():
        if kind not in (None, name):
            continue
        q, k = ("+" if q_composed else "0"), ("+" if k_composed else "0")
        qa, ka, qv, kv = n[f"Q{q}"], n[f"K{k}"], n[f"Qv{q}"], n[f"Kv{k}"]
        total += qa * ka if via is None else qv * ka + qa * kv - qv * kv
    return total


def list_terms(walk, head, kind, via, top) -> list[ScorePath]:
    """The score terms :func:`count_terms` counts, in the enumeration's order. Each side is
    listed only when the other side has chains, so the work is bounded by the count."""
    n, index, found = _sides(walk, head, via, top), Head(*head), []
    for name, (q_composed, k_composed) in KIND_SIDES.items():
        if kind not in (None, name):
            continue
        q, k = ("+" if q_composed else "0"), ("+" if k_composed else "0")
        q_range, k_range = (
            ((1, top) if q_composed else (0, 0)),
            ((1, top) if k_composed else (0, 0)),
        )
        groups = [(None, None)] if via is None else [(via, None), (None, via)]
        for q_via, k_via in groups:
            if not (n[f"Q{'v' if q_via else ''}{q}"] and n[f"K{'v' if k_via else ''}{k}"]):
                continue
            qs = walk.chains(head, "Q", *q_range, via=q_via)
            ks = walk.chains(head, "K", *k_range, via=k_via)
            for query in qs:
                if k_via is not None and via in query.heads:
                    continue  # listed with the query side through ``via`` already
                found += [score_term(walk.arch, query, key, index) for key in ks]
    return sorted(found, key=score_key(walk.arch))


def score_term(arch, query: LogitPath, key: LogitPath, index: Head) -> ScorePath:
    """The score term of ``index`` with these sides, its fields set as ``ta.score_paths`` sets
    them (the paper's model keeps the paper's fields only)."""
    layer = None if arch.is_idealised else index.layer
    return ScorePath(query, key, index, layer, arch.positional == "shortformer")


def score_paths(
    source, layer: int, head: int = 0, max_order: int | None = None, *, limit: int = MAX_LISTED
) -> Iterator[ScorePath]:
    """Every score term of a head with sides of order ≤ ``max_order`` whose paths lie in
    ``source`` (a graph, or an architecture's complete graph), by traversal; on a graph from
    :func:`build` these are ``ta.score_paths(arch, layer, head, max_order)``, in its order."""
    walk = walker(source)
    at = walk.head((layer, head))
    top = check_side_order(walk.arch, layer, max_order)
    what = f"{head_name(*at)} has {{:,}} score terms with sides of order ≤ {top}"
    refuse_over(lambda o: count_terms(walk, at, None, None, o), top, _limit(limit), what.format)
    return iter(list_terms(walk, at, None, None, top))


def count_score_paths(
    source,
    layer: int,
    head: int = 0,
    *,
    kind: str | None = None,
    max_order: int | None = None,
) -> int:
    """The number of score terms of a head in ``source`` (of one ``kind``, sides of order ≤
    ``max_order``), by dynamic programming; ``ta.count_score_paths`` on a graph from
    :func:`build`."""
    walk = walker(source)
    at = walk.head((layer, head))
    top = check_side_order(walk.arch, layer, max_order)
    return count_terms(walk, at, check_score_kind(kind, allow_none=True), None, top)


def chain_edges(path: LogitPath, node: str, channel: str) -> list[Edge]:
    """The edges ``(u, v, channel)`` of a chain that ``node`` reads with ``channel``."""
    names = [path.source, *(head_name(layer, h) for layer, h in path.heads)]  # sources' nodes
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
