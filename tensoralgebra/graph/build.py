"""The computation graph of an attention-only transformer, as a ``networkx.MultiDiGraph``.

Nodes are where information is written to the residual stream or read from it:

==============  ==========================================================================
node            meaning
==============  ==========================================================================
``token``       the token source ``Id ⊗ W_E`` acting on the one-hots ``X``
``position``    the position source ``Id ⊗ W_pos`` (architectures with positions only)
``bias L0``     layer 0's constant source ``1 ⊗ c^{L0}``, and the other real-architecture
                sources of :mod:`~tensoralgebra.graph.sources` (biases, shortformer positions)
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

The head-to-head edges number ``3 Σ_{l<m} |H_l| |H_m|``, which grows with the square of the
model: :func:`build` refuses graphs of more than :data:`MAX_EDGES` edges up front (a 10-layer model
of 200 heads per layer would have 5.4 million), and offers the graph with one node per layer,
``per="layer"``, whose edges stand for all the head edges between two layers (``n_edges``):

>>> big = ta.Architecture(heads=(200,) * 10)
>>> count_edges(big), count_edges(big, per="layer")
(5408001, 176)
>>> try:
...     ta.graph.build(big)
... except ta.ExpansionLimitError as error:
...     print(error.reason[:68], error.option, error.value, sep="\\n")
the graph of Architecture(heads=(200, 200, ...)) has 5,408,001 edges
per
layer
>>> L = ta.graph.build(big, per="layer")
>>> L.edges["L0", "L1", "K"]
{'channel': 'K', 'n_edges': 40000}
"""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.graph.keys import (
    ARCHITECTURE,
    CHANNEL,
    ENTERS,
    GRANULARITIES,
    HEAD,
    LABEL,
    LAYER,
    N_EDGES,
    N_HEADS,
    PER,
    ROLE,
    SOURCE,
    UNEMBED,
    head_name,
    layer_name,
    parse_head,
)
from tensoralgebra.graph.sources import SourceNode, source_nodes
from tensoralgebra.paths import UNEMBEDDING_BIAS, bias_source
from tensoralgebra.scores import scoring_head
from tensoralgebra.validation import choice, positive_integer

#: The channels a later head reads an earlier node's output with.
READS = ("Q", "K", "V")
#: The most edges :func:`build` makes unless told otherwise (``max_edges=``): about 0.5 s and
#: 100 MB. The 12-layer model with 12 heads per layer has 29,089.
MAX_EDGES = 100_000


def count_edges(arch: Architecture, per: str = "head") -> int:
    """The number of edges ``build(arch, per=per)`` makes, in closed form: from each stream
    writer (a stream source, a head or a layer's constant written before) three edges (Q, K, V)
    into every head and one ``out`` edge into the unembedding; into every head two more from
    shortformer positions (Q, K) and two from the heads' own constants (Q, K) with biases; one
    ``out`` edge from the unembedding bias. With ``per="layer"`` a layer counts as one head."""
    _check_concrete(arch)
    choice(per, "per", GRANULARITIES)
    counts = arch.heads if per == "head" else tuple(1 if n else 0 for n in arch.heads)
    own = 2 * (arch.positional == "shortformer") + 2 * arch.biases
    writers, edges = len(arch.sources), 0
    for n in counts:
        edges += (3 * writers + own) * n
        writers += n + arch.biases
    return edges + writers + arch.biases


