"""LaTeX in the paper's notation: a printer for expressions, and derivations rendered.

- :func:`to_latex`: any expression, in the paper's notation;
- a :class:`~tensoralgebra.derivation.Derivation` (:mod:`tensoralgebra.derivation`) renders as
  an ``align*`` fragment, a standalone document, Markdown, or a PDF (:mod:`.render`, which its
  methods ``to_latex``, ``to_document``, ``to_markdown``, ``to_pdf`` use).
"""

from tensoralgebra.latex.printer import to_latex
from tensoralgebra.latex.render import TeXError, find_tex_engine

__all__ = [
    "TeXError",
    "find_tex_engine",
    "to_latex",
]
