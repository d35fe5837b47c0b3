"""Immutable expression nodes with structural equality.

An expression is a tree of these nodes. Every node knows the space its rows live in and the space
its columns live in (see :mod:`tensoralgebra.expr.spaces`); constructing a product, Kronecker
product or sum whose operands do not fit raises :class:`~tensoralgebra.errors.SpaceMismatchError`
naming both operands and their spaces.

Every node type lives here: symbols, identities and zeros (the leaves), transposes, products,
Kronecker products, sums, indexed sums and bilinear forms. Constructors build exactly the node
asked for: they validate, they never rewrite. Flattening, identity elimination and the rest are
rewrite rules (:mod:`tensoralgebra.expr.rules`), so that an expansion can record each one;
:mod:`tensoralgebra.expr.build` has the convenient constructors. Walking a tree is
:mod:`tensoralgebra.expr.visitor`'s business.

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
from collections.abc import Callable, Iterable
from itertools import repeat
from operator import attrgetter

from tensoralgebra.errors import SpaceMismatchError, TensorAlgebraError
from tensoralgebra.expr.indices import HeadSet, HeadVar, Index
from tensoralgebra.expr.interning import Interning, interned
from tensoralgebra.expr.spaces import AnySpace, DirectSum, Space, join, tensor

_set = object.__setattr__

#: The printers behind ``str(expr)`` (``"text"``) and ``expr._repr_latex_()`` (``"latex"``).
#: Printing is a layer above the nodes (it imports them), so the nodes cannot import it: importing
#: :mod:`tensoralgebra.printing` registers its printers here, and ``import tensoralgebra`` (which
#: any import of a submodule runs first) imports it before anything else.
PRINTERS: dict[str, Callable[[Expr], str]] = {}


def register_printer(fmt: str, printer: Callable[[Expr], str]) -> None:
    """Make ``printer`` the one ``str`` (``fmt="text"``) or ``_repr_latex_`` (``"latex"``) use."""
    PRINTERS[fmt] = printer


def _no_fields(node: Expr) -> tuple:
    return ()


class Expr(metaclass=Interning):
    """Base of all nodes: structural equality, a hash, spaces, and operator sugar.

    Subclasses list their fields in ``_fields``; two nodes are equal when they are of one type
    with equal fields. Nodes are interned when constructed, so equal nodes are one object: ``==``
    is ``is``, and hashing costs what hashing an identity does (the hash is not stable from
    one process to the next, as a string's is not).
    """

    __slots__ = ("__weakref__", "cols", "rows")
    _fields: tuple[str, ...] = ()
    _KEYED_BY_ARGS = False  # (see Interning)

    rows: AnySpace
    cols: AnySpace

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # The fields as one value (one field) or a tuple: what interning keys a node by.
        cls._fields_of = attrgetter(*cls._fields) if cls._fields else staticmethod(_no_fields)

    def _key(self) -> tuple:
        return tuple(getattr(self, f) for f in self._fields)

    def _freeze(self, rows: AnySpace, cols: AnySpace) -> None:
        _set(self, "rows", rows)
        _set(self, "cols", cols)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    # Equal nodes are one object, so identity's equality and hash are structural ones, and
    # they are computed in C: a Python method would be a call inside every comparison or hash
    # of a tuple of nodes (a dictionary of terms, a memo keyed by sub-trees).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

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
        printer = PRINTERS.get("text")
        if printer is None:  # only while the package itself is being imported
            return f"<{type(self).__name__} [{self.rows} × {self.cols}]>"
        return printer(self)

    def __repr__(self) -> str:
        return str(self)

    def _repr_latex_(self) -> str | None:
        printer = PRINTERS.get("latex")
        return None if printer is None else f"${printer(self)}$"


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


def _on_the_same_spaces(new: tuple[Expr, ...], old: tuple[Expr, ...]) -> bool:
    """Whether operands ``new`` act between the spaces ``old`` do, one for one."""
    return (
        len(new) == len(old)
        and list(map(_ROWS, new)) == list(map(_ROWS, old))
        and list(map(_COLS, new)) == list(map(_COLS, old))
    )


class _Nary(Expr):
    """A node over two or more operands stored in ``args``."""

    __slots__ = ("args",)
    _fields = ("args",)
    _KEYED_BY_ARGS = True  # constructed from the tuple of operands that is its one field
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
        if _on_the_same_spaces(children, self.args):
            # Operands replaced by operands on the same spaces cannot break the typing this node
            # was validated with: rewriting inside a tree skips re-validating every ancestor.
            return self.trusted(tuple(children), self.rows, self.cols)
        return type(self)(children)

    @classmethod
    def trusted(cls, args: tuple[Expr, ...], rows: AnySpace, cols: AnySpace) -> _Nary:
        """The node over ``args`` (a tuple of two or more) with the spaces given, unchecked: for
        rewrites whose result is well typed by construction, such as a permutation of a sum's
        terms or a factorwise product of fitting Kronecker products. Equal to the validated node
        in every respect; anything else must use the constructor."""
        node = object.__new__(cls)
        _set(node, "args", args)
        _set(node, "rows", rows)
        _set(node, "cols", cols)
        return interned(node)


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


class Bilinear(Expr):
    """The bilinear form ``form`` on the residual streams ``query`` and ``key``: attention scores.

    A head's scores ``S = R_q W_QK R_k^T`` are bilinear in the residual stream read at the query
    positions (``R_q``) and at the key positions (``R_k``). With three-factor Kronecker products,
    ``(A_q ⊗ A_k ⊗ M)`` applied to the inputs ``(X_q, X_k)`` is ``A_q X_q M X_k^T A_k^T``. The
    node is printed the paper's way, ``query^T · form · key``; its rules (distribution, pulling a
    Σ out, the mixed product) are in :mod:`tensoralgebra.expr.rules`.

    Spaces: ``query`` and ``key`` are operators from a source's one-hots to a residual stream
    (positions ⊗ model); ``form`` maps ``c0 ⊗ c1 ⊗ c2`` to ``r0 ⊗ r1 ⊗ r2`` (query positions, key
    positions, the model space it reads), such as ``Id ⊗ Id ⊗ W_QK^h``. The query stream must give
    ``c0 ⊗ r2`` and the key stream ``c1 ⊗ c2``. The result maps ``q0 ⊗ k0 ⊗ k1`` to
    ``r0 ⊗ r1 ⊗ q1``, where the query stream reads ``q0 ⊗ q1`` (positions ⊗ its source) and the
    key stream ``k0 ⊗ k1``.

    >>> from tensoralgebra.symbols import W_E, W_QK, Id_positions
    >>> stream = Kron((Id_positions, W_E))
    >>> s = Bilinear(stream, Kron((Id_positions, Id_positions, W_QK((1, 0)))), stream)
    >>> print(s)
    (Id ⊗ W_E)^T·(Id ⊗ Id ⊗ W_QK^{L1H0})·(Id ⊗ W_E)
    >>> s.shape
    (positions⊗positions⊗vocab, positions⊗positions⊗vocab)
    """

    __slots__ = ("form", "key", "query")
    _fields = ("query", "form", "key")

    def __init__(self, query: Expr, form: Expr, key: Expr):
        for name, value in (("query", query), ("form", form), ("key", key)):
            _set(self, name, _expr(value, f"a bilinear form's {name} slot"))
        self._freeze(*_bilinear_spaces(query, form, key))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.query, self.form, self.key)

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        if _on_the_same_spaces(children, self.children):  # (as for products: typed already)
            return self.trusted(tuple(children), self.rows, self.cols)
        return Bilinear(*children)

    @classmethod
    def trusted(cls, children: tuple[Expr, ...], rows: AnySpace, cols: AnySpace) -> Bilinear:
        """The form over ``(query, form, key)`` with the spaces given, unchecked (see
        :meth:`_Nary.trusted`)."""
        node = object.__new__(cls)
        _set(node, "query", children[0])
        _set(node, "form", children[1])
        _set(node, "key", children[2])
        _set(node, "rows", rows)
        _set(node, "cols", cols)
        return interned(node)


def _factors(space: AnySpace, n: int, who: Expr, what: str) -> list[tuple]:
    parts = space.parts
    if any(len(p.factors) != n for p in parts):
        raise SpaceMismatchError(f"{what} {who} must act on {n}-factor spaces, not on {space}")
    return [p.factors for p in parts]


#: ``_bilinear_spaces`` by the operands' spaces (interned): an expansion makes thousands of
#: bilinear forms over the same few spaces.
_BILINEAR_SPACES: dict[tuple, tuple[AnySpace, AnySpace]] = {}


def _bilinear_spaces(query: Expr, form: Expr, key: Expr) -> tuple[AnySpace, AnySpace]:
    spaces = (query.rows, query.cols, form.rows, form.cols, key.rows, key.cols)
    known = _BILINEAR_SPACES.get(spaces)
    if known is None:
        known = _BILINEAR_SPACES[spaces] = _check_bilinear(query, form, key)
    return known


def _check_bilinear(query: Expr, form: Expr, key: Expr) -> tuple[AnySpace, AnySpace]:
    if isinstance(form.rows, DirectSum) or isinstance(form.cols, DirectSum):
        raise SpaceMismatchError(f"the form {form} must act on one space, not a direct sum")
    (r0, r1, r2), (c0, c1, c2) = (_factors(s, 3, form, "the form")[0] for s in form.shape)
    for side, stream, wanted in (
        ("query", query, Space.of(c0, r2)),
        ("key", key, Space.of(c1, c2)),
    ):
        if stream.rows != wanted:
            raise SpaceMismatchError(
                f"ill-typed bilinear form: the form {form} [{form.rows} × {form.cols}] reads a "
                f"{side} stream in {wanted}, but {stream} gives {stream.rows}"
            )
    q_parts = _factors(query.cols, 2, query, "the query stream")
    k_parts = _factors(key.cols, 2, key, "the key stream")
    rows = join([Space.of(r0, r1, q1) for _, q1 in q_parts])
    cols = join([Space.of(q0, k0, k1) for q0, _ in q_parts for k0, k1 in k_parts])
    return rows, cols


def _expr(value: object, what: str) -> Expr:
    if not isinstance(value, Expr):
        raise TensorAlgebraError(f"{what} takes expressions, got {type(value).__name__} {value!r}")
    return value


_ROWS, _COLS = attrgetter("rows"), attrgetter("cols")


def _typed(e: Expr) -> str:
    return f"{e} [{e.rows} × {e.cols}]"


def expression(value: object, who: str) -> Expr:
    """``value`` if it is an expression; else a :class:`TensorAlgebraError` naming it and ``who``
    (the function that needs an expression).

    >>> expression(None, "expand")
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: expand takes an expression (an Expr), got None
    """
    if isinstance(value, Expr):
        return value
    text = repr(value)
    text = text if len(text) <= 60 else text[:59] + "…"
    kind = "" if value is None else f" of type {type(value).__name__}"
    raise TensorAlgebraError(f"{who} takes an expression (an Expr), got {text}{kind}")
