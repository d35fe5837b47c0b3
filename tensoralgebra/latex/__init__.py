"""LaTeX in the paper's notation: a printer for expressions, derivations and their rendering.

- :func:`to_latex`: any expression, in the paper's notation;
- :func:`derive_logits`, :func:`derive_scores`: the expansion of the logits or of a head's
  attention scores as a :class:`Derivation`, a chain of steps each with its justification;
- a derivation renders as an ``align*`` fragment, a standalone document, Markdown, or a PDF.
"""

from tensoralgebra.latex.derivation import (
    MAX_DERIVATION_TERMS,
    Derivation,
    DerivationStep,
    Group,
    derive_logits,
    derive_scores,
)
from tensoralgebra.latex.render import TeXError, find_tex_engine
from tensoralgebra.printing.latex import to_latex

__all__ = [
    "MAX_DERIVATION_TERMS",
    "Derivation",
    "DerivationStep",
    "Group",
    "TeXError",
    "derive_logits",
    "derive_scores",
    "find_tex_engine",
    "to_latex",
]
