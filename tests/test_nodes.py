"""Expression nodes: typing, immutability, structural equality, printing."""

import copy
import gc
import pickle

import pytest

from tensoralgebra import SpaceMismatchError, TensorAlgebraError
from tensoralgebra.expr import (
    DirectSum,
    Head,
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
    Zero,
    add,
    kron,
    product,
)
from tensoralgebra.expr.interning import is_live
from tensoralgebra.expr.nodes import Bilinear, _check_bilinear
from tensoralgebra.expr.spaces import MODEL, POS, POSITIONS, VOCAB
from tensoralgebra.symbols import W_E, W_OV, W_QK, W_U, A, Id_positions, W_pos

P, M, V = Space.of(POSITIONS), Space.of(MODEL), Space.of(VOCAB)


def test_ill_typed_product_names_both_operands_and_spaces():
    with pytest.raises(SpaceMismatchError) as err:
        Product((W_E, W_E))
    message = str(err.value)
    assert "W_E [model × vocab] takes vocab" in message
    assert "but W_E [model × vocab] gives model" in message


def test_ill_typed_sum_and_kron():
    with pytest.raises(SpaceMismatchError, match=r"ill-typed sum W_U \+ W_E"):
        Sum((W_U, W_E))
    residual_sum = Sum((Kron((Identity(P), W_E)), Kron((Identity(P), W_pos))))
    with pytest.raises(SpaceMismatchError, match="Kronecker product needs"):
        Kron((Identity(P), residual_sum))


def test_positions_and_the_position_source_are_different_spaces():
    with pytest.raises(SpaceMismatchError, match="takes positions, but W_pos"):
        Product((A((0, 0)), Transpose(W_pos)))


def test_a_sum_over_two_sources_is_an_operator_on_their_direct_sum():
    s = Sum((Kron((Identity(P), W_E)), Kron((Identity(P), W_pos))))
    assert s.rows == P @ M
    assert s.cols == DirectSum((P @ V, P @ Space.of(POS)))
    # Distributing keeps the blocks apart: each term still reads its own source.
    assert product(Kron((Identity(P), W_U)), s).cols == s.cols


def test_nodes_are_immutable_hashable_and_structurally_equal():
    a = Kron((A((1, 0)), W_OV((1, 0))))
    b = Kron((A(Head(1, 0)), W_OV(Head(1, 0))))
    assert a == b and hash(a) == hash(b)
    assert a != Kron((A((1, 1)), W_OV((1, 0))))
    with pytest.raises(AttributeError, match="immutable"):
        a.args = ()
    assert {a, b} == {a}
    assert pickle.loads(pickle.dumps(a)) == a


def test_equal_nodes_are_one_object_however_they_are_made():
    """Interning: a node equal to a live one is that one, built by its constructor, by a rule's
    unchecked constructor, by unpickling or by copying; a node no longer referenced leaves the
    table, and an equal one made later is a new object that is then the one."""
    x, y = MatrixSymbol("x", M, M), MatrixSymbol("y", M, M)
    a = Product((x, y))
    assert Product((MatrixSymbol("x", M, M), MatrixSymbol("y", M, M))) is a
    assert Product.trusted((x, y), M, M) is a
    assert pickle.loads(pickle.dumps(a)) is a
    assert copy.deepcopy(a) is a and copy.copy(a) is a
    assert Transpose(Transpose(a).arg) is Transpose(a)
    assert Kron((x, y)) is not Product((x, y)) and Kron((x, y)) != Product((x, y))
    assert is_live(Product, (x, y))
    del a
    gc.collect()
    assert not is_live(Product, (x, y))  # the table holds only live nodes
    again = Product((x, y))
    assert Product((x, y)) is again and again == Product.trusted((x, y), M, M)


def test_a_product_over_a_live_ones_operands_is_found_before_any_check(monkeypatch):
    """Products, Kronecker products and sums called with a tuple of nodes look the node up
    first: no validation runs for one that exists, and anything else is built and checked."""
    x, y = MatrixSymbol("x", M, M), MatrixSymbol("y", M, M)
    a, k = Product((x, y)), Kron((x, y))

    def refuse(self, args):
        raise AssertionError("validated again")

    monkeypatch.setattr(Product, "__init__", refuse)
    monkeypatch.setattr(Kron, "__init__", refuse)
    assert Product((x, y)) is a and Kron((x, y)) is k
    with pytest.raises(AssertionError, match="validated again"):
        Product([x, y])  # (not a tuple: built, and checked, as always)
    with pytest.raises(AssertionError, match="validated again"):
        Product((y, x))


