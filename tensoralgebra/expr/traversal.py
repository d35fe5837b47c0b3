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

from collections.abc import Callable, Iterator, Mapping, Sequence

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadVar, Index
from tensoralgebra.expr.nodes import Expr, Identity, IndexedSum, MatrixSymbol, Sum, Zero
from tensoralgebra.expr.visitor import map_children


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
    if isinstance(expr, IndexedSum) and expr.var in mapping:  # the sum binds its own variable
        mapping = {v: i for v, i in mapping.items() if v != expr.var}
    return map_children(expr, lambda c: substitute(c, mapping))


def fresh_var(preferred: HeadVar, avoid: frozenset[HeadVar]) -> HeadVar:
    """``preferred`` unless it is in ``avoid``; else the first of ``h'``, ``h''``, ... not in it."""
    var = preferred
    while var in avoid:
        var = HeadVar(var.name + "'", var.layer)
    return var


def count_terms(expr: Expr, *, cap: int | None = None) -> int:
    """How many terms full distribution of ``expr`` gives, counted without expanding.

    An indexed sum counts as one (grouped) term; a zero counts as none. Each distinct node is
    counted once (a sub-tree shared by many parents, as layers are, is not walked again), so the
    count takes time in the number of distinct nodes. With ``cap``, counts saturate there: the
    answer is exact below ``cap`` and ``cap`` means "at least ``cap``", which keeps the numbers
    small where squaring a shared sum again and again would make the exact count itself huge.

    >>> from tensoralgebra.expr.nodes import Product
    >>> from tensoralgebra.expr.spaces import MODEL, Space
    >>> a, b = (MatrixSymbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "ab")
    >>> e = Sum((a, b))
    >>> for _ in range(100):
    ...     e = Sum((e, e))
    >>> count_terms(e) == 2**101
    True
    >>> for _ in range(1000):
    ...     e = Product((e, e))
    >>> count_terms(e, cap=10**6)
    1000000
    """
    if type(expr) in _ONE_TERM:
        return 1
    counts: dict[int, int] = {}  # by id(): every node stays alive in ``expr`` meanwhile
    stack = [expr]
    while stack:
        node = stack[-1]
        if id(node) in counts:
            stack.pop()
            continue
        # Symbols and identities (most of a tree) are one term each, known without a visit.
        waiting = [c for c in node.children if type(c) not in _ONE_TERM and id(c) not in counts]
        if waiting:
            stack.extend(waiting)
            continue
        stack.pop()
        children = [1 if type(c) in _ONE_TERM else counts[id(c)] for c in node.children]
        counts[id(node)] = _count(node, children, cap)
    return counts[id(expr)]


_ONE_TERM = frozenset({MatrixSymbol, Identity})


def _count(node: Expr, children: list[int], cap: int | None) -> int:
    if isinstance(node, Zero):
        return 0
    if isinstance(node, Sum):
        total = sum(children)
        return total if cap is None else min(total, cap)
    # Every other node is linear in each operand (products, Kronecker products, bilinear forms,
    # transposes, Σ): its terms are all choices of one term per operand.
    if 0 in children:
        return 0
    total = 1
    for n in children:
        total = total * n if cap is None else min(total * n, cap)
    return total


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
    done: dict[int, Expr] = {}  # by id(): equal sub-trees are one node, written out once

    def each(node: Expr) -> Expr:
        out = done.get(id(node))
        if out is None:
            out = done[id(node)] = _instantiate(node, heads, each)
        return out

    try:
        return each(expr)
    finally:
        each = None  # a function that refers to itself is a cycle: this frees the memo now


def _instantiate(expr: Expr, heads: Sequence[int], recurse: Callable[[Expr], Expr]) -> Expr:
    if isinstance(expr, IndexedSum):
        body = recurse(expr.body)
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
    return map_children(expr, recurse)
