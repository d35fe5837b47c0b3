"""Chains of V-composition read off a graph or an architecture, counted before they are listed.

A *chain* is what a reader reads with one input: a source's embedding passed through heads of
increasing layers by their OV circuits (a :class:`~tensoralgebra.LogitPath`). Every term query
(:mod:`~tensoralgebra.graph.traverse`, :mod:`~tensoralgebra.graph.queries`) counts chains by
order first, by dynamic programming, and lists them only when the count is small enough, so a
question about a large model answers or refuses at once. The same questions are answered from a
graph (its edges, so pruned graphs give their own answers) or from an architecture (every head
reads every earlier head: no graph is built, so any size answers lazily):

>>> import tensoralgebra as ta
>>> walk = walker(ta.Architecture(heads=(200,) * 10))
>>> walk.side_counts((1, 0))  # chains L1H0 reads: the token, or through one of 200 heads
[1, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0]
>>> walk.side_counts((1, 0), via=(0, 7))
[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
>>> [str(p) for p in walk.chains((1, 0), "K", 1, 1, via=(0, 7))]
['L0H7']
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import networkx as nx

from tensoralgebra.architecture import Architecture
from tensoralgebra.counting import head_groups, order_counts
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.graph.build import _nodes, per_head
from tensoralgebra.graph.keys import HEAD, LAYER, ROLE, SOURCE, UNEMBED, head_name, parse_head
from tensoralgebra.graph.sources import source_nodes
from tensoralgebra.paths import LogitPath, bias_layer
from tensoralgebra.scores import scoring_head


def _elementary_symmetric(heads: tuple[int, ...]) -> tuple[int, ...]:
    """``(e_0, e_1, ...)`` of the head counts ``heads``: the chains through them by order."""
    return order_counts(head_groups(heads, len(heads)))


#: A reader: a head ``(layer, head)`` or the unembedding (``"unembed"``).
Target = tuple[int, int] | str


def walker(source: object) -> GraphWalk | ArchitectureWalk:
    """The chains of a graph (one node per head) or of a concrete architecture."""
    if isinstance(source, Architecture):
        if source.is_schematic:
            raise TensorAlgebraError(
                f"{source!r} has symbolic head sets: name heads in an architecture with "
                "concrete head counts, e.g. Architecture(heads=(2, 2))"
            )
        return ArchitectureWalk(source)
    if isinstance(source, nx.Graph):
        return GraphWalk(source)
    raise TensorAlgebraError(
        f"expected a graph from ta.graph.build or an Architecture, got {source!r:.80}"
    )


class ArchitectureWalk:
    """Chains of the complete graph, from the head counts alone (closed forms, lazy lists)."""

    def __init__(self, arch: Architecture):
        self.arch = arch

    def head(self, head: object) -> tuple[int, int]:
        """``(layer, head)`` of a head of the architecture, or a clear error."""
        layer, h = parse_head(head)
        scoring_head(self.arch, layer, h)
        return layer, h

    def _layers_before(self, target: Target) -> int:
        return self.arch.n_layers if target == UNEMBED else target[0]

    def _entries(self, target: Target, channel: str) -> list[tuple[str, int | None]]:
        """``(source, first layer)`` of what ``target`` reads with ``channel``: a stream source
        passes through heads of layers ``first..`` before ``target`` (``None``: through none)."""
        before, arch = self._layers_before(target), self.arch
        found = [(s, 0) for s in arch.sources]
        found += [(s, bias_layer(s) + 1) for s in arch.bias_sources(before)]
        for s in source_nodes(arch):
            if (
                "V" not in s.channels
                and channel in s.channels
                and (target == UNEMBED) == (channel == "out")
            ):
                found.append((s.name, None))
        return found

    def side_counts(self, target: Target, channel: str = "V", via=None) -> list[int]:
        """Chains ``target`` reads with ``channel`` per order 0..n_layers, only those through
        head ``via`` if given."""
        before, heads = self._layers_before(target), self.arch.heads
        counts = [0] * (self.arch.n_layers + 1)
        for _, first in self._entries(target, channel):
            if first is None:
                counts[0] += via is None
            elif via is None:
                for k, c in enumerate(_elementary_symmetric(heads[first:before])):
                    counts[k] += c
            elif first <= via[0] < before:
                others = heads[first : via[0]] + heads[via[0] + 1 : before]
                for k, c in enumerate(_elementary_symmetric(others)):
                    counts[k + 1] += c
        return counts

    def chains(self, target: Target, channel: str, lo: int, hi: int, via=None) -> list:
        """The chains of order ``lo..hi`` that ``target`` reads (through ``via`` if given)."""
        before, norm, found = self._layers_before(target), self.arch.normalization, []
        for source, first in self._entries(target, channel):
            start = before if first is None else first
            for k in range(lo, hi + 1):
                for layers in itertools.combinations(range(start, before), k):
                    if via is not None and via[0] not in layers:
                        continue
                    choices = [
                        [via] if via is not None and layer == via[0] else _heads(self.arch, layer)
                        for layer in layers
                    ]
                    for heads in itertools.product(*choices):
                        found.append(LogitPath(heads, source, norm))
        return found

    def after_counts(self, head: tuple[int, int]) -> list[int]:
        """Chains from ``head``'s output to the unembedding, by the number of heads after it."""
        e = _elementary_symmetric(self.arch.heads[head[0] + 1 :])
        return list(e) + [0] * (self.arch.n_layers + 1 - len(e))

    def tails(self, head: tuple[int, int], hi: int) -> list[tuple]:
        """The heads after ``head`` on each chain to the unembedding, at most ``hi`` of them."""
        later = range(head[0] + 1, self.arch.n_layers)
        return [
            heads
            for k in range(hi + 1)
            for layers in itertools.combinations(later, k)
            for heads in itertools.product(*(_heads(self.arch, layer) for layer in layers))
        ]


