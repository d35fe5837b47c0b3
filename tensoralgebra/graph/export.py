"""The graph in files: DOT (Graphviz), GraphML and node-link JSON, or a drawing, by extension.

The architecture travels with the graph: as a JSON object in node-link JSON (read back by
:func:`from_json`), as a JSON string graph attribute in GraphML, as a comment in DOT.

>>> import json, tensoralgebra as ta
>>> G = ta.graph.build(ta.Architecture(heads=(1,)))
>>> print(ta.graph.to_dot(G))  # doctest: +ELLIPSIS
// Architecture(heads=(1,))
digraph transformer {
  rankdir=LR;
  ...
  "token" -> "L0H0" [channel="Q", label="Q", color="#1f5fbf", style=dashed];
  ...
}
>>> data = ta.graph.to_json(G)
>>> data["graph"]["architecture"]["heads"], [e["key"] for e in data["edges"]]
([1], ['Q', 'K', 'V', 'out', 'out'])
>>> ta.graph.from_json(json.loads(json.dumps(data))).edges == G.edges
True
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.graph.build import architecture
from tensoralgebra.graph.draw import STYLE, draw
from tensoralgebra.graph.keys import ARCHITECTURE, LAYER

#: What :func:`write` makes of each file extension.
FORMATS = (".dot", ".graphml", ".json", ".svg", ".png", ".pdf")


def _quote(value: object) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def to_dot(G: nx.MultiDiGraph) -> str:
    """The graph in the DOT language: one rank per layer, edges coloured and styled by
    channel (as :func:`~tensoralgebra.graph.draw`), every node and edge attribute kept."""
    lines = [f"// {architecture(G)!r}", "digraph transformer {", "  rankdir=LR;"]
    lines.append('  node [shape=box, style="rounded,filled", fillcolor="#eef2f8"];')
    ranks: dict[int, list[str]] = {}
    for n, data in G.nodes(data=True):
        ranks.setdefault(data[LAYER], []).append(n)
        attrs = ", ".join(f"{k}={_quote(v)}" for k, v in data.items())
        lines.append(f"  {_quote(n)} [{attrs}];")
    for layer in sorted(ranks):
        same = "; ".join(map(_quote, ranks[layer]))
        lines.append(f"  {{ rank=same; {same}; }}")
    for u, v, c, data in G.edges(keys=True, data=True):
        style = STYLE[c]
        extra = "".join(f", {k}={_quote(x)}" for k, x in data.items() if k != "channel")
        lines.append(
            f"  {_quote(u)} -> {_quote(v)} [channel={_quote(c)}, label={_quote(c)}, "
            f"color={_quote(style['color'])}, style={style['dot']}{extra}];"
        )
    lines.append("}")
    return "\n".join(lines)


def to_json(G: nx.MultiDiGraph) -> dict:
    """Node-link data (``nodes``, ``edges`` with ``source``, ``target``, ``key``), ready for
    ``json.dumps``; the graph attribute ``architecture`` becomes ``Architecture.to_dict()``."""
    plain = G.copy()
    plain.graph[ARCHITECTURE] = architecture(G).to_dict()
    return nx.node_link_data(plain, edges="edges")


def from_json(data: dict) -> nx.MultiDiGraph:
    """The graph :func:`to_json` wrote (its architecture rebuilt)."""
    G = nx.node_link_graph(data, directed=True, multigraph=True, edges="edges")
    arch = G.graph.get(ARCHITECTURE)
    if not isinstance(arch, dict) or arch.get("heads") is None:
        raise TensorAlgebraError("this JSON has no architecture: write it with ta.graph.to_json")
    G.graph[ARCHITECTURE] = Architecture(arch["heads"], arch.get("positional"))
    return G


def write(G: nx.MultiDiGraph, path: str | Path, **draw_options) -> Path:
    """Write ``G`` to ``path`` in the format its extension names (:data:`FORMATS`); drawing
    options go to :func:`~tensoralgebra.graph.draw`. Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise TensorAlgebraError(
            f"cannot write a graph to {path.name!r}: the extension must be one of "
            f"{', '.join(FORMATS)}"
        )
    if suffix == ".dot":
        path.write_text(to_dot(G) + "\n")
    elif suffix == ".json":
        path.write_text(json.dumps(to_json(G), indent=1, ensure_ascii=False) + "\n")
    elif suffix == ".graphml":
        plain = G.copy()
        plain.graph[ARCHITECTURE] = json.dumps(architecture(G).to_dict())
        nx.write_graphml(plain, path)
    else:
        draw(G, path, **draw_options)
    return path
