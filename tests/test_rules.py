"""Every rewrite rule alone: what it rewrites to, and that it preserves value on random matrices."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from expr_strategies import HEADS, SIZES, any_expression, redexes
from tensoralgebra.expr import (
    RULES,
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
    apply_rule,
)
from tensoralgebra.expr import ordering as O
from tensoralgebra.expr import rules as R
from tensoralgebra.expr.dense import RandomValues, to_dense
from tensoralgebra.expr.spaces import MODEL, POSITIONS, VOCAB
from tensoralgebra.expr.traversal import free_vars, substitute, walk

P, M, V = Space.of(POSITIONS), Space.of(MODEL), Space.of(VOCAB)
A, B, C = (MatrixSymbol(n, P, P) for n in "ABC")
W, X, Y = (MatrixSymbol(n, M, M) for n in "WXY")
U = MatrixSymbol("U", V, M)
h, g = HeadVar("h"), HeadVar("g")


def dense(expr, seed=0):
    """The value of ``expr`` with free head variables bound to L0H0 (rules hold for any binding)."""
    bound = substitute(expr, {v: Head(0, 0) for v in free_vars(expr)})
    return to_dense(bound, RandomValues(SIZES, seed), heads=HEADS)


def check_value_preserved(rule, expr):
    """Apply ``rule`` wherever it applies in ``expr``; each rewrite must keep the value."""
    fired = 0
    for sub in walk(expr):
        out = rule(sub)
        if out is None:
            continue
        fired += 1
        assert out.shape == sub.shape, f"{rule.__name__} changed the spaces of {sub}"
        for seed in (0, 1):
            np.testing.assert_allclose(
                dense(out, seed), dense(sub, seed), rtol=1e-10, atol=1e-10,
                err_msg=f"{rule.__name__}: {sub}  →  {out}",
            )  # fmt: skip
    return fired


@pytest.mark.parametrize("name", sorted(RULES))
@given(data=st.data())
def test_rule_preserves_value(name, data):
    rule = RULES[name]
    redex = data.draw(redexes(name), label="redex")
    assert rule(redex) is not None, f"{name} should apply to {redex}"
    assert check_value_preserved(rule, redex) >= 1
    check_value_preserved(rule, data.draw(any_expression(), label="random expression"))


# --- what each rule rewrites to ------------------------------------------------------------------


def test_flattening():
    assert R.flatten_product(Product((A, Product((B, C))))) == Product((A, B, C))
    assert R.flatten_sum(Sum((W, Sum((X, Y))))) == Sum((W, X, Y))
    assert R.flatten_kron(Kron((A, Kron((B, W))))) == Kron((A, B, W))
    assert R.flatten_product(Product((A, B))) is None


def test_identity_and_zero():
    Id = Identity(P)
    assert R.eliminate_identity(Product((Id, A, Id))) == A
    assert R.eliminate_identity(Product((Id, Id))) == Id
    assert R.kron_of_identities(Kron((Id, Identity(M)))) == Identity(P @ M)
    assert R.transpose_identity(Transpose(Id)) == Id
    assert R.eliminate_zero(Product((A, Zero(P, P)))) == Zero(P, P)
    assert R.eliminate_zero(Sum((A, Zero(P, P)))) == A


def test_distribution_every_sum_at_once_leftmost_slowest():
    out = R.distribute_product(Product((Sum((A, B)), C, Sum((A, C)))))
    assert out == Sum(
        (Product((A, C, A)), Product((A, C, C)), Product((B, C, A)), Product((B, C, C)))
    )
    assert R.distribute_kron(Kron((Sum((A, B)), W))) == Sum((Kron((A, W)), Kron((B, W))))


def test_pulling_a_head_sum_out_renames_to_avoid_capture():
    A_h, W_h = (MatrixSymbol(n, P, P, h) for n in ("A", "B"))
    inner = IndexedSum(h, HeadSet((0,)), W_h)
    out = R.pull_sum_out_of_product(Product((A_h, inner)))
    # The outer A^h keeps its (free) h; the pulled Σ binds a fresh h_0.
    h0 = HeadVar("h", 0)
    assert out == IndexedSum(h0, HeadSet((0,)), Product((A_h, MatrixSymbol("B", P, P, h0))))


def test_transposes():
    assert R.transpose_product(Transpose(Product((U, W)))) == Product((Transpose(W), Transpose(U)))
    assert R.transpose_kron(Transpose(Kron((A, U)))) == Kron((Transpose(A), Transpose(U)))
    assert R.double_transpose(Transpose(Transpose(U))) == U
    assert R.transpose_sum(Transpose(Sum((W, X)))) == Sum((Transpose(W), Transpose(X)))


def test_mixed_product_merges_whole_runs_of_fitting_factors():
    run = Product((Kron((A, U)), Kron((B, W)), Kron((C, X))))
    assert R.mixed_product(run) == Kron((Product((A, B, C)), Product((U, W, X))))
    three = Product((Kron((A, B, W)), Kron((C, A, X))))
    assert R.mixed_product(three) == Kron((Product((A, C)), Product((B, A)), Product((W, X))))
    # Factors that do not fit one to one (2 vs 3 factors) are left alone.
    assert R.mixed_product(Product((A, B))) is None


def test_merge_head_sets_is_the_papers_union_sum():
    body = Kron((MatrixSymbol("A", P, P, h), MatrixSymbol("W", M, M, h)))
    s = Sum((IndexedSum(h, HeadSet((0,)), body), IndexedSum(h, HeadSet((1,)), body)))
    assert O.merge_head_sets(s) == IndexedSum(h, HeadSet((0, 1)), body)


def test_name_bound_heads_names_by_layer_when_several():
    h_ = HeadVar("h'")
    body = Product((MatrixSymbol("A", P, P, h_), MatrixSymbol("A", P, P, h)))
    term = IndexedSum(h_, HeadSet((1,)), IndexedSum(h, HeadSet((0,)), body))
    out = O.name_bound_heads(term)
    h1, h0 = HeadVar("h", 1), HeadVar("h", 0)
    expected = Product((MatrixSymbol("A", P, P, h1), MatrixSymbol("A", P, P, h0)))
    assert out == IndexedSum(h1, HeadSet((1,)), IndexedSum(h0, HeadSet((0,)), expected))
    assert O.name_bound_heads(out) is None  # already named: the rule does not apply again


def test_name_bound_heads_names_each_root_on_its_own():
    hq, hk = HeadVar("hq"), HeadVar("hk")
    body = Product((MatrixSymbol("A", P, P, hq), MatrixSymbol("A", P, P, hk)))
    # One query-side and one key-side Σ over the same layer: plain names, nothing to do.
    term = IndexedSum(hq, HeadSet((0,)), IndexedSum(hk, HeadSet((0,)), body))
    assert O.name_bound_heads(term) is None
    # Primed by capture avoidance: the primes go, unless the plain name is used freely.
    hq_ = HeadVar("hq'")
    primed_body = Product((MatrixSymbol("A", P, P, hq_), MatrixSymbol("A", P, P, hk)))
    primed = IndexedSum(hq_, HeadSet((0,)), IndexedSum(hk, HeadSet((0,)), primed_body))
    assert O.name_bound_heads(primed) == term
    captured = IndexedSum(hq_, HeadSet((0,)), IndexedSum(hk, HeadSet((0,)), body))
    assert O.name_bound_heads(captured) is None  # body's hq is free: renaming would capture it


def test_apply_rule_by_name_and_unknown_names():
    assert apply_rule("double_transpose", Transpose(Transpose(A))) == A
    with pytest.raises(KeyError, match="no rule named 'nope'"):
        apply_rule("nope", A)
