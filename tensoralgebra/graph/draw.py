"""A drawing of the graph: layers left to right, one box per node, channels by colour and line.

Each head is a box with three inputs on its left side, Q (top), K (middle) and V (bottom), and
its output on its right side; the sources stand in the first column (a layer's constant source
under that layer's heads, the unembedding bias in the last layer's column) and the unembedding in
the last. An edge runs from the writer's output to the reader's input of its channel:

=========  ========  ============  ===============================================
channel    colour    line          meaning
=========  ========  ============  ===============================================
``Q``      blue      dashed        the later head's queries read the writer
``K``      red       dash-dot      the later head's keys read the writer
``V``      green     solid         the later head's values read the writer
``out``    grey      solid, thin   the unembedding reads the writer
=========  ========  ============  ===============================================

An edge that skips layers runs along a lane of its own between the boxes it passes, so that each
one can be followed. With ``weight=`` an attribute key (e.g. ``"composition"``), colour and width
follow its values, on a scale drawn beside the picture (line styles still tell the channels), and
edges without a value are left out.

Large models are drawn reduced, and the figure says how: above :data:`MAX_DRAWN_HEADS` heads, a
weighted drawing keeps the :data:`MAX_DRAWN_EDGES` heaviest edges and an unweighted one draws a
block per layer (:func:`~tensoralgebra.graph.by_layer`). Drawing uses its own
``matplotlib.figure.Figure``: pyplot, the backend and ``rcParams`` are left as they were.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from tensoralgebra.graph.build import architecture_of, by_layer
from tensoralgebra.graph.draw_parts import (
    DX,
    STYLE,
    H,
    arc_rise,
    edges,
    frame,
    legend,
    nodes,
    positions,
    scale,
)
from tensoralgebra.graph.files import target, writing
from tensoralgebra.graph.keys import (
    CHANNELS,
    COMPOSITION,
    N_EDGES,
    PER,
    ROLE,
    TERM_NORM,
    check_channel,
)
from tensoralgebra.validation import positive_integer

__all__ = [
    "MAX_DRAWN_EDGES",
    "MAX_DRAWN_HEADS",
    "MAX_EDGES_PER_PANEL",
    "STYLE",
    "draw",
    "positions",
]

#: Above this many edges, :func:`draw` gives each channel a panel of its own.
MAX_EDGES_PER_PANEL = 80
#: Above this many heads a drawing is reduced (see the module's docstring).
MAX_DRAWN_HEADS = 32
#: The edges a reduced weighted drawing keeps, the heaviest.
MAX_DRAWN_EDGES = 60
#: The formats :func:`draw` writes.
DRAWINGS = (".svg", ".png", ".pdf")
_NAMES = {
    "Q": "Q: what later heads' queries read",
    "K": "K: what later heads' keys read",
    "V": "V: what later heads' values read (V-composition)",
    "out": "out: what the unembedding reads",
}
_QUANTITY = {COMPOSITION: "composition score", TERM_NORM: "norm of the largest term (Frobenius)"}


def draw(
    G: nx.MultiDiGraph,
    path: str | Path | None = None,
    *,
    channels: tuple[str, ...] = CHANNELS,
    weight: str | None = None,
    panels: bool | None = None,
    title: str | None = None,
    max_heads: int = MAX_DRAWN_HEADS,
    max_edges: int = MAX_DRAWN_EDGES,
):
    """Draw ``G`` (only the edges of ``channels``); save to ``path`` (``.svg``, ``.png``, ``.pdf``)
    if given. Returns the ``matplotlib.figure.Figure``.

    ``panels=True`` draws each channel in a panel of its own, the nodes repeated; the default
    does so when one picture would hold more than :data:`MAX_EDGES_PER_PANEL` edges. Graphs of
    more than ``max_heads`` heads are reduced: to the ``max_edges`` heaviest edges with
    ``weight``, else to one block per layer; a note under the picture says so.
    """
    from matplotlib.figure import Figure

    channels = tuple(check_channel(c) for c in channels)
    if path is not None:
        path = target(path, DRAWINGS, "a drawing")
    arch = architecture_of(G)
    G, note = _reduced(
        G,
        weight,
        positive_integer(max_heads, "max_heads"),
        positive_integer(max_edges, "max_edges"),
    )
    shown = [(u, v, c) for u, v, c in G.edges(keys=True) if c in channels]
    if weight is not None:
        n = len(shown)
        shown = [e for e in shown if G.edges[e].get(weight) is not None]
        if len(shown) < n:
            left = f"{n - len(shown):,} edges without a {weight} value are not drawn"
            note = f"{note}; {left}" if note else left
    if panels is None:
        panels = len(shown) > MAX_EDGES_PER_PANEL and len(channels) > 1
    groups = [(c,) for c in channels] if panels else [channels]
    place = positions(G)
    tallest = max(sum(1 for p in place.values() if p[0] == x) for x, _ in place.values())
    columns = len({x for x, _ in place.values()})
    width, height = 1.1 + 1.75 * columns, 1.4 + 0.95 * tallest
    if G.graph.get(PER) == "layer":
        # A row of layer blocks is wide and flat, its panels one under another; the arcs rise
        # with the layers they skip, so the panel is as tall as its highest arc at the scale the
        # width sets (data units are drawn square), plus the title, layer names and legend.
        cols = 1
        inches_per_unit = 1.75 / DX
        height = 1.0 + inches_per_unit * (H + arc_rise(columns - 1) + 0.8)
    else:
        cols = min(len(groups), 2)
    rows = -(-len(groups) // cols)
    fig = Figure(figsize=(width * cols + (1.2 if weight else 0), height * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    paint = scale(G, shown, weight)
    for ax, group in zip(axes.flat, groups):
        drawn = [e for e in shown if e[2] in group]
        lanes = edges(ax, G, drawn, place, paint)
        nodes(ax, G, place, drawn)
        frame(ax, G, place, lanes, _NAMES[group[0]] if panels else None)
        legend(ax, group, plain=weight is not None)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    if paint is not None:
        label = _QUANTITY.get(weight, weight)
        fig.colorbar(
            paint.mappable, ax=list(axes.flat), shrink=0.6, fraction=0.025, pad=0.01, label=label
        )
    fig.suptitle(title if title is not None else repr(arch), fontsize=11)
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=8, color="#444444")
    if path is not None:
        _save(fig, path)
    return fig


def _reduced(G, weight, max_heads, max_edges) -> tuple[nx.MultiDiGraph, str]:
    """``G`` as drawn, and a note saying how it was reduced ("" if it is drawn whole)."""
    n_heads = sum(1 for _, role in G.nodes(data=ROLE) if role == "head")
    if G.graph.get(PER) == "layer":
        return G, "one block per layer; an edge stands for the head edges between two blocks"
    if n_heads <= max_heads:
        return G, ""
    if weight is None:
        L = by_layer(G)
        n = sum(d[N_EDGES] for *_, d in L.edges(data=True))
        return L, (
            f"{n_heads} heads drawn as one block per layer: each edge stands for all "
            f"{n:,} head edges of its channel between two blocks (width: how many); "
            "h: heads per block"
        )
    weighted = [
        (d[weight], u, v, c)
        for u, v, c, d in G.edges(keys=True, data=True)
        if d.get(weight) is not None
    ]
    kept = sorted(weighted, key=lambda t: -t[0])[:max_edges]
    H = nx.MultiDiGraph(**G.graph)
    H.add_nodes_from(G.nodes(data=True))
    H.add_edges_from((u, v, c, G.edges[u, v, c]) for _, u, v, c in kept)
    return H, f"the {len(kept)} heaviest of {len(weighted):,} edges with a {weight} value"


def _save(fig, path: Path) -> None:
    import matplotlib

    suffix = path.suffix.lower()
    # Reproducible files: no timestamp, fixed ids; the salt is set for this call only.
    metadata = {"Date": None} if suffix in (".svg", ".pdf") else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "tensoralgebra"}), writing(path, "a drawing"):
        fig.savefig(path, dpi=150, metadata=metadata, bbox_inches="tight")
