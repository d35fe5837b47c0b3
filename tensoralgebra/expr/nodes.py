"""Immutable expression nodes with structural equality.

An expression is a tree of these nodes. Every node knows the space its rows live in and the space
its columns live in (see :mod:`tensoralgebra.expr.spaces`); constructing a product, Kronecker
product or sum whose operands do not fit raises :class:`~tensoralgebra.errors.SpaceMismatchError`
naming both operands and their spaces.

Constructors here build exactly the node asked for: they validate, they never rewrite. Flattening,
identity elimination and the rest are rewrite rules (:mod:`tensoralgebra.expr.rules`), so that an
expansion can record each one; :mod:`tensoralgebra.expr.build` has the convenient constructors.

>>> from tensoralgebra.expr.spaces import MODEL, VOCAB, POSITIONS
>>> W_U = MatrixSymbol("W_U", Space.of(VOCAB), Space.of(MODEL))
>>> W_E = MatrixSymbol("W_E", Space.of(MODEL), Space.of(VOCAB))
>>> Product((W_U, W_E)).shape
(vocab, vocab)
>>> try:
...     Product((W_U, W_U))
... except SpaceMismatchError as e:
...     print(e)
ill-typed product W_U W_U: W_U [vocab × model] takes model, but W_U [vocab × model] gives vocab
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from itertools import repeat

from tensoralgebra.errors import SpaceMismatchError, TensorAlgebraError
from tensoralgebra.expr.indices import HeadSet, HeadVar, Index
from tensoralgebra.expr.spaces import AnySpace, DirectSum, Space, join, tensor

_set = object.__setattr__


class Expr:
    """Base of all nodes: structural equality, a cached hash, spaces, and operator sugar.

    Subclasses list their fields in ``_fields``; equality and hashing compare exactly those.
    """

    __slots__ = ("_hash", "cols", "rows")
    _fields: tuple[str, ...] = ()

    rows: AnySpace
    cols: AnySpace

    def _key(self) -> tuple:
        return tuple(getattr(self, f) for f in self._fields)

    def _freeze(self, rows: AnySpace, cols: AnySpace) -> None:
        _set(self, "rows", rows)
        _set(self, "cols", cols)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(self) is not type(other):
            return NotImplemented if not isinstance(other, Expr) else False
        return hash(self) == hash(other) and self._key() == other._key()

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:  # computed on first use: most intermediate nodes never need it
            _set(self, "_hash", hash((type(self).__name__, self._key())))
            return self._hash

    def __reduce__(self):
        return (type(self), self._key())

    @property
    def shape(self) -> tuple[AnySpace, AnySpace]:
        """``(rows, cols)``: the spaces this operator maps from (cols) and to (rows)."""
        return (self.rows, self.cols)

    @property
    def children(self) -> tuple[Expr, ...]:
        """The sub-expressions, in order (empty for leaves)."""
        return ()

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        """The same kind of node over new children (validated like any construction)."""
        return self

    # Sugar: ``a @ b`` is the product, ``a + b`` the sum, ``a.T`` the transpose.
    def __matmul__(self, other: Expr) -> Expr:
        from tensoralgebra.expr.build import product

        return product(self, other)

    def __add__(self, other: Expr) -> Expr:
        from tensoralgebra.expr.build import add

        return add(self, other)

    @property
    def T(self) -> Transpose:
        return Transpose(self)

    def __str__(self) -> str:
        from tensoralgebra.expr.text import to_text

        return to_text(self)

    def __repr__(self) -> str:
        return str(self)

    def _repr_latex_(self) -> str:
        from tensoralgebra.latex.printer import to_latex

        return f"${to_latex(self)}$"


def _plain(space: AnySpace, who: Expr, what: str) -> Space:
    if isinstance(space, DirectSum):
        raise SpaceMismatchError(f"{what} needs {who} to act on one space, not on {space}")
    return space


class MatrixSymbol(Expr):
    """A named matrix, e.g. ``W_E`` or ``A^{L1H0}``, with an optional head index.

    ``rows`` and ``cols`` are :class:`Space` s; ``index`` is a :class:`Head`, a bound
    :class:`HeadVar`, or ``None`` for matrices shared by all heads.
    """

    __slots__ = ("index", "name")
    _fields = ("name", "rows", "cols", "index")

    def __init__(self, name: str, rows: Space, cols: Space, index: Index | None = None):
        if not isinstance(name, str) or not name:
            raise TensorAlgebraError(
                f"a matrix symbol's name must be a non-empty string, got {name!r}"
            )
        for space in (rows, cols):
            if not isinstance(space, Space):
                raise TensorAlgebraError(f"{name}: spaces must be Space objects, got {space!r}")
        _set(self, "name", name)
        _set(self, "index", index)
        _set(self, "rows", rows)
        _set(self, "cols", cols)
        self._freeze(rows, cols)

    def __reduce__(self):
        return (MatrixSymbol, (self.name, self.rows, self.cols, self.index))


class Identity(Expr):
    """The identity on a space: ``Id`` (``Id ⊗ Id`` is the identity on the tensor product)."""

    __slots__ = ("space",)
    _fields = ("space",)

    def __init__(self, space: Space):
        if not isinstance(space, Space):
            raise TensorAlgebraError(f"Identity needs a Space, got {space!r}")
        _set(self, "space", space)
        self._freeze(space, space)


class Zero(Expr):
    """The zero operator from ``cols`` to ``rows`` (what a sum over no heads is)."""

    __slots__ = ()
    _fields = ("rows", "cols")

    def __init__(self, rows: AnySpace, cols: AnySpace):
        _set(self, "rows", rows)
        _set(self, "cols", cols)
        self._freeze(rows, cols)


class Transpose(Expr):
    """``arg^T``: rows and columns swapped."""

    __slots__ = ("arg",)
    _fields = ("arg",)

    def __init__(self, arg: Expr):
        _set(self, "arg", _expr(arg, "a transpose"))
        self._freeze(arg.cols, arg.rows)

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return Transpose(*children)


class _Nary(Expr):
    """A node over two or more operands stored in ``args``."""

    __slots__ = ("args",)
    _fields = ("args",)
    _what = ""

    def _set_args(self, args: Iterable[Expr]) -> tuple[Expr, ...]:
        args = tuple(args)
        if not all(map(isinstance, args, repeat(Expr))):
            for a in args:
                _expr(a, self._what)
        if len(args) < 2:
            raise TensorAlgebraError(f"{self._what} needs at least two operands, got {len(args)}")
        _set(self, "args", args)
        return args

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.args

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        old = self.args
        if len(children) == len(old) and all(map(_same_spaces, children, old)):
            # Operands replaced by operands on the same spaces cannot break the typing this node
            # was validated with: rewriting inside a tree skips re-validating every ancestor.
            node = object.__new__(type(self))
            _set(node, "args", tuple(children))
            node._freeze(self.rows, self.cols)
            return node
        return type(self)(children)


class Product(_Nary):
    """The (non-commutative) product ``args[0] · args[1] · ...``; rightmost acts first."""

    __slots__ = ()
    _what = "a product"

    def __init__(self, args: Iterable[Expr]):
        args = self._set_args(args)
        if [a.cols for a in args[:-1]] == [a.rows for a in args[1:]]:
            self._freeze(args[0].rows, args[-1].cols)
            return
        for left, right in itertools.pairwise(args):
            if left.cols != right.rows:
                raise SpaceMismatchError(
                    f"ill-typed product {left} {right}: {_typed(left)} takes {left.cols}, "
                    f"but {_typed(right)} gives {right.rows}"
                )
        self._freeze(args[0].rows, args[-1].cols)


class Kron(_Nary):
    """The Kronecker product ``args[0] ⊗ args[1] ⊗ ...`` (two or three factors in the framework).

    With two factors, ``(A ⊗ W) R = A R W^T`` on a residual stream ``R`` [n_ctx, d]: the first
    factor mixes positions, the second the model space.
    """

    __slots__ = ()
    _what = "a Kronecker product"

    def __init__(self, args: Iterable[Expr]):
        args = self._set_args(args)
        rows = tuple([a.rows for a in args])
        cols = tuple([a.cols for a in args])
        if DirectSum in map(type, rows + cols):
            for a in args:
                _plain(a.rows, a, "a Kronecker product")
                _plain(a.cols, a, "a Kronecker product")
        self._freeze(tensor(rows), tensor(cols))


class Sum(_Nary):
    """The sum ``args[0] + args[1] + ...``, in the order given.

    Terms must share their spaces, except that terms reading different sources (token one-hots vs
    position one-hots) may be added: the sum is then the block operator on the direct sum.
    """

    __slots__ = ()
    _what = "a sum"

    def __init__(self, args: Iterable[Expr]):
        args = self._set_args(args)
        rows = join([a.rows for a in args])
        cols = join([a.cols for a in args])
        if rows is None or cols is None:
            first = args[0]
            bad = next(
                a
                for a in args[1:]
                if join([first.rows, a.rows]) is None or join([first.cols, a.cols]) is None
            )
            raise SpaceMismatchError(
                f"ill-typed sum {first} + {bad}: {_typed(first)} and {_typed(bad)} "
                "do not act between the same spaces"
            )
        self._freeze(rows, cols)


class IndexedSum(Expr):
    """``Σ_{var ∈ over} body``: a sum over the heads of one or more layers."""

    __slots__ = ("body", "over", "var")
    _fields = ("var", "over", "body")

    def __init__(self, var: HeadVar, over: HeadSet, body: Expr):
        if not isinstance(var, HeadVar):
            raise TensorAlgebraError(f"an indexed sum binds a HeadVar, got {var!r}")
        if not isinstance(over, HeadSet):
            raise TensorAlgebraError(f"an indexed sum ranges over a HeadSet, got {over!r}")
        _set(self, "var", var)
        _set(self, "over", over)
        _set(self, "body", _expr(body, "an indexed sum"))
        self._freeze(body.rows, body.cols)

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.body,)

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return IndexedSum(self.var, self.over, *children)


def _expr(value: object, what: str) -> Expr:
    if not isinstance(value, Expr):
        raise TensorAlgebraError(f"{what} takes expressions, got {type(value).__name__} {value!r}")
    return value


def _same_spaces(a: Expr, b: Expr) -> bool:
    return a.rows == b.rows and a.cols == b.cols


def _typed(e: Expr) -> str:
    return f"{e} [{e.rows} × {e.cols}]"
