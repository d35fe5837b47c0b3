"""Figures of the circuits analyses: every one is a
:class:`~tensoralgebra.circuits.figures.CircuitFigure` (a matplotlib ``Figure`` made without
pyplot state), which a notebook displays inline (``_repr_png_``) and ``fig.save(path)`` writes as
PNG, SVG or PDF. All are reachable as ``ta.circuits.NAME`` (matplotlib imported on first use).

- ``composition_figure(table)`` (here): a heatmap of a ``CompositionScores`` (earlier ×
  later heads), baseline-subtracted, the baseline's mean ± std marked on the colour bar;
- ``eigenvalue_figure(table)`` (here): per head, the eigenvalues of a full circuit in the
  complex plane, titled with ``Σλ/Σ|λ|``;
- ``plot_attention(model, prompt)`` (``plots_attention``): chosen heads' attention patterns on
  one prompt, tokens (decoded when ``decode`` is given) on the axes;
- ``plot_order_ablation(table)`` (``plots_attention``): bar charts of an ``OrderAblation``, the
  loss per order and the reduction per order and per layer;
- ``skip_trigram_figure(tables)`` (``plots_skip_trigrams``): a table per head of
  ``source … destination → out`` triples, their QK and OV entries shaded.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture((2, 2)), d_model=16, d_head=4, d_vocab=9, n_ctx=4)
>>> fig = composition_figure(ta.circuits.composition_scores(w, "K", samples=100))
>>> type(fig).__name__, len(fig.axes)
('CircuitFigure', 2)
"""

from __future__ import annotations

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits.composition import CompositionScores, label
from tensoralgebra.circuits.copying import CopyingScores
from tensoralgebra.circuits.figures import CircuitFigure as Figure
from tensoralgebra.errors import TensorAlgebraError


def composition_figure(table: object, *, subtract: bool = True) -> Figure:
    """Rows: earlier (virtual) heads; columns: later heads; NaN pairs (no composition) blank.
    ``subtract``: colours are scores minus the baseline mean (diverging, 0 white) with the
    baseline's ±1 std band marked on the colour bar; else raw scores in ``[0, 1]``."""
    if not isinstance(table, CompositionScores):
        raise TensorAlgebraError(
            f"composition_figure needs CompositionScores, got {type(table).__name__}"
        )
    subtract = validation.flag(subtract, "subtract")
    values = table.subtracted() if subtract else table.scores
    rows, cols = values.shape
    # Room for the axis labels, the two-line title and the colour bar even on a 2 × 2 table.
    size = (max(4.8, 2.4 + 0.55 * cols), max(3.6, 1.8 + 0.4 * rows))
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    if subtract:
        bound = float(np.nanmax(np.abs(values), initial=1e-12))
        image = ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound)
    else:
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1)
    _annotate(ax, values, bound if subtract else None)
    ax.set_xticks(range(cols), [label((h,)) for h in table.later], rotation=90)
    ax.set_yticks(range(rows), [label(p) for p in table.earlier])
    ax.set_xlabel("later head")
    ax.set_ylabel("earlier (virtual) head")
    # A tall table would otherwise get a colour bar as wide as a quarter of the figure.
    bar = fig.colorbar(image, ax=ax, aspect=min(60, 20 * max(1, rows / cols)))
    first = table.baselines[min(table.baselines)] if table.baselines else None
    if first is not None:
        centre = 0.0 if subtract else first.mean
        bar.ax.axhspan(centre - first.std, centre + first.std, color="k", alpha=0.2)
        bar.ax.axhline(centre, color="k", linewidth=1)
        bar.set_label("score − baseline mean" if subtract else "score")
        ax.set_title(
            f"{table.kind}-composition scores\nrandom baseline {first.mean:.3f} ± "
            f"{first.std:.3f} (grey band)",
            fontsize=9,
        )
    return fig


def _annotate(ax, values: np.ndarray, bound: float | None) -> None:
    """Each cell's value; white on the darkest cells of a diverging map (beyond 60% of
    ``bound``), black elsewhere."""
    if values.size > 400:  # beyond ~20 × 20 the numbers would not be readable
        return
    for (i, j), value in np.ndenumerate(values):
        if not np.isnan(value):
            dark = bound is not None and abs(value) > 0.6 * bound
            colour = "white" if dark else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)


def eigenvalue_figure(table: object, *, columns: int = 4) -> Figure:
    """One panel per head of a :class:`~tensoralgebra.circuits.CopyingScores`: its
    eigenvalues as points in the complex plane (equal axes, the real and imaginary axes drawn),
    the title giving the head, ``Σλ/Σ|λ|`` and "copying" when flagged."""
    if not isinstance(table, CopyingScores):
        raise TensorAlgebraError(
            f"eigenvalue_figure needs CopyingScores, got {type(table).__name__}"
        )
    columns = validation.positive_integer(columns, "columns")
    n = len(table.heads)
    width = min(columns, max(n, 1))
    height = max(1, -(-n // width))
    fig = Figure(figsize=(2.4 * width, 2.4 * height), layout="constrained")
    fig.suptitle(f"eigenvalues of the full {table.circuit} circuits", fontsize=10)
    for index, head in enumerate(table.heads):
        ax = fig.add_subplot(height, width, index + 1)
        values = table.eigenvalues[index]
        colour = "tab:green" if table.copying[index] else "tab:red"
        ax.axhline(0, color="0.6", linewidth=0.6)
        ax.axvline(0, color="0.6", linewidth=0.6)
        ax.scatter(values.real, values.imag, s=14, color=colour)
        reach = 1.1 * float(np.abs(values).max(initial=0)) or 1.0
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
        flag = ", copying" if table.copying[index] else ""
        ax.set_title(f"{label((head,))}: {table.scores[index]:+.2f}{flag}", fontsize=8)
    return fig
