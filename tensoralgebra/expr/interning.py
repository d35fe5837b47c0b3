"""Interning (hash-consing) of expression nodes: one live object per type and fields.

Constructing a node (:class:`~tensoralgebra.expr.nodes.Expr` and every subclass use
:class:`Interning` as their metaclass) validates it as usual, then returns the live node equal to
it if there is one. So structurally equal expressions are the same object: comparing them is
``is``, hashing them is hashing an identity, and a memo keyed by nodes finds a sub-tree however
it was built. The table holds weak references only: a node no longer used elsewhere leaves it.

A node's key is its type and its fields (``node._fields_of(node)``, a class's fields as one value
or a tuple): its children are interned already, so the key is shallow and one lookup suffices.

>>> from tensoralgebra.expr.nodes import MatrixSymbol, Product
>>> from tensoralgebra.expr.spaces import MODEL, Space
>>> a, b = (MatrixSymbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "ab")
>>> Product((a, b)) is Product((MatrixSymbol("a", Space.of(MODEL), Space.of(MODEL)), b))
True
"""

from __future__ import annotations

import weakref

#: Every live node by its type and fields (weakly: the table keeps nothing alive).
_NODES: dict[tuple, weakref.KeyedRef] = {}


def _forget(ref: weakref.KeyedRef) -> None:
    # Only the entry still holding this (now dead) reference: an equal node made since has its own.
    if _NODES.get(ref.key) is ref:
        del _NODES[ref.key]


def interned(node):
    """The live node equal to ``node`` (``node`` itself, now registered, if there is none)."""
    key = (type(node), node._fields_of(node))
    ref = _NODES.get(key)
    if ref is not None:
        found = ref()
        if found is not None:
            return found
    _NODES[key] = weakref.KeyedRef(node, _forget, key)
    return node


def is_live(kind: type, fields) -> bool:
    """Whether a node of type ``kind`` with ``fields`` (as ``_fields_of`` gives them) is alive."""
    ref = _NODES.get((kind, fields))
    return ref is not None and ref() is not None


class Interning(type):
    """The metaclass of expression nodes: constructing one validates it (``__init__``), then
    returns the interned equal node."""

    def __call__(cls, *args, **kwargs):
        return interned(super().__call__(*args, **kwargs))
