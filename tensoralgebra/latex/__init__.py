"""LaTeX documents in the paper's notation: derivations rendered as ``align*`` fragments,
standalone documents, Markdown, or PDFs compiled by a TeX engine.

- :func:`to_latex`: any expression, in the paper's notation (from :mod:`tensoralgebra.printing`);
- a :class:`~tensoralgebra.derivation.Derivation` renders through :mod:`.render`, which its
  methods ``to_latex``, ``to_document``, ``to_markdown`` and ``to_pdf`` use.
"""

from tensoralgebra.latex.render import TeXError, find_tex_engine
from tensoralgebra.printing.latex import to_latex

__all__ = [
    "TeXError",
    "find_tex_engine",
    "to_latex",
]
