"""Plain-text (Unicode) printer: what ``str(expr)`` gives.

Heads print the Python way, from 0 (``A^{L1H0}``, ``Σ_{h∈H0}``); the LaTeX printer writes the
paper's notation. Parentheses come from the shared precedence table
(:mod:`tensoralgebra.printing.precedence`): a child is parenthesised when it binds more loosely
than its place needs.

>>> from tensoralgebra.expr.spaces import MODEL, POSITIONS, VOCAB, Space
>>> from tensoralgebra.expr.indices import Head
>>> from tensoralgebra.expr.nodes import Identity, Kron, MatrixSymbol, Product, Sum
>>> A = MatrixSymbol("A", Space.of(POSITIONS), Space.of(POSITIONS), Head(1, 0))
>>> W = MatrixSymbol("W_U", Space.of(VOCAB), Space.of(MODEL))
>>> Id = Identity(Space.of(POSITIONS))
>>> W_OV = MatrixSymbol("W_OV", Space.of(MODEL), Space.of(MODEL), Head(1, 0))
>>> layer = Sum((Identity(Space.of(POSITIONS, MODEL)), Kron((A.T @ A, W_OV))))
>>> print(to_text(Product((Kron((Id, W)), layer))))
(Id ⊗ W_U)·(Id + A^{L1H0 T} A^{L1H0} ⊗ W_OV^{L1H0})
"""

from __future__ import annotations

from tensoralgebra.expr.nodes import (
    Bilinear,
    Expr,
    Identity,
    IndexedSum,
    Kron,
    MatrixSymbol,
    Product,
    Sum,
    Transpose,
    Zero,
)
from tensoralgebra.expr.visitor import Visitor
from tensoralgebra.printing.precedence import ATOM, PRECEDENCE, precedence


class TextPrinter(Visitor):
    """The Unicode printer, one method per node type (see :mod:`tensoralgebra.expr.visitor`)."""

    def wrap(self, child: Expr, needed: int) -> str:
        text = self(child)
        return f"({text})" if precedence(child) < needed else text

    def visit_MatrixSymbol(self, e: MatrixSymbol, transposed: bool = False) -> str:
        parts = [] if e.index is None else [repr(e.index)]
        if transposed:
            parts.append("T")
        if not parts:
            return e.name
        sup = " ".join(parts)
        return f"{e.name}^{sup}" if sup == "T" else f"{e.name}^{{{sup}}}"

    def visit_Identity(self, e: Identity) -> str:
        return "Id"

    def visit_Zero(self, e: Zero) -> str:
        return "0"

    def visit_Transpose(self, e: Transpose) -> str:
        if isinstance(e.arg, MatrixSymbol):
            return self.visit_MatrixSymbol(e.arg, transposed=True)
        return self.wrap(e.arg, ATOM) + "^T"

    def visit_Product(self, e: Product) -> str:
        # Operators on tensor spaces (Kronecker factors, layers) get the paper's explicit dot.
        tensor = any(len(a.rows.parts[0].factors) > 1 for a in e.args)
        return ("·" if tensor else " ").join(self.wrap(a, PRECEDENCE[Product] + 1) for a in e.args)

    def visit_Kron(self, e: Kron) -> str:
        return " ⊗ ".join(self.wrap(a, PRECEDENCE[Kron] + 1) for a in e.args)

    def visit_Sum(self, e: Sum) -> str:
        # A Σ term needs no parentheses in a sum: it binds its own term only, as in the paper.
        return " + ".join(
            self(a) if isinstance(a, IndexedSum) else self.wrap(a, PRECEDENCE[Sum] + 1)
            for a in e.args
        )

    def visit_IndexedSum(self, e: IndexedSum) -> str:
        body = e.body
        body = self(body) if isinstance(body, IndexedSum) else self.wrap(body, PRECEDENCE[Kron])
        return f"Σ_{{{e.var!r}∈{e.over!r}}} {body}"

    def visit_Bilinear(self, e: Bilinear) -> str:
        # The paper's notation: (query stream)^T · (form) · (key stream).
        query = self(e.query)
        if precedence(e.query) < ATOM:
            query = f"({query})"
        return f"{query}^T·{self.wrap(e.form, ATOM)}·{self.wrap(e.key, ATOM)}"

    def visit_Expr(self, e: Expr) -> str:
        # A node type of its own (a subclass of Expr with no printer): its name, never an error,
        # since str() is what error messages are made of.
        return f"<{type(e).__name__}>"


_PRINTER = TextPrinter()


def to_text(expr: Expr) -> str:
    """The expression in Unicode text (what ``str(expr)`` gives)."""
    return _PRINTER(expr)
