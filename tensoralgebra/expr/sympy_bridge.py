"""SymPy matrix expressions of our expressions: an independent oracle for the expansion.

:func:`to_sympy` writes an expression with SymPy's own matrix-expression classes (``MatrixSymbol``,
``Identity``, ``ZeroMatrix``, ``Transpose``, ``MatMul``, ``KroneckerProduct``, ``MatAdd``) at
concrete sizes; :func:`sympy_expansion` expands it with SymPy's rules, a second implementation of
the paper's expansion to compare ours with. A symbol's SymPy name carries its head (``A_L1H0``,
``W_OV_L0H1``); an operator from ``cols`` to ``rows`` becomes a ``[dim(rows), dim(cols)]`` matrix,
tensor-product spaces multiplying their dimensions (``A ⊗ W`` is ``numpy.kron``'s layout).

SymPy cannot write two things of ours: sums over symbolic head sets (instantiate a concrete
:class:`~tensoralgebra.Architecture`), and sums whose terms read different sources (token and
position one-hots): :func:`split_sources` cuts those into one block per source, each convertible.

>>> import tensoralgebra as ta
>>> logits = ta.logits(ta.Architecture(heads=(1,)))
>>> to_sympy(logits)
(KroneckerProduct(I, W_U))*(I + KroneckerProduct(A_L0H0, W_OV_L0H0))*(KroneckerProduct(I, W_E))
>>> to_sympy(logits).shape  # [n_ctx·d_vocab, n_ctx·d_vocab] at the default sizes
(10, 10)
>>> sympy_expansion(logits)
[KroneckerProduct(I, W_U*W_E), KroneckerProduct(A_L0H0, W_U*W_OV_L0H0*W_E)]
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy
from sympy.matrices.expressions.kronecker import combine_kronecker

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.build import add, product
from tensoralgebra.expr.indices import HeadVar
from tensoralgebra.expr.nodes import (
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
from tensoralgebra.expr.spaces import DirectSum, Space
from tensoralgebra.expr.visitor import Visitor

#: Sizes used when none are given: small, and pairwise distinct, so that SymPy's own shape checks
#: would catch a confused space (and explicit matrices stay cheap).
DEFAULT_SIZES = {"n_ctx": 2, "d_model": 4, "d_vocab": 5, "d_head": 3}


def _sizes(sizes: Mapping[str, int] | None) -> dict[str, int]:
    given = dict(sizes or {})
    for key, value in given.items():
        if key not in DEFAULT_SIZES:
            raise TensorAlgebraError(f"unknown size {key!r}: sizes are {sorted(DEFAULT_SIZES)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TensorAlgebraError(f"size {key} must be a positive integer, got {value!r}")
    return {**DEFAULT_SIZES, **given}


def _short(expr: Expr, limit: int = 80) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sympy_name(sym: MatrixSymbol) -> str:
    """The SymPy name of a symbol: its name, then its head (``W_OV`` of L0H1 is ``W_OV_L0H1``)."""
    if isinstance(sym.index, HeadVar):
        raise TensorAlgebraError(
            f"{sym} has the free head variable {sym.index!r}: SymPy needs concrete heads"
        )
    return sym.name if sym.index is None else f"{sym.name}_{sym.index!r}"


def to_sympy(expr: Expr, sizes: Mapping[str, int] | None = None) -> sympy.MatrixExpr:
    """``expr`` as an unevaluated SymPy matrix expression [dim(expr.rows), dim(expr.cols)].

    ``sizes`` maps ``n_ctx``, ``d_model``, ``d_vocab`` and ``d_head`` to dimensions; missing ones
    come from :data:`DEFAULT_SIZES`. Raises :class:`~tensoralgebra.errors.TensorAlgebraError` for
    indexed sums and free head variables (schematic architectures) and for operators on a direct
    sum of spaces (see :func:`split_sources`).

    >>> import tensoralgebra as ta
    >>> to_sympy(ta.expand(ta.logits(ta.Architecture(heads=()))), {"n_ctx": 3})
    KroneckerProduct(I, W_U*W_E)
    >>> to_sympy(ta.logits(ta.Architecture.schematic(n_layers=1)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: cannot write Σ_{h∈H0} ... in SymPy: ...
    """
    return _Converter(_sizes(sizes)).convert(expr)


class _Converter(Visitor):
    action = "write in SymPy"

    def __init__(self, sizes: dict[str, int]):
        self.sizes = sizes

    def dim(self, space: Space) -> int:
        return space.dims(self.sizes)

    def convert(self, e: Expr) -> sympy.MatrixExpr:
        if isinstance(e.rows, DirectSum) or isinstance(e.cols, DirectSum):
            blocks = e.cols if isinstance(e.cols, DirectSum) else e.rows
            raise TensorAlgebraError(
                f"cannot write {_short(e)} in SymPy: it acts on the direct sum {blocks} (terms "
                "reading different sources); convert each block of split_sources(expr) separately"
            )
        return self(e)

    def visit_MatrixSymbol(self, e: MatrixSymbol) -> sympy.MatrixExpr:
        return sympy.MatrixSymbol(sympy_name(e), self.dim(e.rows), self.dim(e.cols))

    def visit_Identity(self, e: Identity) -> sympy.MatrixExpr:
        return sympy.Identity(self.dim(e.space))

    def visit_Zero(self, e: Zero) -> sympy.MatrixExpr:
        return sympy.ZeroMatrix(self.dim(e.rows), self.dim(e.cols))

    def visit_Transpose(self, e: Transpose) -> sympy.MatrixExpr:
        return sympy.Transpose(self.convert(e.arg))

    def visit_IndexedSum(self, e: IndexedSum) -> sympy.MatrixExpr:
        raise TensorAlgebraError(
            f"cannot write {_short(e)} in SymPy: it sums over the symbolic head set "
            f"{e.over!r}; instantiate a concrete architecture, e.g. ta.Architecture(heads=(2, 2))"
        )

    def visit_Product(self, e: Product) -> sympy.MatrixExpr:
        return sympy.MatMul(*map(self.convert, e.args))

    def visit_Kron(self, e: Kron) -> sympy.MatrixExpr:
        return sympy.KroneckerProduct(*map(self.convert, e.args))

    def visit_Sum(self, e: Sum) -> sympy.MatrixExpr:
        return sympy.MatAdd(*map(self.convert, e.args))


def split_sources(expr: Expr) -> dict[tuple[Space, Space], Expr]:
    """The blocks of an operator between direct sums of spaces, keyed by ``(rows, cols)`` part.

    A sum of terms reading different sources (token one-hots through ``W_E``, position one-hots
    through ``W_pos``) acts on a direct sum; its block for one source is the same expression with
    only that source's terms. Blocks that are zero are left out; an operator between plain spaces
    is its own single block.

    >>> import tensoralgebra as ta
    >>> blocks = split_sources(ta.logits(ta.Architecture(heads=(1,), positional="standard")))
    >>> for (rows, cols), block in blocks.items():
    ...     print(f"[{rows} × {cols}]", block)
    [positions⊗vocab × positions⊗vocab] (Id ⊗ W_U)·(Id + A^{L0H0} ⊗ W_OV^{L0H0})·(Id ⊗ W_E)
    [positions⊗vocab × positions⊗pos] (Id ⊗ W_U)·(Id + A^{L0H0} ⊗ W_OV^{L0H0})·(Id ⊗ W_pos)
    """
    out = {}
    for rows in expr.rows.parts:
        for cols in expr.cols.parts:
            block = _block(expr, rows, cols)
            if block is not None:
                out[(rows, cols)] = block
    return out


class _Blocks(Visitor):
    """The ``(rows, cols)`` block of a node, or ``None`` where it is zero."""

    action = "split by source"

    def __call__(self, e: Expr, rows: Space, cols: Space) -> Expr | None:
        if rows not in e.rows.parts or cols not in e.cols.parts or isinstance(e, Zero):
            return None
        if e.rows == rows and e.cols == cols:
            return e
        return super().__call__(e, rows, cols)

    def visit_Transpose(self, e: Transpose, rows: Space, cols: Space) -> Expr | None:
        inner = self(e.arg, cols, rows)
        return None if inner is None else Transpose(inner)

    def visit_IndexedSum(self, e: IndexedSum, rows: Space, cols: Space) -> Expr | None:
        inner = self(e.body, rows, cols)
        return None if inner is None else IndexedSum(e.var, e.over, inner)

    def visit_Sum(self, e: Sum, rows: Space, cols: Space) -> Expr | None:
        kept = [b for a in e.args if (b := self(a, rows, cols)) is not None]
        return add(*kept) if kept else None

    def visit_Product(self, e: Product, rows: Space, cols: Space) -> Expr | None:
        first, rest = e.args[0], product(*e.args[1:])
        pairs = [(self(first, rows, mid), self(rest, mid, cols)) for mid in first.cols.parts]
        kept = [product(a, b) for a, b in pairs if a is not None and b is not None]
        return add(*kept) if kept else None

    # Symbols, identities and Kronecker products act between plain spaces: a node reaching here
    # with direct-sum spaces is of a type this split does not know.


_block = _Blocks()


def sympy_expansion(expr: Expr, sizes: Mapping[str, int] | None = None) -> list[sympy.MatrixExpr]:
    """SymPy's own expansion of ``expr``: its terms, each [dim(expr.rows), dim(expr.cols)].

    The recipe: convert with :func:`to_sympy`, ``doit()`` (pushes transposes inwards, which
    ``expand`` leaves alone), ``expand()`` (distributes products and Kronecker products over
    sums), then SymPy's mixed-product step ``combine_kronecker`` on each term alone. Never on the
    sum: SymPy 1.14 rewrites ``A ⊗ B + C ⊗ D`` to ``(A + C) ⊗ (B + D)`` whenever the shapes agree,
    which is a different matrix. SymPy merges equal terms (``X + X`` is one term ``2*X``), so
    an expansion with repeated terms has fewer SymPy terms than ours; the logits have none.

    >>> import tensoralgebra as ta
    >>> len(sympy_expansion(ta.logits(ta.Architecture(heads=(2, 1)))))
    6
    """
    whole = to_sympy(expr, sizes).doit().expand()
    if isinstance(whole, sympy.ZeroMatrix):
        return []
    parts = whole.args if isinstance(whole, sympy.MatAdd) else (whole,)
    return [combine_kronecker(term) for term in parts]
