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
  "token" -> "L0H0" ["channel"="Q", "label"="Q", "color"="#1f5fbf", "style"="dashed"];
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

from tensoralgebra.graph.build import architecture_of
from tensoralgebra.graph.draw import STYLE, draw
from tensoralgebra.graph.files import target, writing
from tensoralgebra.graph.keys import ARCHITECTURE, CHANNEL, LAYER, PER
from tensoralgebra.graph.records import read

#: What :func:`write` makes of each file extension.
FORMATS = (".dot", ".graphml", ".json", ".svg", ".png", ".pdf")


def quote(value: object) -> str:
    r"""``value`` as a DOT quoted string. In DOT's scanner ``\"`` is a quote and ``\\`` a
    backslash pair, so escaping both keeps every string closed where it should be: a crafted
    name or attribute cannot end the string early and inject an edge or an attribute. (Graphviz
    reads the pair as one backslash in labels.)

    >>> print(quote('a" -> "b'), quote("x\\"))
    "a\" -> \"b" "x\\"
    """
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def to_dot(G: nx.MultiDiGraph) -> str:
    """The graph in the DOT language: one rank per layer, edges coloured and styled by
    channel (as :func:`~tensoralgebra.graph.draw`), every node and edge attribute kept; every
    node name, attribute key and value is a quoted string (:func:`quote`)."""
    lines = [f"// {architecture_of(G)!r}", "digraph transformer {", "  rankdir=LR;"]
    lines.append('  node [shape=box, style="rounded,filled", fillcolor="#eef2f8"];')
    ranks: dict[int, list[str]] = {}
    for n, data in G.nodes(data=True):
        ranks.setdefault(data[LAYER], []).append(n)
        lines.append(f"  {quote(n)} [{_attributes(data)}];")
    for layer in sorted(ranks):
        same = "; ".join(map(quote, ranks[layer]))
        lines.append(f"  {{ rank=same; {same}; }}")
    for u, v, c, data in G.edges(keys=True, data=True):
        style = STYLE[c]
        shown = {CHANNEL: c, "label": c, "color": style["color"], "style": style["dot"]}
        shown |= {k: x for k, x in data.items() if k != CHANNEL}
        lines.append(f"  {quote(u)} -> {quote(v)} [{_attributes(shown)}];")
    lines.append("}")
    return "\n".join(lines)


def _attributes(data: dict) -> str:
    return ", ".join(f"{quote(k)}={quote(v)}" for k, v in data.items())


def to_json(G: nx.MultiDiGraph) -> dict:
    """Node-link data (``nodes``, ``edges`` with ``source``, ``target``, ``key``), ready for
    ``json.dumps``; the graph attribute ``architecture`` becomes ``Architecture.to_dict()``."""
    plain = G.copy()
    plain.graph[ARCHITECTURE] = architecture_of(G).to_dict()
    plain.graph.setdefault(PER, "head")
    return nx.node_link_data(plain, edges="edges")


def from_json(data: dict) -> nx.MultiDiGraph:
    """The graph :func:`to_json` wrote (its architecture rebuilt). Every record is checked
    against the architecture the document names: nodes that do not match it, edges that no
    graph of it has, and malformed records are refused, naming the record."""
    return read(data)


def write(G: nx.MultiDiGraph, path: str | Path, **draw_options) -> Path:
    """Write ``G`` to ``path`` in the format its extension names (:data:`FORMATS`); drawing
    options go to :func:`~tensoralgebra.graph.draw`. The folder must exist. Returns the path."""
    path = target(path, FORMATS, "a graph")
    architecture_of(G)
    suffix = path.suffix.lower()
    if suffix in (".svg", ".png", ".pdf"):
        draw(G, path, **draw_options)
        return path
    with writing(path, "a graph"):
        if suffix == ".dot":
            path.write_text(to_dot(G) + "\n")
        elif suffix == ".json":
            path.write_text(json.dumps(to_json(G), indent=1, ensure_ascii=False) + "\n")
        else:
            plain = G.copy()
            plain.graph[ARCHITECTURE] = json.dumps(architecture_of(G).to_dict())
            nx.write_graphml(plain, path)
    return path