def _heads(arch: Architecture, layer: int) -> list[tuple[int, int]]:
    return [(layer, h) for h in range(arch.heads[layer])]


class GraphWalk:
    """Chains along a graph's edges: V edges between writers, then the reader's channel."""

    def __init__(self, G: nx.MultiDiGraph):
        self.arch = per_head(G)
        missing = [n for n, _ in _nodes(self.arch) if n not in G]
        if missing:
            raise TensorAlgebraError(
                f"this graph lacks nodes {', '.join(missing[:3])}"
                + (", ..." if len(missing) > 3 else "")
                + f" of {self.arch!r}: prune edges, not nodes (ta.graph.prune keeps every node)"
            )
        self.G = G
        self._order = list(nx.topological_sort(G))
        self._counts = self._chain_counts(None)
        self._via: dict[tuple[int, int], dict] = {}

    def head(self, head: object) -> tuple[int, int]:
        """``(layer, head)`` of a head of the graph's architecture, or a clear error."""
        layer, h = parse_head(head)
        scoring_head(self.arch, layer, h)
        return layer, h

    def _chain_counts(self, via: str | None) -> dict[str, list[int]]:
        """``counts[v][k]``: V chains from a source ending with ``v``'s output after ``k``
        heads (``v`` included), only those through ``via`` if given; one pass over the edges."""
        n, data = self.arch.n_layers + 1, self.G.nodes
        counts: dict[str, list[int]] = {}
        for v in self._order:
            role = data[v][ROLE]
            if role == "source":
                counts[v] = [int(via is None)] + [0] * (n - 1)
            elif role == "head" and v == via:
                counts[v] = self._counts[v]
            elif role == "head":
                total = [0] * n
                for u, keys in self.G.pred[v].items():
                    if "V" in keys:
                        for k, c in enumerate(counts[u][:-1]):
                            total[k + 1] += c
                counts[v] = total
        return counts

    def _counts_via(self, via) -> dict[str, list[int]]:
        if via is None:
            return self._counts
        if via not in self._via:
            self._via[via] = self._chain_counts(head_name(*via))
        return self._via[via]

    @staticmethod
    def _node(target: Target) -> str:
        return UNEMBED if target == UNEMBED else head_name(*target)

    def side_counts(self, target: Target, channel: str = "V", via=None) -> list[int]:
        """Chains ``target`` reads with ``channel``, per order (through ``via`` if given)."""
        counts, total = self._counts_via(via), [0] * (self.arch.n_layers + 1)
        for u, keys in self.G.pred[self._node(target)].items():
            if channel in keys:
                total = [a + b for a, b in zip(total, counts[u])]
        return total

    def chains(self, target: Target, channel: str, lo: int, hi: int, via=None) -> list:
        """The chains of order ``lo..hi`` that ``target`` reads with ``channel`` (through
        ``via`` if given), walking back only into writers that complete at least one."""
        data, pred, found = self.G.nodes, self.G.pred, []
        plain, through = self._counts, self._counts_via(via)
        via_node = None if via is None else head_name(*via)

        def walk(u: str, later: tuple, passed: bool) -> None:
            if data[u][ROLE] == "source":
                found.append(LogitPath(later, data[u][SOURCE], self.arch.normalization))
                return
            later = ((data[u][LAYER], data[u][HEAD]), *later)
            passed = passed or u == via_node
            for w, keys in pred[u].items():
                if "V" in keys and any((plain if passed else through)[w][: hi - len(later) + 1]):
                    walk(w, later, passed)

        for u, keys in pred[self._node(target)].items():
            if channel in keys and any(through[u][: hi + 1]):
                walk(u, (), via is None)
        return [p for p in found if p.order >= lo]

    def _after(self) -> dict[str, list[int]]:
        if "after" not in self._via:
            self._via["after"] = _after_counts(self.G, self._order, self.arch.n_layers + 1)
        return self._via["after"]

    def after_counts(self, head: tuple[int, int]) -> list[int]:
        """Chains from ``head``'s output to the unembedding, by the number of heads after it."""
        return self._after()[head_name(*head)]

    def tails(self, head: tuple[int, int], hi: int) -> list[tuple]:
        """The heads after ``head`` on each chain to the unembedding, at most ``hi`` of them."""
        data, succ, after = self.G.nodes, self.G.succ, self._after()

        def walk(u: str, budget: int) -> Iterator[tuple]:
            for v, keys in succ[u].items():
                if v == UNEMBED and "out" in keys:
                    yield ()
                if data[v][ROLE] == "head" and "V" in keys and budget and any(after[v][:budget]):
                    for rest in walk(v, budget - 1):
                        yield ((data[v][LAYER], data[v][HEAD]), *rest)

        return list(walk(head_name(*head), hi))


def _after_counts(G: nx.MultiDiGraph, order: list[str], n: int) -> dict[str, list[int]]:
    """``after[v][b]``: chains from ``v``'s output to the unembedding through ``b`` more heads."""
    after: dict[str, list[int]] = {}
    for v in reversed(order):
        total = [0] * n
        for w, keys in G.succ[v].items():
            if w == UNEMBED and "out" in keys:
                total[0] += 1
            if G.nodes[w][ROLE] == "head" and "V" in keys:
                for b, c in enumerate(after[w][:-1]):
                    total[b + 1] += c
        after[v] = total
    return after


def fits(count_at, top: int, limit: int) -> int | None:
    """The largest ``max_order <= top`` whose count (``count_at(order)``, growing with the
    order) is positive and at most ``limit``; ``None`` if there is none."""
    best = None
    for order in range(top + 1):
        n = count_at(order)
        if n > limit:
            break
        if n > 0:
            best = order
    return best
