"""One way to walk an expression tree: dispatch on the node's class, and rebuild from children.

A :class:`Visitor` subclass defines a method ``visit_<ClassName>`` per node class it handles.
Calling the visitor on a node runs the method for the node's class or, failing that, for its
nearest base class along ``type(node).__mro__`` (as SymPy's printers do): a subclass of a node is
handled like its parent until a visitor says otherwise, and ``visit_Expr`` catches every node no
other method handles. Without any such method the visitor refuses with a
:class:`~tensoralgebra.errors.TensorAlgebraError` naming the node type. The method found for a
class is cached per visitor class, so dispatch costs one dictionary look-up.

:func:`map_children` is the one way to rebuild a node from transformed children.

>>> from tensoralgebra.expr.nodes import Identity, Kron, MatrixSymbol, Product, Sum
>>> from tensoralgebra.expr.spaces import MODEL, Space
>>> class Leaves(Visitor):
...     def visit_MatrixSymbol(self, e):
...         return [e.name]
...     def visit_Identity(self, e):
...         return []
...     def visit_Expr(self, e):  # every other node: its children's leaves, in order
...         return [name for c in e.children for name in self(c)]
>>> a, b = (MatrixSymbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "ab")
>>> Leaves()(Sum((Product((a, b)), Identity(Space.of(MODEL)))))
['a', 'b']
>>> Leaves()("a")
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: cannot visit a str: Leaves has no method visit_str, nor one for any base class of str (object)
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable
from operator import is_
from typing import TYPE_CHECKING, Any, ClassVar

from tensoralgebra.errors import TensorAlgebraError

if TYPE_CHECKING:
    from tensoralgebra.expr.nodes import Expr


class Visitor:
    """Dispatches ``visitor(node, *args, **kwargs)`` to ``visit_<ClassName>(node, *args,
    **kwargs)`` for the first class along the node's MRO that has such a method (see the module
    docstring); :meth:`unhandled` when none has."""

    #: What the visitor does, for the refusal of a node it has no method for ("cannot print in
    #: LaTeX a Foo: ...").
    action: ClassVar[str] = "visit"
    _methods: ClassVar[dict[type, Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._methods = {}  # one cache per visitor class: subclasses may override methods

    def __call__(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        kind = type(node)
        try:
            method = self._methods[kind]
        except KeyError:
            method = self._methods[kind] = self._method_for(kind)
        return method(self, node, *args, **kwargs)

    @classmethod
    def _method_for(cls, kind: type) -> Callable[..., Any]:
        for base in kind.__mro__:
            method = getattr(cls, "visit_" + base.__name__, None)
            if method is not None:
                return method
        return cls.unhandled

    def unhandled(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        """What a node no method handles gets: a refusal naming its type."""
        kind = type(node)
        bases = ", ".join(b.__name__ for b in kind.__mro__[1:])
        raise TensorAlgebraError(
            f"cannot {self.action} a {kind.__name__}: {type(self).__name__} has no method "
            f"visit_{kind.__name__}, nor one for any base class of {kind.__name__} ({bases})"
        )


def map_children(node: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """``node`` rebuilt over ``fn(child)`` for each of its children, called once per child in
    order; ``node`` itself when every child comes back unchanged (leaves always do).

    The rebuilt node goes through the node type's own constructor (``with_children``), so its
    spaces are checked again: a child replaced by one of other spaces is refused as in any
    construction, and one replaced by a child of the same spaces keeps the parent's validated
    spaces.

    >>> from tensoralgebra.expr.nodes import MatrixSymbol, Product, Transpose
    >>> from tensoralgebra.expr.spaces import MODEL, Space
    >>> a, b = (MatrixSymbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "ab")
    >>> map_children(Product((a, b)), Transpose)
    a^T b^T
    >>> e = Product((a, b))
    >>> map_children(e, lambda c: c) is e
    True
    """
    children = node.children
    if not children:
        return node
    new = tuple([fn(c) for c in children])
    if all(map(is_, new, children)):
        return node
    return node.with_children(new)
