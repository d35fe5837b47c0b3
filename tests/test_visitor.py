"""One way to walk a tree: the visitor dispatches along the node's MRO, map_children rebuilds every
node type, and the expression layer imports nothing above it."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import numpy as np
import pytest

import tensoralgebra as ta
from expr_strategies import HEADS, SIZES
from tensoralgebra.expr import (
    Bilinear,
    Expr,
    HeadSet,
    HeadVar,
    Identity,
    IndexedSum,
    Kron,
    MatrixSymbol,
    Product,
    Space,
    Sum,
    Transpose,
    Visitor,
    Zero,
    map_children,
    nodes,
)
from tensoralgebra.expr.dense import RandomValues, to_dense
from tensoralgebra.expr.spaces import MODEL, POSITIONS
from tensoralgebra.printing import to_latex, to_text
from tensoralgebra.symbols import W_E, W_OV, W_QK, A, Id_positions

P, M = Space.of(POSITIONS), Space.of(MODEL)
a, b = (MatrixSymbol(n, M, M) for n in "ab")
h = HeadVar("h")
STREAM = Kron((Id_positions, W_E))

#: One node of every type in tensoralgebra.expr.nodes.
EXAMPLES = {
    MatrixSymbol: a,
    Identity: Identity(M),
    Zero: Zero(M, M),
    Transpose: Transpose(a),
    Product: Product((a, b)),
    Kron: Kron((A((0, 0)), W_OV((0, 0)))),
    Sum: Sum((a, b)),
    IndexedSum: IndexedSum(h, HeadSet((0,)), Kron((A(h), W_OV(h)))),
    Bilinear: Bilinear(STREAM, Kron((Id_positions, Id_positions, W_QK((1, 0)))), STREAM),
}


def _node_types() -> set[type]:
    return {
        kind
        for kind in vars(nodes).values()
        if isinstance(kind, type)
        and issubclass(kind, Expr)
        and kind is not Expr
        and not kind.__name__.startswith("_")
    }


class MyProduct(Product):
    """A node subclass without methods of its own in any visitor."""


class Strange(Expr):
    """A node type no visitor knows."""

    def __init__(self):
        self._freeze(M, M)


class Kinds(Visitor):
    def visit_Product(self, e):
        return "product"

    def visit_Expr(self, e):
        return "expr"


class MoreKinds(Kinds):
    def visit_Product(self, e):
        return "more"


def test_the_examples_cover_every_node_type():
    assert set(EXAMPLES) == _node_types()


def test_dispatch_follows_the_mro():
    assert Kinds()(Product((a, b))) == "product"
    assert Kinds()(MyProduct((a, b))) == "product"  # no visit_MyProduct: the parent's method
    assert Kinds()(Sum((a, b))) == "expr"  # nothing nearer than Expr
    # Each visitor class keeps its own cache: an override does not leak into the parent.
    assert MoreKinds()(MyProduct((a, b))) == "more"
    assert Kinds()(MyProduct((a, b))) == "product"


def test_the_package_walkers_handle_a_node_subclass_like_its_parent():
    mine, theirs = MyProduct((a, W_OV((0, 0)))), Product((a, W_OV((0, 0))))
    assert str(mine) == str(theirs) == "a W_OV^{L0H0}"
    assert to_latex(mine) == to_latex(theirs)
    values = RandomValues(SIZES, seed=0)
    np.testing.assert_array_equal(to_dense(mine, values, HEADS), to_dense(theirs, values, HEADS))


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: Visitor()(Strange()), "cannot visit a Strange: Visitor has no method"),
        (lambda: to_latex(Strange()), "cannot print in LaTeX a Strange: LatexPrinter has no"),
        (
            lambda: to_dense(Strange(), RandomValues(SIZES)),
            "cannot compute the dense matrix of a Strange",
        ),
        (lambda: ta.to_sympy(Strange()), "cannot write in SymPy a Strange"),
        (lambda: Visitor()(3), "no method visit_int, nor one for any base class of int"),
    ],
    ids=["visitor", "latex", "dense", "sympy", "not a node"],
)
def test_a_node_type_without_a_method_is_refused_by_name(call, fragment):
    with pytest.raises(ta.TensorAlgebraError, match=fragment):
        call()


def test_text_printing_never_raises_on_an_unknown_node():
    # str() is what error messages are made of: an unknown node prints as its type's name.
    assert str(Strange()) == to_text(Strange()) == "<Strange>"


@pytest.mark.parametrize("node", EXAMPLES.values(), ids=lambda e: type(e).__name__)
def test_map_children_round_trips_every_node_type(node):
    assert map_children(node, lambda c: c) is node
    copied = map_children(node, lambda c: pickle.loads(pickle.dumps(c)))
    assert copied is node  # unpickled children are the interned ones: nothing to rebuild


def test_map_children_checks_the_spaces_again():
    with pytest.raises(ta.SpaceMismatchError, match="ill-typed product"):
        map_children(Product((a, b)), lambda c: W_E if c is a else c)
    with pytest.raises(ta.SpaceMismatchError, match="ill-typed bilinear form"):
        wrong = Kron((Id_positions, W_E.T))  # reads the model space, gives vocab
        map_children(EXAMPLES[Bilinear], lambda c: wrong if c is STREAM else c)


def test_map_children_visits_each_child_once_in_order():
    seen = []
    map_children(Product((a, b, a)), lambda c: seen.append(c) or c)
    assert seen == [a, b, a]


def _imports(package: Path) -> dict[str, set[str]]:
    found = {}
    for path in sorted(package.glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.name] = {n for n in names if n.startswith("tensoralgebra")}
    return found


@pytest.mark.parametrize(
    ("room", "allowed"),
    [
        ("expr", ("tensoralgebra.errors", "tensoralgebra.validation", "tensoralgebra.expr")),
        (
            "printing",
            ("tensoralgebra.errors", "tensoralgebra.expr", "tensoralgebra.printing"),
        ),
    ],
)
def test_layers_import_only_downward(room, allowed):
    package = Path(ta.__file__).parent / room
    upward = {
        module: sorted(n for n in names if not n.startswith(allowed))
        for module, names in _imports(package).items()
    }
    assert not any(upward.values()), upward


def test_str_and_repr_latex_use_the_printing_room():
    assert nodes.PRINTERS["text"] is to_text and nodes.PRINTERS["latex"] is to_latex
    assert str(EXAMPLES[IndexedSum]) == "Σ_{h∈H0} A^{h} ⊗ W_OV^{h}"
    assert EXAMPLES[IndexedSum]._repr_latex_() == r"$\sum_{h \in H_1} A^{h} \otimes W_{OV}^{h}$"
