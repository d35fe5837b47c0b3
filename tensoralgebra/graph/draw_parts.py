"""The pieces of a drawing (:mod:`tensoralgebra.graph.draw`): where boxes stand, how each edge is
routed and painted, the frame, the legend and the weight scale. matplotlib is imported only when
a drawing is made.

>>> import tensoralgebra as ta
>>> place = positions(ta.graph.build(ta.Architecture(heads=(2,))))
>>> place["token"], place["L0H0"], place["L0H1"], place["unembed"]
((0.0, 0.0), (2.4, 0.5), (2.4, -0.5), (4.8, 0.0))
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import networkx as nx

from tensoralgebra.graph.keys import LABEL, LAYER, N_EDGES, N_HEADS, PER, ROLE

#: How each channel is drawn (shared by the DOT export): colour, matplotlib and DOT line styles.
STYLE = {
    "Q": {"color": "#1f5fbf", "linestyle": (0, (5, 2)), "dot": "dashed"},
    "K": {"color": "#c8322a", "linestyle": (0, (6, 2, 1, 2)), "dot": "dotted"},
    "V": {"color": "#23913a", "linestyle": "solid", "dot": "solid"},
    "out": {"color": "#7a7a7a", "linestyle": "solid", "dot": "solid"},
}
DX, W, H = 2.4, 0.78, 0.62  # column spacing, box width, box height
_PORT = {"Q": 0.2, "K": 0.0, "V": -0.2, "out": 0.0}  # input heights on a box's left side
_ROLE_FILL = {"source": "#fff4d6", "head": "#eef2f8", "layer": "#e4ebf5", "unembed": "#f0f0f0"}
_CLEAR = H / 2 + 0.06  # how far a lane keeps from a box's centre
_OUTSIDE_STEP = 0.09  # spacing of the lanes above or below every box


def positions(G: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Box centres: column by layer (sources first), nodes of a column stacked top to bottom."""
    columns: dict[int, list[str]] = {}
    for n, layer in G.nodes(data=LAYER):
        columns.setdefault(layer, []).append(n)
    return {
        n: ((layer + 1) * DX, ((len(col) - 1) / 2 - i) * 1.0)
        for layer, col in columns.items()
        for i, n in enumerate(col)
    }


@dataclass
class Paint:
    """How a weighted drawing maps a value to colour and width, with its colour bar."""

    key: str
    mappable: object

    def color(self, value: float):
        return self.mappable.to_rgba(value)

    def width(self, value: float) -> float:
        return 0.6 + 2.4 * float(self.mappable.norm(value))


def scale(G: nx.MultiDiGraph, shown: list, weight: str | None) -> Paint | None:
    """The colour scale of ``weight`` over the ``shown`` edges (``None`` without a weight)."""
    if weight is None:
        return None
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    values = [float(G.edges[e][weight]) for e in shown] or [0.0, 1.0]
    low, high = min(values), max(values)
    norm = Normalize(low, high if high > low else low + 1.0)
    return Paint(weight, ScalarMappable(norm=norm, cmap=colormaps["viridis_r"]))


def edges(ax, G: nx.MultiDiGraph, drawn: list, place: dict, paint: Paint | None) -> list[float]:
    """Draw the ``drawn`` edges; returns the heights of the lanes used by edges that skip
    columns (each such edge gets a lane of its own)."""
    from matplotlib.patches import FancyArrowPatch

    by_layer = G.graph.get(PER) == "layer"
    lanes = {} if by_layer else _lanes(G, drawn, place)
    most = max((G.edges[e].get(N_EDGES, 1) for e in drawn), default=1)
    for u, v, c in drawn:
        data, style = G.edges[u, v, c], STYLE[c]
        color, lw, alpha = style["color"], 0.7 if c == "out" else 1.0, 0.8
        if paint is not None:
            color, lw, alpha = paint.color(data[paint.key]), paint.width(data[paint.key]), 0.9
        elif by_layer:
            lw += 1.5 * data[N_EDGES] / most
        route = _arc if by_layer else _route
        arrow = FancyArrowPatch(
            path=route(place[u], place[v], c, lanes.get((u, v, c))),
            arrowstyle="-|>",
            mutation_scale=7,
            color=color,
            linestyle=style["linestyle"],
            linewidth=lw,
            alpha=alpha,
            zorder=1,
            shrinkA=0,
            shrinkB=0.5,
        )
        ax.add_patch(arrow)
    if by_layer:  # the arcs' tops, for the frame
        return [arc_rise(round((place[v][0] - place[u][0]) / DX)) for u, v, _ in drawn]
    return list(lanes.values())


def arc_rise(span: int) -> float:
    """How far above the blocks an arc across ``span`` columns rises: higher the longer it is."""
    return 0.35 + 0.3 * (span - 1)


def _arc(tail, head, channel, _lane):
    """A layer-to-layer edge as an arc above the row of blocks, higher the more layers it
    skips, so that edges of different spans never share a stretch."""
    from matplotlib.path import Path as Curve

    (x0, y0), (x1, y1) = tail, head
    start, end = (x0 + W / 2, y0 + H / 4), (x1 - W / 2, y1 + _PORT[channel])
    if round((x1 - x0) / DX) <= 1:
        return Curve([start, end], [Curve.MOVETO, Curve.LINETO])
    top = max(y0, y1) + H / 2 + arc_rise(round((x1 - x0) / DX))
    points = [start, (start[0] + 0.4, top), (end[0] - 0.4, top), end]
    return Curve(points, [Curve.MOVETO, Curve.CURVE4, Curve.CURVE4, Curve.CURVE4])


