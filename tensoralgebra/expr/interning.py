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

import _weakref
import threading
import weakref
from functools import partial
from itertools import repeat

#: Every live node by its type and fields (weakly: the table keeps nothing alive).
_NODES: dict[tuple, weakref.ref] = {}
_look_up = _NODES.get
# Registering takes the lock, so that two threads making equal nodes at once end with one node.
_LOCK = threading.Lock()


def _forget(table: dict, key: tuple) -> None:
    # Only if the entry is still a dead reference: an equal node made since has its own.
    ref = table.get(key)
    if ref is not None and ref() is None:
        del table[key]


# How a dead node's entry goes: the C function the standard library's weak dictionaries use,
# which deletes the entry only if it still holds a dead reference, in one step (so without the
# lock: an equal node registered meanwhile is never dropped); the same in Python where it is
# missing.
_remove_dead = getattr(_weakref, "_remove_dead_weakref", _forget)


def interned(node):
    """The live node equal to ``node`` (``node`` itself, now registered, if there is none)."""
    key = (type(node), node._fields_of(node))
    ref = _look_up(key)
    if ref is not None:
        found = ref()
        if found is not None:
            return found
    with _LOCK:
        ref = _look_up(key)
        found = None if ref is None else ref()
        if found is not None:
            return found
        _NODES[key] = weakref.ref(node, partial(_drop, key))
    return node


def _drop(key: tuple, ref: weakref.ref) -> None:
    _remove_dead(_NODES, key)


def is_live(kind: type, fields) -> bool:
    """Whether a node of type ``kind`` with ``fields`` (as ``_fields_of`` gives them) is alive."""
    ref = _NODES.get((kind, fields))
    return ref is not None and ref() is not None


class Interning(type):
    """The metaclass of expression nodes: constructing one validates it (``__init__``), then
    returns the interned equal node.

    A class whose only field is the tuple its constructor takes (``_KEYED_BY_ARGS``: products,
    Kronecker products, sums) is looked up first when called with a tuple of nodes: the live
    node with those operands is what validating and interning would give (validation depends
    on the operands alone, and it passed when that node was made)."""

    def __call__(cls, *args, **kwargs):
        if cls._KEYED_BY_ARGS and len(args) == 1 and not kwargs and type(args[0]) is tuple:
            operands = args[0]
            # (operands that are nodes: only their identity hash is ever called here)
            if all(map(isinstance, map(type, operands), repeat(Interning))):
                ref = _look_up((cls, operands))
                found = None if ref is None else ref()
                if found is not None:
                    return found
        return interned(super().__call__(*args, **kwargs))
