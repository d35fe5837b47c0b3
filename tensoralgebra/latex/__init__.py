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

#: Names of :mod:`tensoralgebra.derivation` still reachable here, for callers written before
#: derivations had a room of their own.
_DERIVATION_NAMES = ("Derivation", "DerivationStep", "Group", "derive_logits", "derive_scores")


def __getattr__(name: str):
    # Resolved on use, not at import: tensoralgebra.derivation imports the expression printer,
    # which still lives in this package, so an eager import here would be circular. The
    # direction is downward either way (latex uses derivation, never the reverse).
    if name in _DERIVATION_NAMES:
        import tensoralgebra.derivation

        return getattr(tensoralgebra.derivation, name)
    raise AttributeError(f"module 'tensoralgebra.latex' has no attribute {name!r}")
