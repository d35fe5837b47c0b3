"""Values of expressions for the checks: exact (SymPy polynomials) and numeric (numpy).

The exact value gives every entry of every matrix its own symbol and computes in SymPy's
polynomial ring ``ZZ[entries]``: two expressions with equal exact values are equal as
polynomials in those entries, i.e. for every matrix of those sizes. The numeric value is the
reference dense semantics (:func:`tensoralgebra.expr.dense.to_dense`) with Gaussian entries.

Free head variables (a statement about "head ``h``") are bound to heads of their own before
evaluating, and indexed sums range over ``heads[l]`` heads of layer ``l``.

>>> from tensoralgebra.expr import MODEL, Space, symbol
>>> a, b = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "ab")
>>> left, right = exact_values([a @ b, b @ a], {"d_model": 2}, heads=())
>>> first_difference(left, right)
((0, 0), 'a_01*b_10 - a_10*b_01')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sympy import ZZ, Symbol
from sympy.polys.rings import ring

from tensoralgebra.expr.dense import RandomValues, _Dense, dim
from tensoralgebra.expr.indices import Head
from tensoralgebra.expr.nodes import Expr, Identity, MatrixSymbol
from tensoralgebra.expr.traversal import free_vars, instantiate, substitute, symbols

#: Sizes of the exact check: small (entries are polynomials) but two of each, so that every
#: product mixes entries and a transpose or a swapped factor changes the value.
EXACT_SIZES = {"n_ctx": 2, "d_model": 2, "d_vocab": 2, "d_head": 2}
#: Layer given to the first free head variable (then +1, ...): far from any real layer.
FREE_LAYER = 100


def bind_free(exprs: Sequence[Expr]) -> list[Expr]:
    """The expressions with each free head variable (shared among them) set to its own head."""
    free = sorted({v for e in exprs for v in free_vars(e)}, key=repr)
    heads = {v: Head(FREE_LAYER + i, 0) for i, v in enumerate(free)}
    return [substitute(e, heads) for e in exprs]


class _Exact(_Dense):
    """The dense evaluator on object arrays of polynomials."""

    def __init__(self, values, heads, sizes, zero, one):
        super().__init__(values, heads, sizes)
        self.zero, self.one = zero, one

    def visit_Identity(self, e: Identity, env) -> np.ndarray:
        n = dim(e.space, self.sizes)
        out = np.full((n, n), self.zero, dtype=object)
        np.fill_diagonal(out, self.one)
        return out

    def _zeros(self, e: Expr) -> np.ndarray:
        shape = (dim(e.rows, self.sizes), dim(e.cols, self.sizes))
        return np.full(shape, self.zero, dtype=object)


def exact_values(
    exprs: Sequence[Expr], sizes: Mapping[str, int], heads: Sequence[int]
) -> list[np.ndarray]:
    """The exact values (object arrays of polynomials) of ``exprs``, sharing their symbols."""
    exprs = bind_free(exprs)
    found = {s for e in exprs for s in symbols(instantiate(e, heads))}
    syms = sorted(found, key=lambda s: (s.name, repr(s.index), repr(s.rows), repr(s.cols)))
    shapes = {s: (_dim(s.rows, sizes), _dim(s.cols, sizes)) for s in syms}
    names = [
        Symbol(f"{_label(s, syms)}_{i}{j}")
        for s in syms
        for i in range(shapes[s][0])
        for j in range(shapes[s][1])
    ]
    # One ring for every entry: its zero and one are the identities' and zeros' entries.
    poly, *all_gens = ring(names or [Symbol("unit")], ZZ)
    gens = iter(all_gens)
    values = {}
    for s in syms:
        rows, cols = shapes[s]
        values[s] = np.array([[next(gens) for _ in range(cols)] for _ in range(rows)], dtype=object)
    evaluator = _Exact(values, tuple(heads), dict(sizes), poly.zero, poly.one)
    return [evaluator(e, {}) for e in exprs]


def _dim(space, sizes) -> int:
    return sum(part.dims(sizes) for part in space.parts)


def _label(sym: MatrixSymbol, syms: list[MatrixSymbol]) -> str:
    # Symbols of one name on different spaces (``W`` twice) need distinct entry names.
    base = sym.name if sym.index is None else f"{sym.name}{sym.index!r}"
    twins = [s for s in syms if s.name == sym.name and s.index == sym.index]
    return base if len(twins) == 1 else f"{base}_{twins.index(sym)}"


def first_difference(a: np.ndarray, b: np.ndarray) -> tuple[tuple[int, int], str] | None:
    """The first entry where ``a`` and ``b`` differ, with ``a - b`` there; ``None`` if equal."""
    if a.shape != b.shape:
        return ((-1, -1), f"shapes {a.shape} and {b.shape}")
    for index in np.ndindex(a.shape):
        if a[index] != b[index]:
            return (tuple(int(i) for i in index), str(a[index] - b[index]))
    return None


def layers_used(exprs: Sequence[Expr]) -> int:
    """How many layers the head sets and concrete heads of ``exprs`` reach into."""
    top = -1
    for e in exprs:
        stack = [e]
        while stack:
            node = stack.pop()
            over = getattr(node, "over", None)
            if over is not None:
                top = max(top, *over.layers)
            index = getattr(node, "index", None)
            if isinstance(index, Head) and index.layer < FREE_LAYER:
                top = max(top, index.layer)
            stack.extend(node.children)
    return top + 1


def numeric_values(
    exprs: Sequence[Expr], sizes: Mapping[str, int], heads: Sequence[int], seed: int
) -> list[np.ndarray]:
    """The float64 values of ``exprs``, sharing Gaussian entries for their symbols (drawn from
    ``seed``); free head variables bound as in :func:`exact_values`."""
    values = RandomValues(sizes, seed=seed)
    evaluator = _Dense(values, tuple(heads), values.sizes)
    return [evaluator(e, {}) for e in bind_free(exprs)]
