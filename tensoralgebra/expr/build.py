"""Convenient constructors: they flatten nested products, Kronecker products and sums, and
return a lone operand as itself. Everything else is left as written (identities stay: the paper
writes ``Id ⊗ W_U``), so that the rewrite rules have something to record.

>>> from tensoralgebra.expr.spaces import MODEL, Space
>>> a, b, c = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "abc")
>>> product(product(a, b), c)
a b c
>>> add(a, add(b, c)).args == (a, b, c)
True
>>> kron(a)
a
"""

from __future__ import annotations

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import HeadSet, HeadVar, Index
from tensoralgebra.expr.nodes import Expr, IndexedSum, Kron, MatrixSymbol, Product, Sum, Transpose
from tensoralgebra.expr.spaces import Space


def symbol(name: str, rows: Space, cols: Space, index: Index | None = None) -> MatrixSymbol:
    """A named matrix from ``cols`` to ``rows``."""
    return MatrixSymbol(name, rows, cols, index)


def _flat(kind: type, operands: tuple[Expr, ...], what: str) -> Expr:
    if not operands:
        raise TensorAlgebraError(f"{what} of nothing: give at least one operand")
    flat: list[Expr] = []
    for op in operands:
        flat.extend(op.args if type(op) is kind else (op,))
    return flat[0] if len(flat) == 1 else kind(flat)


def product(*factors: Expr) -> Expr:
    """``factors[0] · factors[1] · ...``, nested products flattened."""
    return _flat(Product, factors, "a product")


def kron(*factors: Expr) -> Expr:
    """``factors[0] ⊗ factors[1] ⊗ ...``, nested Kronecker products flattened."""
    return _flat(Kron, factors, "a Kronecker product")


def add(*terms: Expr) -> Expr:
    """``terms[0] + terms[1] + ...``, nested sums flattened."""
    return _flat(Sum, terms, "a sum")


def transpose(arg: Expr) -> Expr:
    """``arg^T``."""
    return Transpose(arg)


def indexed_sum(var: HeadVar, over: HeadSet, body: Expr) -> IndexedSum:
    """``Σ_{var ∈ over} body``."""
    return IndexedSum(var, over, body)