@pytest.mark.parametrize(
    ("operands", "error", "fragment"),
    [
        ((W_U, [1, 2]), TensorAlgebraError, "takes expressions, got list"),
        ((W_U, {"a": 1}), TensorAlgebraError, "takes expressions, got dict"),
        ((W_U, float("nan")), TensorAlgebraError, "takes expressions, got float"),
        ((W_U,), TensorAlgebraError, "at least two operands, got 1"),
    ],
)
def test_operands_that_are_no_nodes_get_the_constructors_error(operands, error, fragment):
    """(never a hashing error from the look-up: only nodes are looked up)"""
    for kind in (Product, Kron, Sum):
        with pytest.raises(error, match=fragment):
            kind(operands)


def test_a_form_refilled_with_operands_on_the_same_spaces_keeps_its_typing():
    """``Bilinear.with_children`` skips validation only where it cannot fail: the spaces it
    keeps are the ones validation gives; operands on other spaces are validated (and refused
    when they do not fit)."""
    stream = Kron((Id_positions, W_E))
    form = Kron((Id_positions, Id_positions, W_QK((1, 0))))
    scores = Bilinear(stream, form, stream)
    through_a_head = Kron((A((0, 1)), Product((W_OV((0, 1)), W_E))))  # the same spaces
    refilled = scores.with_children((through_a_head, form, stream))
    assert refilled.children == (through_a_head, form, stream)
    assert refilled.shape == _check_bilinear(through_a_head, form, stream)
    positions = Kron((Id_positions, W_pos))  # reads the position source: other spaces
    assert scores.with_children((stream, form, positions)).shape == _check_bilinear(
        stream, form, positions
    )
    with pytest.raises(SpaceMismatchError, match="reads a query stream"):
        scores.with_children((Kron((Id_positions, W_U)), form, stream))


def test_sum_order_matters_structurally():
    assert Sum((W_U, W_U)) == Sum((W_U, W_U))
    x, y = MatrixSymbol("x", M, M), MatrixSymbol("y", M, M)
    assert Sum((x, y)) != Sum((y, x))


def test_smart_constructors_flatten_and_unwrap():
    x, y, z = (MatrixSymbol(n, M, M) for n in "xyz")
    assert product(x, product(y, z)) == Product((x, y, z))
    assert add(add(x, y), z) == Sum((x, y, z))
    assert kron(x) is x
    assert (x @ y) + z == Sum((Product((x, y)), z))
    assert Transpose(x) == x.T
    with pytest.raises(TensorAlgebraError, match="a product of nothing"):
        product()


def test_constructors_refuse_non_expressions_and_too_few_operands():
    with pytest.raises(TensorAlgebraError, match="takes expressions, got int 3"):
        Product((W_U, 3))
    with pytest.raises(TensorAlgebraError, match="at least two operands, got 1"):
        Sum((W_U,))
    with pytest.raises(TensorAlgebraError, match="non-empty string"):
        MatrixSymbol("", M, M)


def test_indices_validate():
    with pytest.raises(TensorAlgebraError, match="non-negative integer, got -1"):
        Head(-1, 0)
    with pytest.raises(TensorAlgebraError, match="got 'h_1'"):
        HeadVar("h_1")
    with pytest.raises(TensorAlgebraError, match="increasing and distinct"):
        HeadSet((1, 0))
    with pytest.raises(TensorAlgebraError, match="binds a HeadVar"):
        IndexedSum(Head(0, 0), HeadSet((0,)), W_U)


def test_printing_uses_one_precedence_table():
    h = HeadVar("h")
    layer = Sum((Identity(P @ M), IndexedSum(h, HeadSet((0,)), Kron((A(h), W_OV(h))))))
    assert str(Product((Kron((Identity(P), W_U)), layer))) == (
        "(Id ⊗ W_U)·(Id + Σ_{h∈H0} A^{h} ⊗ W_OV^{h})"
    )
    assert str(Transpose(Product((W_U, W_E)))) == "(W_U W_E)^T"
    assert str(Transpose(W_OV((0, 1)))) == "W_OV^{L0H1 T}"
    assert str(Zero(M, M)) == "0"
    assert str(Kron((A((0, 0)), Kron((A((0, 1)), W_U))))) == "A^{L0H0} ⊗ (A^{L0H1} ⊗ W_U)"


def test_importing_the_package_stays_light_and_everything_public_resolves():
    import subprocess
    import sys

    code = (
        "import sys, tensoralgebra as ta\n"
        "heavy = [m for m in ('torch', 'sympy', 'networkx', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "missing = [n for n in ta.__all__ if getattr(ta, n, None) is None]\n"
        "assert not missing, missing\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_threads_making_equal_nodes_at_once_get_one_node():
    """Construction is a lookup then a registration: under a lock, so that threads racing to
    make the same new node all end with the one node (and structural equality holds)."""
    import sys
    import threading

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        symbols = [MatrixSymbol(f"t{i}", M, M) for i in range(200)]
        made: list[list] = [[] for _ in range(4)]

        def make(out):
            for i in range(len(symbols) - 1):
                out.append(Product((symbols[i], symbols[i + 1])))

        threads = [threading.Thread(target=make, args=(out,)) for out in made]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    for results in zip(*made):
        assert all(r is results[0] for r in results)
