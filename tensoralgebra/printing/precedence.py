"""The one precedence table the text and LaTeX printers share.

A child is parenthesised when it binds more loosely than its place needs: a sum inside a product,
a Kronecker product inside a product's factor. Higher binds tighter; atoms (symbols, identities,
zeros) bind tightest. A node type not in the table binds like its nearest base class that is
(along its MRO), else like an atom.

>>> from tensoralgebra.expr import MODEL, Space, symbol
>>> a, b = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "ab")
>>> precedence(a + b) < precedence(a @ b) < precedence(a.T) < precedence(a) == ATOM
True
"""

from __future__ import annotations

from tensoralgebra.expr.nodes import Bilinear, Expr, IndexedSum, Kron, Product, Sum, Transpose

#: Binding strength of each node type: higher binds tighter. A bilinear form ``q^T·F·k`` binds
#: like a product.
PRECEDENCE: dict[type, int] = {
    Sum: 1,
    IndexedSum: 1,
    Kron: 2,
    Product: 3,
    Bilinear: 3,
    Transpose: 4,
}
#: How tightly atoms bind: tighter than any operator.
ATOM = 5

_cache: dict[type, int] = {}


def precedence(expr: Expr) -> int:
    """How tightly ``expr`` binds when printed (see :data:`PRECEDENCE`)."""
    kind = type(expr)
    try:
        return _cache[kind]
    except KeyError:
        found = next((PRECEDENCE[k] for k in kind.__mro__ if k in PRECEDENCE), ATOM)
        _cache[kind] = found
        return found
