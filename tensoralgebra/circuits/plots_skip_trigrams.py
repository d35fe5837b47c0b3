"""The skip-trigram table figure: one table per head, ``source … destination → out`` with the
QK and OV entries that rank each triple, their cells shaded by value.

>>> import tensoralgebra as ta
>>> from tensoralgebra.circuits.skip_trigrams import skip_trigrams
>>> w = ta.Weights.random(ta.Architecture((2,)), d_model=8, d_head=2, d_vocab=12, n_ctx=4)
>>> fig = skip_trigram_figure([skip_trigrams(w, 0, h, k=3, destinations=2) for h in (0, 1)])
>>> len(fig.axes), fig._repr_png_()[:4]
(2, b'\\x89PNG')
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from tensoralgebra.circuits.composition import label
from tensoralgebra.circuits.figures import CircuitFigure
from tensoralgebra.circuits.skip_trigrams import SkipTrigrams
from tensoralgebra.errors import TensorAlgebraError

#: Most tables one figure draws side by side before wrapping to a new row.
COLUMNS = 2
#: The column headers.
HEADER = ("source … destination → out", "QK", "OV")
#: Width of a number column (inches).
NUMBER = 0.75


def skip_trigram_figure(tables: object, *, columns: int = COLUMNS) -> CircuitFigure:
    """One panel per :class:`~tensoralgebra.circuits.skip_trigrams.SkipTrigrams` of ``tables``
    (one table or a list of them), ``columns`` panels per row."""
    tables = [tables] if isinstance(tables, SkipTrigrams) else tables
    if (
        isinstance(tables, (str, bytes))
        or not hasattr(tables, "__iter__")
        or not (tables := list(tables))
        or not all(isinstance(t, SkipTrigrams) for t in tables)
    ):
        raise TensorAlgebraError(
            "skip_trigram_figure needs a SkipTrigrams table or a non-empty list of them"
        )
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise TensorAlgebraError(f"columns is {columns!r}: expected a positive integer")
    width = min(columns, len(tables))
    height = -(-len(tables) // width)
    # The first column is as wide as its longest text (header included), at ~0.085 in a char.
    first = 0.085 * max([len(HEADER[0])] + [len(t.trigram(x)) for t in tables for x in t.triples])
    rows = max(len(t.triples) for t in tables)
    panel = (first + 2 * NUMBER + 0.2, 0.6 + 0.25 * (rows + 1))
    fig = CircuitFigure(figsize=(panel[0] * width, panel[1] * height), layout="constrained")
    share = first / (first + 2 * NUMBER)
    for index, table in enumerate(tables):
        _draw(fig.add_subplot(height, width, index + 1), table, share)
    return fig


def _draw(ax, table: SkipTrigrams, share: float) -> None:
    ax.axis("off")
    ax.set_title(
        f"{label((table.head,))}: skip-trigrams ({table.sources} of {table.d_vocab} sources)",
        fontsize=9,
    )
    rows = table.rows()
    if not rows:
        return
    cells = ax.table(
        cellText=[list(r) for r in rows],
        colLabels=list(HEADER),
        colWidths=[share, (1 - share) / 2, (1 - share) / 2],
        cellLoc="left",
        loc="upper center",
    )
    cells.auto_set_font_size(False)
    cells.set_fontsize(8)
    qk = np.array([t.qk for t in table.triples])
    ov = np.array([t.ov for t in table.triples])
    for (row, col), cell in cells.get_celld().items():
        cell.set_height(1 / (len(rows) + 1.5))
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("0.9")
        elif col == 0:
            cell.set_text_props(family="monospace")
        else:
            values = qk if col == 1 else ov
            cell.set_facecolor(_shade(values, row - 1))
            cell.get_text().set_horizontalalignment("right")


def _shade(values: np.ndarray, i: int):
    """A light colour for ``values[i]``: paler the nearer 0, red positive, blue negative (light
    enough for black text at the largest value)."""
    bound = float(np.abs(values).max()) or 1.0
    return colormaps["Reds" if values[i] >= 0 else "Blues"](0.45 * abs(values[i]) / bound)
