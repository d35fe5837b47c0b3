"""The computation graph of an attention-only transformer, as a ``networkx.MultiDiGraph``.

Nodes are where information is written to the residual stream or read from it:

==============  ==========================================================================
node            meaning
==============  ==========================================================================
``token``       the token source ``Id ⊗ W_E`` acting on the one-hots ``X``
``position``    the position source ``Id ⊗ W_pos`` (architectures with positions only)
``L1H0``        head 0 of layer 1: reads the stream (Q, K, V), writes ``A^h ⊗ W_OV^h``
``unembed``     the unembedding ``Id ⊗ W_U``, which reads the final stream
==============  ==========================================================================

An edge ``u → v`` with channel ``c`` says that ``v`` reads what ``u`` wrote, with its query
(``"Q"``), key (``"K"``) or value (``"V"``) input, or as the unembedding (``"out"``). Every
source and every head writes to every later head, once per channel, and to the unembedding;
heads of one layer read the same stream and are never joined. The edge key is the channel, so
``G.edges["L0H0", "L1H0", "K"]`` is the K-composition edge. A term of the expansion is a path:
a chain of V edges from a source, then an ``out`` edge (a logit term) or a Q or K edge into the
scoring head (one side of a score term).

>>> import tensoralgebra as ta
>>> G = ta.graph.build(ta.Architecture(heads=(2, 2)))
>>> list(G.nodes)
['token', 'L0H0', 'L0H1', 'L1H0', 'L1H1', 'unembed']
>>> G.number_of_edges(), sorted(G["L0H1"]["L1H0"])
(29, ['K', 'Q', 'V'])
>>> G.nodes["L1H0"]
{'role': 'head', 'layer': 1, 'head': 0, 'source': '', 'label': 'L1H0'}
"""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.graph.keys import (
    ARCHITECTURE,
    CHANNEL,
    HEAD,
    LABEL,
    LAYER,
    ROLE,
    SOURCE,
    SOURCE_NODES,
    UNEMBED,
    head_name,
    parse_head,
)
from tensoralgebra.scores import scoring_head

#: The channels a later head reads an earlier node's output with.
READS = ("Q", "K", "V")
_SOURCE_LABEL = {"token": "tokens", "position": "positions"}


def build(arch: Architecture) -> nx.MultiDiGraph:
    """The graph of ``arch`` (concrete head counts): sources, heads, the unembedding, and an edge
    per channel from every source and earlier head to every later head and to the unembedding.

    Nodes come sources first, then heads by layer and index, then the unembedding; edges into a
    node come in the same order of their tails, Q, K, V for each.
    """
    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(f"build needs an Architecture, got {arch!r}")
    if arch.is_schematic:
        raise TensorAlgebraError(
            f"{arch!r} has symbolic head sets: the graph needs concrete head counts, "
            "e.g. Architecture(heads=(2, 2))"
        )
    G = nx.MultiDiGraph()
    G.graph[ARCHITECTURE] = arch
    G.add_nodes_from(_nodes(arch))
    G.add_edges_from(_edges(arch))
    return G


def _nodes(arch: Architecture) -> Iterator[tuple[str, dict]]:
    for source in arch.sources:
        yield SOURCE_NODES[source], _node("source", -1, -1, source, _SOURCE_LABEL[source])
    for layer, n in enumerate(arch.heads):
        for h in range(n):
            yield head_name(layer, h), _node("head", layer, h, "", head_name(layer, h))
    yield UNEMBED, _node("unembed", arch.n_layers, -1, "", "unembed")


def _node(role: str, layer: int, head: int, source: str, label: str) -> dict:
    return {ROLE: role, LAYER: layer, HEAD: head, SOURCE: source, LABEL: label}


def _edges(arch: Architecture) -> Iterator[tuple[str, str, str, dict]]:
    writers = [SOURCE_NODES[s] for s in arch.sources]
    for layer, n in enumerate(arch.heads):
        for h in range(n):
            for u in writers:
                for channel in READS:
                    yield u, head_name(layer, h), channel, {CHANNEL: channel}
        writers += [head_name(layer, h) for h in range(n)]
    for u in writers:
        yield u, UNEMBED, "out", {CHANNEL: "out"}


def architecture(G: nx.MultiDiGraph) -> Architecture:
    """The architecture ``G`` was built from (kept by subgraphs and copies)."""
    arch = G.graph.get(ARCHITECTURE)
    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(
            "this graph has no architecture: make it with ta.graph.build(arch)"
        )
    return arch


def head_node(G: nx.MultiDiGraph, head: object) -> str:
    """The node of ``head`` (``"L1H0"`` or ``(1, 0)``), with a clear error if the architecture
    has no such head."""
    layer, h = parse_head(head)
    arch = architecture(G)
    scoring_head(arch, layer, h)  # names the missing layer or head
    return head_name(layer, h)


def heads(G: nx.MultiDiGraph) -> list[str]:
    """The head nodes of ``G``, by layer, then index."""
    data = G.nodes
    found = [n for n in G if data[n][ROLE] == "head"]
    return sorted(found, key=lambda n: (data[n][LAYER], data[n][HEAD]))
