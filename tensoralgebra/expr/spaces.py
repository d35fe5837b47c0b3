"""The vector spaces that expressions map between.

Every matrix of the framework maps one space to another. The base spaces are

=============  =========  ==========================================================
base space     dimension  what it indexes
=============  =========  ==========================================================
``positions``  n_ctx      sequence positions (the axis attention patterns mix)
``model``      d_model    the residual stream
``vocab``      d_vocab    tokens: the token source (``W_E``) and the logits (``W_U``)
``head``       d_head     a head's query, key or value vectors
``pos``        n_ctx      the position source: position ``i`` as a one-hot (``W_pos``)
``one``        1          a constant source: the number 1 that biases multiply
=============  =========  ==========================================================

``positions`` and ``pos`` have the same dimension but are different spaces: an attention pattern
mixes the first, ``W_pos`` reads the second, and a product that confuses them is an error. A
constant source (a bias, docs/conventions.md §7) reads ``one ⊗ one``: its term ``1 ⊗ c`` puts
the all-ones vector ``1`` [positions × one] beside the bias ``c`` [model × one].

A :class:`Space` is a tensor product of base spaces: the Kronecker product ``A ⊗ W`` maps
``positions ⊗ model`` to ``positions ⊗ vocab`` when ``W`` maps model to vocab. A
:class:`DirectSum` of spaces is what a sum of terms reading *different sources* acts on: the
residual stream at the start, ``(Id ⊗ W_E) X + (Id ⊗ W_pos) Id_n``, is one operator on the pair
``(X, Id_n)``, i.e. on ``(positions ⊗ vocab) ⊕ (positions ⊗ pos)``.

>>> Space.of(POSITIONS, MODEL)
positions⊗model
>>> Space.of(POSITIONS, VOCAB).replace_sources(Space.of(POSITIONS, POS))
True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar


class Base(enum.Enum):
    """A base space of the framework."""

    POSITIONS = "positions"
    MODEL = "model"
    VOCAB = "vocab"
    HEAD = "head"
    POS = "pos"
    ONE = "one"

    # Identity hashing: members are singletons, and Enum's own __hash__ is slow in hot paths.
    __hash__ = object.__hash__

    @property
    def dim_name(self) -> str:
        """Name of the dimension that sizes it (``n_ctx``, ``d_model``, ...)."""
        return _DIM_NAMES[self]

    def __repr__(self) -> str:
        return self.name.lower()

    __str__ = __repr__


POSITIONS, MODEL, VOCAB, HEAD, POS = Base.POSITIONS, Base.MODEL, Base.VOCAB, Base.HEAD, Base.POS
ONE = Base.ONE
_DIM_NAMES = {
    POSITIONS: "n_ctx",
    MODEL: "d_model",
    VOCAB: "d_vocab",
    HEAD: "d_head",
    POS: "n_ctx",
    ONE: "one",
}

#: The base spaces a path can start from: tokens, positions and the constant 1 of a bias.
SOURCES = frozenset({VOCAB, POS, ONE})


class Space:
    """A tensor product of base spaces, ``factors[0] ⊗ factors[1] ⊗ ...``.

    Spaces are interned (one object per tuple of factors), so equal spaces are the same object
    and comparing them is as cheap as it gets; build them with :meth:`of` or ``Space(factors)``.
    """

    __slots__ = ("__weakref__", "factors")
    _interned: ClassVar[dict[tuple[Base, ...], Space]] = {}

    factors: tuple[Base, ...]

    def __new__(cls, factors: tuple[Base, ...]) -> Space:
        if type(factors) is not tuple:
            factors = tuple(factors)
        space = cls._interned.get(factors)
        if space is None:
            if not all(isinstance(f, Base) for f in factors):
                raise TypeError(f"a Space is a tuple of Base spaces, got {factors!r}")
            space = object.__new__(cls)
            object.__setattr__(space, "factors", factors)
            cls._interned[factors] = space
        return space

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Space is immutable")

    def __reduce__(self):
        return (Space, (self.factors,))

    @classmethod
    def of(cls, *factors: Base) -> Space:
        """The tensor product of ``factors``."""
        return cls(factors)

    def __matmul__(self, other: Space) -> Space:
        """Tensor product of two spaces (``@`` reads as ``⊗`` here)."""
        return tensor((self, other))

    @property
    def parts(self) -> tuple[Space, ...]:
        """The summands of this space: just itself (a direct sum has several)."""
        return (self,)

    def dims(self, sizes: dict[str, int]) -> int:
        """Dimension of the space, given sizes by dimension name."""
        n = 1
        for base in self.factors:
            n *= 1 if base is ONE else sizes[base.dim_name]
        return n

    def replace_sources(self, other: Space) -> bool:
        """Whether ``other`` is this space with some source bases swapped (vocab <-> pos <->
        one); in a Kronecker space (two or more factors), a constant source's ``one`` may also
        stand where another source has ``positions``: ``1`` [positions × one] beside a bias
        reads ``one ⊗ one`` where ``Id ⊗ W_E`` reads ``positions ⊗ vocab``."""
        if len(self.factors) != len(other.factors) or self == other:
            return False
        kron = len(self.factors) >= 2
        return all(
            a == b or (a in SOURCES and b in SOURCES) or (kron and {a, b} == {POSITIONS, ONE})
            for a, b in zip(self.factors, other.factors, strict=True)
        )

    def __repr__(self) -> str:
        return "⊗".join(map(str, self.factors)) if self.factors else "scalar"


_TENSOR_PRODUCTS: dict[tuple[Space, ...], Space] = {}


def tensor(spaces: tuple[Space, ...]) -> Space:
    """``spaces[0] ⊗ spaces[1] ⊗ ...`` (memoised: Kronecker products build it constantly)."""
    space = _TENSOR_PRODUCTS.get(spaces)
    if space is None:
        space = _TENSOR_PRODUCTS[spaces] = Space(sum((s.factors for s in spaces), ()))
    return space


@dataclass(frozen=True, slots=True)
class DirectSum:
    """A direct sum of spaces that differ only in their source bases, kept in a fixed order."""

    parts: tuple[Space, ...]

    def __repr__(self) -> str:
        return " ⊕ ".join(map(repr, self.parts))


AnySpace = Space | DirectSum


_SOURCE_RANK = {POS: 1, ONE: 2}


def _source_key(space: Space) -> tuple:
    # Token source, then position source, then constants, so block order is stable and printable.
    return tuple((_SOURCE_RANK.get(b, 0), b.name) for b in space.factors)


def join(spaces: list[AnySpace]) -> AnySpace | None:
    """The space a sum of operators on ``spaces`` acts on, or ``None`` if they do not fit.

    Equal spaces join to themselves; spaces that differ only in source bases (``vocab`` vs
    ``pos``) join to their direct sum; anything else does not join.

    >>> join([Space.of(POSITIONS, VOCAB), Space.of(POSITIONS, POS)])
    positions⊗vocab ⊕ positions⊗pos
    >>> join([Space.of(MODEL), Space.of(VOCAB)]) is None
    True
    """
    parts: list[Space] = []
    for space in spaces:
        for part in space.parts:
            if part not in parts:
                parts.append(part)
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if not all(first.replace_sources(p) for p in parts[1:]):
        return None
    return DirectSum(tuple(sorted(parts, key=_source_key)))
