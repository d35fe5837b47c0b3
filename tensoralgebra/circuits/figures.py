"""The figure every circuits plot returns: a matplotlib ``Figure`` that shows itself in notebooks
and saves itself as PNG, SVG or PDF with reproducible bytes.

:class:`CircuitFigure` is a ``matplotlib.figure.Figure`` made without pyplot (no global state, no
backend change) with ``_repr_png_`` (what notebooks display) and :meth:`CircuitFigure.save`,
which picks the file kind from the suffix, leaves out the date and software version, and turns
a file that cannot be written into a :class:`~tensoralgebra.errors.TensorAlgebraError`.

>>> fig = CircuitFigure(figsize=(1, 1))
>>> fig._repr_png_()[:8]
b'\\x89PNG\\r\\n\\x1a\\n'
>>> fig.save("figure.txt")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: path 'figure.txt': expected a file ending in ...
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from tensoralgebra.errors import TensorAlgebraError

#: The file kinds a figure is saved as.
SUFFIXES = (".png", ".svg", ".pdf")
#: Resolution of saved and displayed PNGs.
DPI = 120


class CircuitFigure(Figure):
    """A ``Figure`` with a PNG representation for notebooks and a checked :meth:`save`."""

    def _repr_png_(self) -> bytes:
        return self.to_bytes("png")

    def to_bytes(self, kind: str = "png") -> bytes:
        """The figure as a PNG or SVG file's bytes (``kind`` ``"png"`` or ``"svg"``)."""
        if kind not in ("png", "svg"):
            raise TensorAlgebraError(f"kind is {kind!r}: expected 'png' or 'svg'")
        buffer = io.BytesIO()
        self._write(buffer, kind)
        return buffer.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the figure to ``path`` (``.png``, ``.svg`` or ``.pdf``); return the path."""
        out = Path(path)
        kind = out.suffix.lower()
        if kind not in SUFFIXES:
            raise TensorAlgebraError(f"path {str(out)!r}: expected a file ending in {SUFFIXES}")
        try:
            self._write(out, kind[1:])
        except OSError as error:
            raise TensorAlgebraError(
                f"cannot write a figure to {str(out)!r}: {error.strerror}"
            ) from None
        return out

    def _write(self, target, kind: str) -> None:
        metadata = {"Software": None} if kind == "png" else {"Date": None}
        with matplotlib.rc_context({"svg.hashsalt": "tensoralgebra", "svg.fonttype": "path"}):
            self.savefig(target, format=kind, dpi=DPI, metadata=metadata)
