"""Plain-text (Unicode) printer, kept apart from the nodes.

Heads print the Python way, from 0 (``A^{L1H0}``, ``Σ_{h∈H0}``); the LaTeX printer writes the
paper's notation. Parentheses come from one precedence table: a child is parenthesised when it
binds more loosely than its place needs.

>>> from tensoralgebra.expr.spaces import MODEL, POSITIONS, VOCAB, Space
>>> from tensoralgebra.expr.indices import Head
>>> from tensoralgebra.expr.nodes import Identity, Kron, MatrixSymbol, Product, Sum
>>> A = MatrixSymbol("A", Space.of(POSITIONS), Space.of(POSITIONS), Head(1, 0))
>>> W = MatrixSymbol("W_U", Space.of(VOCAB), Space.of(MODEL))
>>> Id = Identity(Space.of(POSITIONS))
>>> W_OV = MatrixSymbol("W_OV", Space.of(MODEL), Space.of(MODEL), Head(1, 0))
>>> layer = Sum((Identity(Space.of(POSITIONS, MODEL)), Kron((A.T @ A, W_OV))))
>>> print(Product((Kron((Id, W)), layer)))
(Id ⊗ W_U)·(Id + A^{L1H0 T} A^{L1H0} ⊗ W_OV^{L1H0})
"""

from __future__ import annotations

from tensoralgebra.expr.nodes import (
    Expr,
    IndexedSum,
    Kron,
    MatrixSymbol,
    Product,
    Sum,
    Transpose,
)

# Binding strength of each node type: higher binds tighter.
PRECEDENCE = {Sum: 1, IndexedSum: 1, Kron: 2, Product: 3, Transpose: 4}
ATOM = 5
_BY_NAME = {kind.__name__: p for kind, p in PRECEDENCE.items()} | {"Bilinear": 3}


def precedence(expr: Expr) -> int:
    """How tightly ``expr`` binds when printed (atoms bind tightest); a bilinear form
    ``q^T·F·k`` binds like a product."""
    return _BY_NAME.get(type(expr).__name__, ATOM)


def to_text(expr: Expr) -> str:
    """The expression in Unicode text."""
    return _PRINTERS.get(type(expr).__name__, _unknown)(expr)


def _wrap(child: Expr, needed: int) -> str:
    text = to_text(child)
    return f"({text})" if precedence(child) < needed else text


def _symbol(e: MatrixSymbol, transposed: bool = False) -> str:
    parts = [] if e.index is None else [repr(e.index)]
    if transposed:
        parts.append("T")
    if not parts:
        return e.name
    sup = " ".join(parts)
    return f"{e.name}^{sup}" if sup == "T" else f"{e.name}^{{{sup}}}"


def _transpose(e: Transpose) -> str:
    if isinstance(e.arg, MatrixSymbol):
        return _symbol(e.arg, transposed=True)
    return _wrap(e.arg, ATOM) + "^T"


def _product(e: Product) -> str:
    # Operators on tensor spaces (Kronecker factors, layers) get the paper's explicit dot.
    tensor = any(len(a.rows.parts[0].factors) > 1 for a in e.args)
    return ("·" if tensor else " ").join(_wrap(a, PRECEDENCE[Product] + 1) for a in e.args)


def _kron(e: Kron) -> str:
    return " ⊗ ".join(_wrap(a, PRECEDENCE[Kron] + 1) for a in e.args)


def _sum(e: Sum) -> str:
    # A Σ term needs no parentheses in a sum: it binds its own term only, as in the paper.
    return " + ".join(
        to_text(a) if isinstance(a, IndexedSum) else _wrap(a, PRECEDENCE[Sum] + 1) for a in e.args
    )


def _indexed_sum(e: IndexedSum) -> str:
    body = to_text(e.body) if isinstance(e.body, IndexedSum) else _wrap(e.body, PRECEDENCE[Kron])
    return f"Σ_{{{e.var!r}∈{e.over!r}}} {body}"


def _bilinear(e: Expr) -> str:
    # The paper's notation: (query stream)^T · (form) · (key stream).
    query = to_text(e.query)
    if precedence(e.query) < ATOM:
        query = f"({query})"
    form = _wrap(e.form, ATOM)
    key = _wrap(e.key, ATOM)
    return f"{query}^T·{form}·{key}"


def _unknown(e: Expr) -> str:
    return f"<{type(e).__name__}>"


# Keyed by type name so that node types defined after this module (bilinear forms) print too.
_PRINTERS = {
    "MatrixSymbol": _symbol,
    "Identity": lambda e: "Id",
    "Zero": lambda e: "0",
    "Transpose": _transpose,
    "Product": _product,
    "Kron": _kron,
    "Sum": _sum,
    "IndexedSum": _indexed_sum,
    "Bilinear": _bilinear,
}
