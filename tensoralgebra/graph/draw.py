"""A drawing of the graph: layers left to right, one box per node, channels by colour and line.

Each head is a box with three inputs on its left side, Q (top), K (middle) and V (bottom), and
its output on its right side; the sources stand in the first column and the unembedding in the
last. An edge runs from the writer's output to the reader's input of its channel:

=========  ========  ============  ===============================================
channel    colour    line          meaning
=========  ========  ============  ===============================================
``Q``      blue      dashed        the later head's queries read the writer
``K``      red       dash-dot      the later head's keys read the writer
``V``      green     solid         the later head's values read the writer
``out``    grey      solid, thin   the unembedding reads the writer
=========  ========  ============  ===============================================

With ``weight=`` an attribute key (e.g. ``"composition"``), line widths and opacities follow
its values and edges without one are faint. matplotlib is imported when a drawing is made.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.graph.build import architecture
from tensoralgebra.graph.keys import CHANNELS, LABEL, LAYER, ROLE, check_channel

#: How each channel is drawn (shared by the DOT export): colour, matplotlib and DOT line styles.
STYLE = {
    "Q": {"color": "#1f5fbf", "linestyle": (0, (5, 2)), "dot": "dashed"},
    "K": {"color": "#c8322a", "linestyle": (0, (6, 2, 1, 2)), "dot": "dotted"},
    "V": {"color": "#23913a", "linestyle": "solid", "dot": "solid"},
    "out": {"color": "#7a7a7a", "linestyle": "solid", "dot": "solid"},
}
_DX, _W, _H = 2.4, 0.78, 0.62  # column spacing, box width, box height
_PORT = {"Q": 0.2, "K": 0.0, "V": -0.2, "out": 0.0}  # input heights on a box's left side
_ROLE_FILL = {"source": "#fff4d6", "head": "#eef2f8", "unembed": "#f0f0f0"}


def positions(G: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Box centres: column by layer (sources first), heads of a layer stacked top to bottom."""
    columns: dict[int, list[str]] = {}
    for n, data in G.nodes(data=True):
        columns.setdefault(data[LAYER], []).append(n)
    place = {}
    for layer, nodes in columns.items():
        for i, n in enumerate(nodes):
            place[n] = ((layer + 1) * _DX, ((len(nodes) - 1) / 2 - i) * 1.0)
    return place


def draw(
    G: nx.MultiDiGraph,
    path: str | Path | None = None,
    *,
    channels: tuple[str, ...] = CHANNELS,
    weight: str | None = None,
    panels: bool | None = None,
    title: str | None = None,
):
    """Draw ``G`` (only the edges of ``channels``); save to ``path`` (``.svg``, ``.png``, ``.pdf``)
    if given. Returns the matplotlib figure.

    ``panels=True`` draws each channel in a panel of its own, the nodes repeated; the default
    does so when one picture would hold more than :data:`MAX_EDGES_PER_PANEL` edges.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for c in channels:
        check_channel(c)
    arch = architecture(G)
    shown = sum(1 for *_, c in G.edges(keys=True) if c in channels)
    if panels is None:
        panels = shown > MAX_EDGES_PER_PANEL and len(channels) > 1
    groups = [(c,) for c in channels] if panels else [tuple(channels)]
    tallest = max(map(len, _by_column(G).values()))
    width, height = 1.1 + 1.75 * (arch.n_layers + 2), 1.0 + 0.95 * tallest
    rows, cols = (len(groups) + 1) // 2 if len(groups) > 1 else 1, min(len(groups), 2)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    top = _weights(G, weight)
    for ax, group in zip(axes.flat, groups):
        _edges(ax, G, group, weight, top)
        _nodes(ax, G)
        _frame(ax, G, arch, _NAMES[group[0]] if panels else None)
        _legend(ax, group)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    fig.suptitle(title if title is not None else repr(arch), fontsize=11)
    fig.tight_layout()
    if path is not None:
        _save(fig, Path(path))
        plt.close(fig)
    return fig


#: Above this many edges, :func:`draw` gives each channel a panel of its own.
MAX_EDGES_PER_PANEL = 80
_NAMES = {
    "Q": "Q: what later heads' queries read",
    "K": "K: what later heads' keys read",
    "V": "V: what later heads' values read (V-composition)",
    "out": "out: what the unembedding reads",
}


def _edges(ax, G: nx.MultiDiGraph, channels, weight, top) -> None:
    from matplotlib.patches import FancyArrowPatch

    place = positions(G)
    rows: dict[int, list[float]] = {}
    for x, y in place.values():
        rows.setdefault(round(x / _DX), []).append(y)
    for u, v, c in G.edges(keys=True):
        if c not in channels:
            continue
        lw, alpha = _line(G.edges[u, v, c], weight, top, c)
        style = STYLE[c]
        arrow = FancyArrowPatch(
            path=_route(place[u], place[v], c, rows),
            arrowstyle="-|>",
            mutation_scale=7,
            color=style["color"],
            linestyle=style["linestyle"],
            linewidth=lw,
            alpha=alpha,
            zorder=1,
            shrinkA=0,
            shrinkB=0.5,
        )
        ax.add_patch(arrow)


def _route(tail, head, channel, rows):
    """The edge's path: straight between neighbouring columns; an edge that skips columns
    leaves its writer, runs along a free lane between (or around) the boxes of the columns it
    passes, and turns into its reader's input, so that it never runs behind a box."""
    from matplotlib.path import Path as Curve

    (x0, y0), (x1, y1) = tail, head
    start, end = (x0 + _W / 2, y0), (x1 - _W / 2, y1 + _PORT[channel])
    first, last = round(x0 / _DX), round(x1 / _DX)
    if last - first <= 1:
        return Curve([start, end], [Curve.MOVETO, Curve.LINETO])
    passed = [y for col in range(first + 1, last) for y in rows.get(col, ())]
    lane = _lane(passed, (y0 + end[1]) / 2) + _LANE_OFFSET[channel]
    a, b, bend = x0 + _DX / 2, x1 - _DX / 2, 0.45
    points = [start, (start[0] + bend, y0), (a - bend, lane), (a, lane), (b, lane)]
    points += [(b + bend, lane), (end[0] - bend, end[1]), end]
    codes = [Curve.MOVETO, *[Curve.CURVE4] * 3, Curve.LINETO, *[Curve.CURVE4] * 3]
    return Curve(points, codes)


