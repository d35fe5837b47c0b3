r"""Printing expressions: Unicode text (what ``str`` gives) and LaTeX in the paper's notation, both
parenthesising by one precedence table.

Importing this package registers its printers with the nodes (:data:`tensoralgebra.expr.nodes.
PRINTERS`), which cannot import a layer above them: ``str(expr)`` and ``expr._repr_latex_()``
call them from there. ``import tensoralgebra`` imports this package first.

>>> import tensoralgebra as ta
>>> T = ta.expand(ta.logits(ta.Architecture(heads=(1,))))
>>> print(to_text(T))
Id ⊗ W_U W_E + A^{L0H0} ⊗ W_U W_OV^{L0H0} W_E
>>> print(to_latex(T))
\mathrm{Id} \otimes W_U W_E + A^{\mathrm{L0H0}} \otimes (W_U W_{OV}^{\mathrm{L0H0}} W_E)
"""

from tensoralgebra.expr.nodes import register_printer
from tensoralgebra.printing.latex import (
    LatexPrinter,
    escape,
    index_latex,
    symbol_name,
    term_pieces,
    to_latex,
)
from tensoralgebra.printing.precedence import ATOM, PRECEDENCE, precedence
from tensoralgebra.printing.text import TextPrinter, to_text

register_printer("text", to_text)
register_printer("latex", to_latex)

__all__ = [
    "ATOM",
    "PRECEDENCE",
    "LatexPrinter",
    "TextPrinter",
    "escape",
    "index_latex",
    "precedence",
    "symbol_name",
    "term_pieces",
    "to_latex",
    "to_text",
]
