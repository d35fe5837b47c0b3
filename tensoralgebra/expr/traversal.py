"""Walking expressions: free head variables, substitution, renaming, and term counts.

>>> from tensoralgebra.expr.indices import Head, HeadSet, HeadVar
>>> from tensoralgebra.expr.spaces import POSITIONS, Space
>>> h = HeadVar("h")
>>> A_h = MatrixSymbol("A", Space.of(POSITIONS), Space.of(POSITIONS), h)
>>> free_vars(A_h), free_vars(IndexedSum(h, HeadSet((0,)), A_h))
(frozenset({h}), frozenset())
>>> substitute(A_h, {h: Head(0, 1)})
A^{L0H1}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import reduce
from operator import mul

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadVar, Index
from tensoralgebra.expr.nodes import (
    Expr,
    IndexedSum,
    MatrixSymbol,
    Sum,
    Zero,
)


def free_vars(expr: Expr) -> frozenset[HeadVar]:
    """Head variables that occur in ``expr`` outside any sum that binds them."""
    if isinstance(expr, MatrixSymbol):
        return frozenset((expr.index,)) if isinstance(expr.index, HeadVar) else frozenset()
    if isinstance(expr, IndexedSum):
        return free_vars(expr.body) - {expr.var}
    return frozenset().union(*map(free_vars, expr.children))


def bound_vars(expr: Expr) -> frozenset[HeadVar]:
    """Head variables bound by some indexed sum inside ``expr``."""
    inner = frozenset().union(*map(bound_vars, expr.children))
    return inner | {expr.var} if isinstance(expr, IndexedSum) else inner


def substitute(expr: Expr, mapping: Mapping[HeadVar, Index]) -> Expr:
    """Replace free head variables by heads (or other variables); bound ones are left alone."""
    if not mapping:
        return expr
    if isinstance(expr, MatrixSymbol):
        if isinstance(expr.index, HeadVar) and expr.index in mapping:
            return MatrixSymbol(expr.name, expr.rows, expr.cols, mapping[expr.index])
        return expr
    if isinstance(expr, IndexedSum):
        inner = {v: i for v, i in mapping.items() if v != expr.var}
        return IndexedSum(expr.var, expr.over, substitute(expr.body, inner))
    if not expr.children:
        return expr
    return expr.with_children(tuple(substitute(c, mapping) for c in expr.children))


def fresh_var(preferred: HeadVar, avoid: frozenset[HeadVar]) -> HeadVar:
    """``preferred`` unless it is in ``avoid``; else the first of ``h'``, ``h''``, ... not in it."""
    var = preferred
    while var in avoid:
        var = HeadVar(var.name + "'", var.layer)
    return var


def count_terms(expr: Expr) -> int:
    """How many terms full distribution of ``expr`` gives, counted without expanding.

    An indexed sum counts as one (grouped) term; a zero counts as none.
    """
    if isinstance(expr, Sum):
        return sum(map(count_terms, expr.args))
    if isinstance(expr, Zero):
        return 0
    # Every other node is linear in each operand (products, Kronecker products, bilinear forms,
    # transposes, Σ): its terms are all choices of one term per operand.
    return reduce(mul, map(count_terms, expr.children), 1)


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children."""
    yield expr
    for child in expr.children:
        yield from walk(child)


def symbols(expr: Expr) -> frozenset[MatrixSymbol]:
    """The matrix symbols that occur in ``expr``."""
    return frozenset(e for e in walk(expr) if isinstance(e, MatrixSymbol))


def instantiate(expr: Expr, heads: Sequence[int]) -> Expr:
    """Replace every indexed sum by the explicit sum over the heads it ranges over.

    ``heads[l]`` is the number of heads of layer ``l``; a sum over no heads becomes a zero.

    >>> from tensoralgebra.expr.indices import HeadSet, HeadVar
    >>> from tensoralgebra.expr.spaces import POSITIONS, Space
    >>> h = HeadVar("h")
    >>> A_h = MatrixSymbol("A", Space.of(POSITIONS), Space.of(POSITIONS), h)
    >>> instantiate(IndexedSum(h, HeadSet((0, 1)), A_h), heads=(1, 2))
    A^{L0H0} + A^{L1H0} + A^{L1H1}
    """
    if isinstance(expr, IndexedSum):
        body = instantiate(expr.body, heads)
        terms = []
        for layer in expr.over.layers:
            if layer >= len(heads):
                raise TensorAlgebraError(
                    f"{expr.over!r} ranges over layer {layer}, but heads={tuple(heads)!r} "
                    f"gives head counts for layers 0..{len(heads) - 1} only"
                )
            terms += [substitute(body, {expr.var: Head(layer, h)}) for h in range(heads[layer])]
        if not terms:
            return Zero(expr.rows, expr.cols)
        return terms[0] if len(terms) == 1 else Sum(terms)
    if not expr.children:
        return expr
    return expr.with_children(tuple(instantiate(c, heads) for c in expr.children))