def _lanes(G, drawn, place) -> dict[tuple, float]:
    """A lane height for each edge that skips columns: the free band nearest its ends, shared
    by the edges that want it, each at an offset of its own across the band."""
    rows: dict[int, list[float]] = {}
    for x, y in place.values():
        rows.setdefault(round(x / DX), []).append(y)
    wanted: dict[float, list[tuple]] = {}
    for u, v, c in drawn:
        (x0, y0), (x1, y1) = place[u], place[v]
        first, last = round(x0 / DX), round(x1 / DX)
        if last - first > 1:
            passed = [y for col in range(first + 1, last) for y in rows.get(col, ())]
            lane = _lane(passed, (y0 + y1 + _PORT[c]) / 2)
            wanted.setdefault(round(lane, 6), []).append((-y0, -y1, first, last, (u, v, c)))
    top = max((y for ys in rows.values() for y in ys), default=0.0)
    bottom = min((y for ys in rows.values() for y in ys), default=0.0)
    out = {}
    for lane, group in wanted.items():
        group.sort()
        n = len(group)
        if lane > top:  # above every box: stack upwards
            offsets = [lane + i * _OUTSIDE_STEP for i in range(n)]
        elif lane < bottom:
            offsets = [lane - i * _OUTSIDE_STEP for i in range(n)]
        else:  # between two boxes: spread across the free band
            band = 0.5 - _CLEAR - 0.02
            offsets = [lane + band * (2 * i / (n - 1) - 1) if n > 1 else lane for i in range(n)]
        out.update({edge: y for (*_, edge), y in zip(group, offsets)})
    return out


def _lane(boxes: list[float], want: float) -> float:
    """The height nearest ``want`` that clears every box centred at a height in ``boxes``."""
    if not boxes:
        return want
    ys = sorted(set(boxes))
    lanes = [ys[0] - _CLEAR - 0.14, ys[-1] + _CLEAR + 0.14]
    lanes += [(a + b) / 2 for a, b in itertools.pairwise(ys) if b - a >= 2 * _CLEAR]
    return min(lanes, key=lambda y: (abs(y - want), -y))


def _route(tail, head, channel, lane):
    """Straight between neighbouring columns; an edge that skips columns leaves its writer,
    runs along its lane past the boxes between, and turns into its reader's input."""
    from matplotlib.path import Path as Curve

    (x0, y0), (x1, y1) = tail, head
    start, end = (x0 + W / 2, y0), (x1 - W / 2, y1 + _PORT[channel])
    if lane is None:
        return Curve([start, end], [Curve.MOVETO, Curve.LINETO])
    a, b, bend = x0 + DX / 2, x1 - DX / 2, 0.45
    points = [start, (start[0] + bend, y0), (a - bend, lane), (a, lane), (b, lane)]
    points += [(b + bend, lane), (end[0] - bend, end[1]), end]
    codes = [Curve.MOVETO, *[Curve.CURVE4] * 3, Curve.LINETO, *[Curve.CURVE4] * 3]
    return Curve(points, codes)


def nodes(ax, G: nx.MultiDiGraph, place: dict, drawn: list) -> list[str]:
    """Draw the boxes; the unembedding only where an edge reaches it. Returns the nodes drawn."""
    from matplotlib.patches import FancyBboxPatch

    reached = {v for _, v, _ in drawn}
    shown = [n for n, role in G.nodes(data=ROLE) if role != "unembed" or n in reached]
    for n in shown:
        data, (x, y) = G.nodes[n], place[n]
        box = FancyBboxPatch(
            (x - W / 2, y - H / 2),
            W,
            H,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=_ROLE_FILL[data[ROLE]],
            edgecolor="#333333",
            linewidth=1.0,
            zorder=2,
        )
        ax.add_patch(box)
        # A layer block's name stands above its column; the block says how many heads it holds.
        text, size = (data[LABEL], 8.5) if N_HEADS not in data else (f"{data[N_HEADS]} h", 7)
        ax.text(x + 0.08, y, text, ha="center", va="center", fontsize=size, zorder=3)
        if data[ROLE] in ("head", "layer"):
            for c in ("Q", "K", "V"):
                ax.text(
                    x - W / 2 + 0.05,
                    y + _PORT[c],
                    c,
                    ha="left",
                    va="center",
                    fontsize=5.5,
                    color=STYLE[c]["color"],
                    zorder=3,
                )
    return shown


def frame(ax, G: nx.MultiDiGraph, place: dict, lanes: list[float], title: str | None) -> None:
    """Limits, the layer names above everything drawn (so that no edge crosses them), title."""
    xs = [x for x, _ in place.values()]
    ys = [y for _, y in place.values()]
    top = max([max(ys) + H / 2, *lanes]) + 0.3
    bottom = min([min(ys) - H / 2, *lanes]) - 0.45
    ax.set_xlim(min(xs) - W, max(xs) + W)
    ax.set_ylim(bottom, top + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    layers = sorted(
        {
            (x, d[LAYER])
            for n, d in G.nodes(data=True)
            for x in [place[n][0]]
            if d[ROLE] in ("head", "layer")
        }
    )
    for x, layer in layers:
        ax.text(x, top, f"layer {layer}", ha="center", va="bottom", fontsize=8, color="#555555")
    if title:
        ax.set_title(title, fontsize=9)


def legend(ax, channels, plain: bool) -> None:
    """The channels' line styles (in black when colour shows a weight)."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            color="black" if plain else STYLE[c]["color"],
            linestyle=STYLE[c]["linestyle"],
            label=c,
        )
        for c in channels
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.02),
        ncol=len(handles),
        frameon=False,
        fontsize=8,
        handlelength=3.5,
    )