_LANE_OFFSET = {"Q": 0.06, "K": 0.0, "V": -0.06, "out": 0.0}


def _lane(boxes: list[float], want: float) -> float:
    """The height nearest ``want`` that clears every box centred at a height in ``boxes``."""
    if not boxes:
        return want
    clear = _H / 2 + 0.1
    ys = sorted(set(boxes))
    lanes = [ys[0] - clear - 0.1, ys[-1] + clear + 0.1]
    lanes += [(a + b) / 2 for a, b in itertools.pairwise(ys) if b - a >= 2 * clear]
    return min(lanes, key=lambda y: (abs(y - want), -y))


def _nodes(ax, G: nx.MultiDiGraph) -> None:
    from matplotlib.patches import FancyBboxPatch

    place = positions(G)
    for n, data in G.nodes(data=True):
        x, y = place[n]
        box = FancyBboxPatch(
            (x - _W / 2, y - _H / 2),
            _W,
            _H,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=_ROLE_FILL[data[ROLE]],
            edgecolor="#333333",
            linewidth=1.0,
            zorder=2,
        )
        ax.add_patch(box)
        ax.text(x + 0.04, y, data[LABEL], ha="center", va="center", fontsize=9, zorder=3)
        if data[ROLE] == "head":
            for c in ("Q", "K", "V"):
                color = STYLE[c]["color"]
                ax.text(
                    x - _W / 2 + 0.05,
                    y + _PORT[c],
                    c,
                    ha="left",
                    va="center",
                    fontsize=5.5,
                    color=color,
                    zorder=3,
                )


def _legend(ax, channels) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=STYLE[c]["color"], linestyle=STYLE[c]["linestyle"], label=c)
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


def _by_column(G: nx.MultiDiGraph) -> dict[int, list[str]]:
    columns: dict[int, list[str]] = {}
    for n, layer in G.nodes(data=LAYER):
        columns.setdefault(layer, []).append(n)
    return columns


def _weights(G: nx.MultiDiGraph, weight: str | None) -> float:
    if weight is None:
        return 1.0
    values = [w for *_, w in G.edges(keys=True, data=weight) if w is not None]
    return max(values, default=1.0) or 1.0


def _line(data: dict, weight: str | None, top: float, channel: str) -> tuple[float, float]:
    base = 0.7 if channel == "out" else 1.0
    if weight is None:
        return base, 0.75
    value = data.get(weight)
    if value is None:
        return 0.5, 0.15
    share = value / top
    return 0.3 + 2.7 * share, 0.2 + 0.8 * share


def _frame(ax, G, arch, title) -> None:
    place = positions(G)
    xs = [x for x, _ in place.values()]
    ys = [y for _, y in place.values()]
    ax.set_xlim(min(xs) - _W, max(xs) + _W)
    ax.set_ylim(min(ys) - 0.9, max(ys) + 0.75)
    ax.set_aspect("equal")
    ax.axis("off")
    for layer in range(arch.n_layers):
        ax.text(
            (layer + 1) * _DX,
            max(ys) + 0.5,
            f"layer {layer}",
            ha="center",
            fontsize=8,
            color="#555555",
        )
    if title:
        ax.set_title(title, fontsize=9)


def _save(fig, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png", ".pdf"):
        raise TensorAlgebraError(f"cannot draw to {path.name!r}: use .svg, .png or .pdf")
    import matplotlib

    # Reproducible files: no timestamp, fixed ids.
    matplotlib.rcParams["svg.hashsalt"] = "tensoralgebra"
    metadata = {"Date": None} if suffix in (".svg", ".pdf") else {"Software": None}
    fig.savefig(path, dpi=150, metadata=metadata, bbox_inches="tight")