def build(arch: Architecture, *, per: str = "head", max_edges: int = MAX_EDGES) -> nx.MultiDiGraph:
    """The graph of ``arch`` (concrete head counts): sources, heads, the unembedding, and an edge
    per channel from every source and earlier head to every later head and to the unembedding.

    Nodes come column by column: the sources read from layer 0 on, then each layer's heads (by
    index) followed by its constant source, then the unembedding bias and the unembedding; edges
    into a node come in the order their tails join the stream, Q, K, V for each, then those from
    the sources every head reads besides the stream (:mod:`~tensoralgebra.graph.sources`).
    ``per="layer"`` makes one node per layer with heads (``"L1"``, attribute ``n_heads``), each
    edge carrying ``n_edges``, the number of head edges it stands for. More than ``max_edges``
    edges are refused up front (:class:`~tensoralgebra.errors.ExpansionLimitError`, naming
    ``per='layer'`` when that fits).
    """
    _check_concrete(arch)
    per = choice(per, "per", GRANULARITIES)
    max_edges = positive_integer(max_edges, "max_edges")
    n = count_edges(arch, per)
    if n > max_edges:
        fits = per == "head" and count_edges(arch, "layer") <= max_edges
        raise ExpansionLimitError(
            f"the graph of {_short(arch)} has {n:,} edges, over the limit of {max_edges:,}"
            ": its head-to-head edges grow with the square of the head count",
            option="per" if fits else None,
            value="layer" if fits else None,
        )
    G = nx.MultiDiGraph()
    G.graph[ARCHITECTURE] = arch
    G.graph[PER] = per
    if per == "head":
        G.add_nodes_from(_nodes(arch))
        G.add_edges_from(_edges(arch))
    else:
        G.add_nodes_from(_layer_nodes(arch))
        G.add_edges_from(_layer_edges(arch))
    return G


def _check_concrete(arch: object) -> None:
    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(f"build needs an Architecture, got {arch!r}")
    if arch.is_schematic:
        raise TensorAlgebraError(
            f"{arch!r} has symbolic head sets: the graph needs concrete head counts, "
            "e.g. Architecture(heads=(2, 2))"
        )


def _short(arch: Architecture) -> str:
    """``arch``'s repr, with a long head tuple cut short (messages stay one line)."""
    text = repr(arch)
    if len(arch.heads) <= 4:
        return text
    shown = ", ".join(map(str, arch.heads[:2]))
    return text.replace(repr(arch.heads), f"({shown}, ...)", 1)


def _columns(arch: Architecture, layer_nodes) -> Iterator[tuple[str, dict]]:
    """Nodes column by column: the sources read from layer 0 on, then each layer's nodes
    (``layer_nodes(layer)``) followed by its constant, the unembedding bias, the unembedding."""
    late: dict[int, list[SourceNode]] = {}
    for s in source_nodes(arch):
        if s.column < 0:
            yield s.name, _source(s)
        else:
            late.setdefault(s.column, []).append(s)
    for layer in range(arch.n_layers):
        yield from layer_nodes(layer)
        yield from ((s.name, _source(s)) for s in late.get(layer, ()))
    yield UNEMBED, _node("unembed", arch.n_layers, -1, "", "unembed")


def _source(s: SourceNode) -> dict:
    return {**_node("source", s.column, -1, s.name, s.label), ENTERS: s.enters}


def _nodes(arch: Architecture) -> Iterator[tuple[str, dict]]:
    def layer_heads(layer: int) -> Iterator[tuple[str, dict]]:
        for h in range(arch.heads[layer]):
            yield head_name(layer, h), _node("head", layer, h, "", head_name(layer, h))

    return _columns(arch, layer_heads)


def _node(role: str, layer: int, head: int, source: str, label: str) -> dict:
    return {ROLE: role, LAYER: layer, HEAD: head, SOURCE: source, LABEL: label}


def _writers(arch: Architecture) -> tuple[list[str], list[SourceNode]]:
    """The stream sources read from layer 0 on, and the sources every head reads besides the
    stream (shortformer positions, the heads' own constants)."""
    first = [s for s in source_nodes(arch) if s.column < 0]
    return [s.name for s in first if "V" in s.channels], [s for s in first if "V" not in s.channels]


def _edges(arch: Architecture) -> Iterator[tuple[str, str, str, dict]]:
    writers, own = _writers(arch)
    for layer, n in enumerate(arch.heads):
        for h in range(n):
            v = head_name(layer, h)
            for u in writers:
                for channel in READS:
                    yield u, v, channel, {CHANNEL: channel}
            for s in own:
                yield from ((s.name, v, c, {CHANNEL: c}) for c in s.channels)
        writers += [head_name(layer, h) for h in range(n)]
        writers += [bias_source(layer)] if arch.biases else []
    writers += [UNEMBEDDING_BIAS] if arch.biases else []
    for u in writers:
        yield u, UNEMBED, "out", {CHANNEL: "out"}


