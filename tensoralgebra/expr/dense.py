"""Dense numeric values of expressions, Kronecker products materialised with ``numpy.kron``.

This is the reference semantics the rules are tested against: small sizes only (a Kronecker
product of an [n, n] and a [d, d] matrix is [n·d, n·d]). Efficient evaluation on real models
never materialises a Kronecker product.

An operator from ``cols`` to ``rows`` becomes a matrix of shape ``[dim(rows), dim(cols)]``; a
tensor-product space is laid out row-major (``numpy.kron``'s order); a direct sum of spaces is
laid out block after block, in the order of ``DirectSum.parts``.

>>> import numpy as np
>>> from tensoralgebra.expr.build import kron, symbol
>>> from tensoralgebra.expr.spaces import MODEL, POSITIONS, Space
>>> A = symbol("A", Space.of(POSITIONS), Space.of(POSITIONS))
>>> W = symbol("W", Space.of(MODEL), Space.of(MODEL))
>>> values = RandomValues({"n_ctx": 3, "d_model": 2}, seed=0)
>>> to_dense(kron(A, W), values).shape
(6, 6)
>>> np.allclose(to_dense(kron(A, W), values), np.kron(values[A], values[W]))
True
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadVar
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
from tensoralgebra.expr.spaces import AnySpace, DirectSum, Space
from tensoralgebra.expr.visitor import Visitor


class RandomValues(dict):
    """Values for matrix symbols, drawn from a standard normal the first time each is asked for.

    Keys are :class:`MatrixSymbol` s with concrete (or no) head index; ``sizes`` maps dimension
    names (``n_ctx``, ``d_model``, ``d_vocab``, ``d_head``) to sizes. A symbol's value depends
    only on ``seed`` and the symbol, never on the order symbols are asked for, so two
    expressions over the same symbols are evaluated with the same matrices.
    """

    def __init__(self, sizes: Mapping[str, int], seed: int = 0):
        super().__init__()
        self.sizes = dict(sizes)
        self.seed = seed

    def __missing__(self, sym: MatrixSymbol) -> np.ndarray:
        key = f"{sym.name}|{sym.index!r}|{sym.rows!r}|{sym.cols!r}".encode()
        rng = np.random.default_rng([self.seed, zlib.crc32(key)])
        value = rng.standard_normal((dim(sym.rows, self.sizes), dim(sym.cols, self.sizes)))
        self[sym] = value
        return value


def dim(space: AnySpace, sizes: Mapping[str, int]) -> int:
    """The dimension of ``space`` (a direct sum adds its parts' dimensions)."""
    try:
        return sum(part.dims(sizes) for part in space.parts)
    except KeyError as e:
        raise TensorAlgebraError(f"no size given for {e.args[0]} (needed by {space})") from None


def to_dense(
    expr: Expr,
    values: Mapping[MatrixSymbol, np.ndarray],
    heads: Sequence[int] = (),
    sizes: Mapping[str, int] | None = None,
) -> np.ndarray:
    """The matrix of ``expr``: [dim(expr.rows), dim(expr.cols)].

    ``values`` gives each symbol's matrix (a :class:`RandomValues` draws them as needed);
    ``heads[l]`` is the number of heads of layer ``l``, which indexed sums range over.
    """
    sizes = getattr(values, "sizes", None) if sizes is None else sizes
    if sizes is None:
        raise TensorAlgebraError("to_dense needs sizes: pass sizes= or a RandomValues")
    return _Dense(values, tuple(heads), sizes)(expr, {})


class _Dense(Visitor):
    """The dense matrix of a node, [dim(rows), dim(cols)], with ``env`` binding head variables."""

    action = "compute the dense matrix of"

    def __init__(self, values, heads, sizes):
        self.values, self.heads, self.sizes = values, heads, sizes

    def visit_MatrixSymbol(self, e: MatrixSymbol, env) -> np.ndarray:
        if isinstance(e.index, HeadVar):
            if e.index not in env:
                raise TensorAlgebraError(f"{e} uses the free head variable {e.index!r}")
            e = MatrixSymbol(e.name, e.rows, e.cols, env[e.index])
        return np.asarray(self.values[e])

    def visit_Identity(self, e: Identity, env) -> np.ndarray:
        return np.eye(dim(e.space, self.sizes))

    def visit_Zero(self, e: Zero, env) -> np.ndarray:
        return self._zeros(e)

    def visit_Transpose(self, e: Transpose, env) -> np.ndarray:
        return self(e.arg, env).T

    def visit_Product(self, e: Product, env) -> np.ndarray:
        out = self(e.args[0], env)
        for a in e.args[1:]:
            out = out @ self(a, env)
        return out

    def visit_Kron(self, e: Kron, env) -> np.ndarray:
        out = self(e.args[0], env)
        for a in e.args[1:]:
            out = np.kron(out, self(a, env))
        return out

    def visit_Sum(self, e: Sum, env) -> np.ndarray:
        return sum((self._placed(a, e, env) for a in e.args), self._zeros(e))

    def visit_IndexedSum(self, e: IndexedSum, env) -> np.ndarray:
        total = self._zeros(e)
        for layer in e.over.layers:
            if layer >= len(self.heads):
                raise TensorAlgebraError(f"{e.over!r} needs the head count of layer {layer}")
            for h in range(self.heads[layer]):
                total = total + self(e.body, {**env, e.var: Head(layer, h)})
        return total

    def visit_Bilinear(self, e: Bilinear, env) -> np.ndarray:
        """The three-factor matrix T with ``S[i,j] = Σ T[(i,j,s),(a,b,t)] X_q[a,s] X_k[b,t]``:
        the realignment under which ``A_q ⊗ A_k ⊗ M`` means ``A_q X_q M X_k^T A_k^T``."""
        if any(isinstance(s, DirectSum) for s in (e.query.cols, e.key.cols)):
            raise TensorAlgebraError(
                f"dense values of {e} need each stream to read one source; split the sources"
            )

        def sizes(space: Space) -> tuple[int, ...]:
            return tuple(dim(Space.of(b), self.sizes) for b in space.factors)

        (r0, r1, r2), (c0, c1, c2) = map(sizes, e.form.shape)
        q0, q1 = sizes(e.query.cols)
        k0, k1 = sizes(e.key.cols)
        g = self(e.form, env).reshape(r0, r1, r2, c0, c1, c2)
        q = self(e.query, env).reshape(c0, r2, q0, q1)
        k = self(e.key, env).reshape(c1, c2, k0, k1)
        c = np.einsum("ijmabn,amxs,bnyt->ijsxyt", g, q, k)
        return c.reshape(r0 * r1 * q1, q0 * k0 * k1)

    def _zeros(self, e: Expr) -> np.ndarray:
        return np.zeros((dim(e.rows, self.sizes), dim(e.cols, self.sizes)))

    def _placed(self, term: Expr, whole: Expr, env) -> np.ndarray:
        """The term's matrix inside the blocks of the sum's (possibly direct-sum) spaces."""
        value = self(term, env)
        if term.rows == whole.rows and term.cols == whole.cols:
            return value
        out = self._zeros(whole)
        rows = self._block(term.rows, whole.rows)
        cols = self._block(term.cols, whole.cols)
        out[np.ix_(rows, cols)] = value
        return out

    def _block(self, part: AnySpace, whole: AnySpace) -> np.ndarray:
        offsets, start = {}, 0
        for p in whole.parts:
            offsets[p] = start
            start += p.dims(self.sizes)
        return np.concatenate(
            [np.arange(offsets[p], offsets[p] + p.dims(self.sizes)) for p in part.parts]
        )
