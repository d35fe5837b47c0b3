"""Reading a graph back from node-link JSON: every record checked against the architecture the
document names, so a graph that could not have come from :func:`~tensoralgebra.graph.build`
(or a pruned copy of one) is refused with the mismatch named.

>>> import tensoralgebra as ta
>>> data = ta.graph.to_json(ta.graph.build(ta.Architecture(heads=(1,))))
>>> data["graph"]["architecture"]["heads"] = [2]
>>> try:
...     ta.graph.from_json(data)
... except ta.TensorAlgebraError as error:
...     print(str(error).replace(": ", ":\\n"))
the JSON's nodes do not match its architecture Architecture(heads=(2,)):
node 'L0H1' is missing
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.graph.build import _layer_nodes, _nodes
from tensoralgebra.graph.keys import (
    ARCHITECTURE,
    CHANNEL,
    CHANNELS,
    GRANULARITIES,
    LAYER,
    N_EDGES,
    PER,
    ROLE,
    UNEMBED,
)
from tensoralgebra.graph.sources import channels_of

_HINT = "write it with ta.graph.to_json"


def _refuse(message: str) -> TensorAlgebraError:
    return TensorAlgebraError(f"{message}: {_HINT}")


def _field(record: Mapping, name: str, kind: type, where: str):
    value = record.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _refuse(f"{where} has no {kind.__name__} {name!r} (got {value!r:.60})")
    return value


def read_architecture(graph: Mapping) -> tuple[Architecture, str]:
    """The architecture and granularity a document's ``graph`` record names."""
    arch = graph.get(ARCHITECTURE)
    if not isinstance(arch, Mapping) or not isinstance(arch.get("heads"), list):
        raise _refuse("this JSON has no architecture with a list of head counts")
    built = Architecture(  # checks the counts and the options
        arch["heads"],
        arch.get("positional"),
        normalization=arch.get("normalization"),
        biases=arch.get("biases", False),
    )
    per = graph.get(PER, "head")
    if per not in GRANULARITIES:
        raise _refuse(f"this JSON's graph has per={per!r}, expected one of {GRANULARITIES}")
    return built, per


def read(data: object) -> nx.MultiDiGraph:
    """The graph of a node-link document, checked record by record (see the module's doc)."""
    if not isinstance(data, Mapping):
        raise _refuse(f"expected node-link JSON (a dict), got {type(data).__name__}")
    graph = _field(data, "graph", dict, "this JSON")
    nodes = _field(data, "nodes", list, "this JSON")
    edges = _field(data, "edges", list, "this JSON")
    arch, per = read_architecture(graph)
    G = nx.MultiDiGraph(**{ARCHITECTURE: arch, PER: per})
    G.add_nodes_from(_read_nodes(nodes, arch, per))
    G.add_edges_from(_read_edges(edges, G))
    return G


def _read_nodes(records: list, arch: Architecture, per: str) -> list[tuple[str, dict]]:
    expected = dict(_nodes(arch) if per == "head" else _layer_nodes(arch))
    found = {}
    for i, record in enumerate(records):
        where = f"node record {i}"
        if not isinstance(record, Mapping):
            raise _refuse(f"{where} is {record!r:.60}, not an object")
        name = _field(record, "id", str, where)
        if name not in expected:
            raise _mismatch(arch, f"it has no node {name!r}")
        if name in found:
            raise _refuse(f"node {name!r} appears twice")
        attrs = {k: v for k, v in record.items() if k != "id"}
        for key, want in expected[name].items():
            if attrs.get(key) != want or type(attrs.get(key)) is not type(want):
                raise _mismatch(arch, f"node {name!r} has {key}={attrs.get(key)!r}, not {want!r}")
        found[name] = attrs
    missing = [n for n in expected if n not in found]
    if missing:
        raise _mismatch(arch, f"node {missing[0]!r} is missing")
    return [(n, found[n]) for n in expected]


def _mismatch(arch: Architecture, detail: str) -> TensorAlgebraError:
    return TensorAlgebraError(f"the JSON's nodes do not match its architecture {arch!r}: {detail}")


def _read_edges(records: list, G: nx.MultiDiGraph) -> list[tuple[str, str, str, dict]]:
    seen, out = set(), []
    for i, record in enumerate(records):
        where = f"edge record {i}"
        if not isinstance(record, Mapping):
            raise _refuse(f"{where} is {record!r:.60}, not an object")
        u, v = _field(record, "source", str, where), _field(record, "target", str, where)
        c = _field(record, "key", str, where)
        attrs = {k: x for k, x in record.items() if k not in ("source", "target", "key")}
        _check_edge(G, u, v, c, attrs, where)
        if (u, v, c) in seen:
            raise _refuse(f"{where}: the edge {u} -> {v} ({c}) appears twice")
        seen.add((u, v, c))
        out.append((u, v, c, attrs))
    return out


def _check_edge(G: nx.MultiDiGraph, u: str, v: str, c: str, attrs: dict, where: str) -> None:
    for end in (u, v):
        if end not in G:
            raise _refuse(f"{where} joins {end!r}, which is not a node")
    if c not in CHANNELS or attrs.get(CHANNEL) != c:
        raise _refuse(
            f"{where} has channel {attrs.get(CHANNEL)!r} and key {c!r}: expected one "
            f"of {CHANNELS}, the same for both"
        )
    data = G.nodes
    reads = data[u][ROLE] != "unembed" and data[u][LAYER] < data[v][LAYER]
    if not reads or (c == "out") != (v == UNEMBED):
        raise _refuse(
            f"{where}: {v} cannot read {u} with {c} (a reader reads earlier writers, "
            "the unembedding with 'out', heads with Q, K or V)"
        )
    if data[u][ROLE] == "source" and c not in channels_of(G.graph[ARCHITECTURE], u):
        raise _refuse(
            f"{where}: {v} cannot read {u} with {c}: the source {u!r} is read with "
            f"{', '.join(channels_of(G.graph[ARCHITECTURE], u))} only"
        )
    if G.graph[PER] == "layer":
        n = attrs.get(N_EDGES)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise _refuse(f"{where} has {N_EDGES}={n!r}, expected a positive integer")
