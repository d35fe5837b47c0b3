"""Equations a derivation may cite: proved identities, definitions and hypotheses.

An :class:`Equation` ``lhs = rhs`` is stated with matrix symbols that stand for any matrices of
their spaces (``A``, ``W`` in ``(A ⊗ W)^T = A^T ⊗ W^T``); :meth:`Equation.at` instantiates them
with expressions, so that a later step can cite the identity where it applies. A *definition*
(``W_OV^h = W_O^h W_V^h``) or an induction *hypothesis* names a symbol for an expression: the
exact and numeric checks unfold it, since the two sides differ as free symbols.

>>> from tensoralgebra.expr import MODEL, POSITIONS, Kron, Space, Transpose, symbol
>>> A = symbol("A", Space.of(POSITIONS), Space.of(POSITIONS))
>>> W = symbol("W", Space.of(MODEL), Space.of(MODEL))
>>> eq = Equation("transpose of a Kronecker product", Transpose(Kron((A, W))),
...               Kron((Transpose(A), Transpose(W))))
>>> print(eq)
(A ⊗ W)^T = A^T ⊗ W^T
>>> B = symbol("B", Space.of(POSITIONS), Space.of(POSITIONS))
>>> print(eq.at(A=A @ B))
(A B ⊗ W)^T = (A B)^T ⊗ W^T
"""

from __future__ import annotations

from dataclasses import dataclass

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import HeadVar
from tensoralgebra.expr.nodes import Expr, MatrixSymbol
from tensoralgebra.expr.traversal import substitute, symbols
from tensoralgebra.expr.visitor import map_children

#: What an equation is: a proved identity, a definition, or an induction hypothesis.
KINDS = ("identity", "definition", "hypothesis")


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs``, named (``name`` is what a step citing it prints)."""

    name: str
    lhs: Expr
    rhs: Expr
    kind: str = "identity"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TensorAlgebraError(f"an equation's kind is one of {KINDS}, got {self.kind!r}")
        if self.lhs.shape != self.rhs.shape:
            raise TensorAlgebraError(
                f"{self.name}: the sides of {self.lhs} = {self.rhs} act between different "
                f"spaces, [{self.lhs.rows} × {self.lhs.cols}] and [{self.rhs.rows} × "
                f"{self.rhs.cols}]"
            )
        if self.kind != "identity" and not isinstance(self.lhs, MatrixSymbol):
            raise TensorAlgebraError(
                f"{self.name}: a {self.kind} names a matrix symbol, but its left-hand side is "
                f"{self.lhs}"
            )

    def __str__(self) -> str:
        return f"{self.lhs} = {self.rhs}"

    @property
    def unfolds(self) -> bool:
        """Whether the numeric and exact checks replace ``lhs`` by ``rhs`` (definitions and
        hypotheses: their left-hand side is a name, not an independent matrix)."""
        return self.kind != "identity"

    def at(self, **values: Expr) -> Equation:
        """The equation with its symbols replaced, by name (``A=...``), by expressions of the
        same spaces; unnamed symbols stay as they are."""
        by_name = {str(s): s for s in symbols(self.lhs) | symbols(self.rhs)}
        mapping = {}
        for name, value in values.items():
            if name not in by_name:
                raise TensorAlgebraError(
                    f"{self.name} has no symbol {name!r}; its symbols are {sorted(by_name)}"
                )
            mapping[by_name[name]] = value
        return Equation(
            self.name,
            replace_symbols(self.lhs, mapping),
            replace_symbols(self.rhs, mapping),
            self.kind,
        )

    def reversed(self) -> Equation:
        """``rhs = lhs``."""
        return Equation(self.name, self.rhs, self.lhs, "identity")


def replace_symbols(expr: Expr, mapping: dict[MatrixSymbol, Expr]) -> Expr:
    """``expr`` with each symbol of ``mapping`` replaced by its expression (spaces must agree)."""
    for sym, value in mapping.items():
        if (value.rows, value.cols) != (sym.rows, sym.cols):
            raise TensorAlgebraError(
                f"cannot put {value} [{value.rows} × {value.cols}] for {sym} "
                f"[{sym.rows} × {sym.cols}]: the spaces differ"
            )
    return _replace(expr, mapping)


def _replace(expr: Expr, mapping: dict[MatrixSymbol, Expr]) -> Expr:
    if isinstance(expr, MatrixSymbol):
        return mapping.get(expr, expr)
    return map_children(expr, lambda c: _replace(c, mapping))


def unfold(expr: Expr, definitions: tuple[Equation, ...]) -> Expr:
    """``expr`` with every symbol a definition names replaced by its right-hand side.

    A definition stated for a head variable (``W_OV^h = W_O^h W_V^h``) applies to the symbol of
    every head: ``W_OV^{L0H1}`` becomes ``W_O^{L0H1} W_V^{L0H1}``.
    """
    if not definitions:
        return expr
    if isinstance(expr, MatrixSymbol):
        for d in definitions:
            lhs = d.lhs
            if (lhs.name, lhs.rows, lhs.cols) != (expr.name, expr.rows, expr.cols):
                continue
            if lhs.index == expr.index:
                return unfold(d.rhs, definitions)
            if isinstance(lhs.index, HeadVar) and expr.index is not None:
                return unfold(substitute(d.rhs, {lhs.index: expr.index}), definitions)
        return expr
    return map_children(expr, lambda c: unfold(c, definitions))