def _layer_nodes(arch: Architecture) -> Iterator[tuple[str, dict]]:
    def layer_node(layer: int) -> Iterator[tuple[str, dict]]:
        n = arch.heads[layer]
        if n:
            name = layer_name(layer)
            yield name, {**_node("layer", layer, -1, "", f"layer {layer}"), N_HEADS: n}

    return _columns(arch, layer_node)


def _layer_edges(arch: Architecture) -> Iterator[tuple[str, str, str, dict]]:
    names, own = _writers(arch)
    writers = [(u, 1) for u in names]
    for layer, n in enumerate(arch.heads):
        if n:
            v = layer_name(layer)
            for u, m in writers:
                for channel in READS:
                    yield u, v, channel, {CHANNEL: channel, N_EDGES: m * n}
            for s in own:
                yield from ((s.name, v, c, {CHANNEL: c, N_EDGES: n}) for c in s.channels)
            writers.append((v, n))
        writers += [(bias_source(layer), 1)] if arch.biases else []
    writers += [(UNEMBEDDING_BIAS, 1)] if arch.biases else []
    for u, m in writers:
        yield u, UNEMBED, "out", {CHANNEL: "out", N_EDGES: m}


def architecture_of(G: nx.MultiDiGraph) -> Architecture:
    """The architecture ``G`` was built from (kept by subgraphs and copies)."""
    arch = G.graph.get(ARCHITECTURE) if isinstance(G, nx.Graph) else None
    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(
            f"{_what(G)} has no architecture: make the graph with ta.graph.build(arch)"
        )
    return arch


def _what(G: object) -> str:
    return "this graph" if isinstance(G, nx.Graph) else f"{type(G).__name__} {G!r:.60}"


def per_head(G: nx.MultiDiGraph) -> Architecture:
    """``G``'s architecture, if ``G`` has one node per head (queries about terms need that)."""
    arch = architecture_of(G)
    if G.graph.get(PER, "head") != "head":
        raise TensorAlgebraError(
            "this graph has one node per layer: terms are paths through heads; ask the "
            "architecture instead (e.g. ta.graph.terms_into(arch, 'L1H0', 'K'))"
        )
    return arch


def head_node(G: nx.MultiDiGraph, head: object) -> str:
    """The node of ``head`` (``"L1H0"`` or ``(1, 0)``), with a clear error if the architecture
    has no such head."""
    layer, h = parse_head(head)
    scoring_head(per_head(G), layer, h)  # names the missing layer or head
    return head_name(layer, h)


def heads(G: nx.MultiDiGraph) -> list[str]:
    """The head nodes of ``G``, by layer, then index."""
    data = G.nodes
    found = [n for n in G if data[n][ROLE] == "head"]
    return sorted(found, key=lambda n: (data[n][LAYER], data[n][HEAD]))


def by_layer(G: nx.MultiDiGraph, weights: tuple[str, ...] = ()) -> nx.MultiDiGraph:
    """``G`` with one node per layer: an edge ``L0 → L1`` of a channel stands for ``G``'s edges
    of that channel from a head of layer 0 to a head of layer 1, their number in ``n_edges`` and,
    for each key of ``weights``, the largest value among them. On a complete graph this is
    ``build(arch, per="layer")``; on a pruned one it keeps what is left."""
    arch = per_head(G)
    group = {n: _group(n, d) for n, d in G.nodes(data=True)}
    merged: dict[tuple[str, str, str], dict] = {}
    for u, v, c, data in G.edges(keys=True, data=True):
        into = merged.setdefault((group[u], group[v], c), {CHANNEL: c, N_EDGES: 0})
        into[N_EDGES] += 1
        for key in weights:
            if data.get(key) is not None:
                into[key] = max(data[key], into.get(key, data[key]))
    L = nx.MultiDiGraph(**{**G.graph, PER: "layer"})
    L.add_nodes_from(_layer_nodes(arch))
    order = [(u, v, c) for u, v, c, _ in _layer_edges(arch)]
    L.add_edges_from((*edge, merged[edge]) for edge in order if edge in merged)
    return L


def _group(node: str, data: dict) -> str:
    return layer_name(data[LAYER]) if data[ROLE] == "head" else node
