"""The expansion strategy on arbitrary expressions: value, shape of the result, records, limits."""

import importlib
import time

import numpy as np
import pytest
from hypothesis import given

import tensoralgebra as ta
from expr_strategies import HEADS, SIZES, any_expression
from tensoralgebra.expr import (
    Identity,
    IndexedSum,
    Kron,
    MatrixSymbol,
    Product,
    Space,
    Sum,
    Transpose,
    Zero,
    canonical,
    equivalent,
    expand,
    expansion_steps,
)
from tensoralgebra.expr.dense import RandomValues, to_dense
from tensoralgebra.expr.engine import RULES
from tensoralgebra.expr.spaces import MODEL
from tensoralgebra.expr.traversal import count_terms, walk


def dense(expr, seed=0):
    return to_dense(expr, RandomValues(SIZES, seed), heads=HEADS)


def assert_same_value(a, b):
    for seed in (0, 1):
        np.testing.assert_allclose(dense(a, seed), dense(b, seed), rtol=1e-10, atol=1e-10)


def is_expanded_term(term):
    """No sums, no compound transposes, no identities in products, no mergeable Krons left."""
    while isinstance(term, IndexedSum):
        term = term.body
    for node in walk(term):
        if isinstance(node, (Sum, IndexedSum)):
            return False
        if isinstance(node, Transpose) and not isinstance(node.arg, MatrixSymbol):
            return False
        if isinstance(node, Product):
            if any(isinstance(a, (Identity, Product)) for a in node.args):
                return False
            if RULES["mixed_product"](node) is not None:
                return False
    return True


@given(expr=any_expression(depth=3))
def test_expand_preserves_value_and_leaves_a_flat_sum_of_terms(expr):
    out = expand(expr)
    assert out.shape == expr.shape
    # The count the size check uses is the number of terms the expansion gives.
    n = count_terms(expr)
    assert len(ta.terms(out)) == n or (n == 0 and isinstance(out, Zero))
    assert_same_value(out, expr)
    assert all(is_expanded_term(t) for t in ta.terms(out)) or isinstance(out, Zero)


@given(expr=any_expression(depth=3))
def test_canonical_form_is_idempotent_and_value_preserving(expr):
    c = canonical(expr)
    assert canonical(c) == c
    assert equivalent(expr, expand(expr))
    assert_same_value(c, expr)


@given(expr=any_expression(depth=2))
def test_every_recorded_rule_application_preserves_value(expr):
    steps = expansion_steps(expr)
    assert steps[0].expr is expr and steps[-1].expr == expand(expr)
    for step in steps[1:]:
        for app in step.applications:
            assert RULES[app.rule](app.before) == app.after
            if not _has_free_vars(app.before):
                assert_same_value(app.after, app.before)


def _has_free_vars(expr):
    from tensoralgebra.expr.traversal import free_vars

    return bool(free_vars(expr))


def test_equivalence_is_not_trivially_true():
    m = Space.of(MODEL)
    a, b, c = (MatrixSymbol(n, m, m) for n in "abc")
    assert equivalent(a @ (b + c), a @ c + a @ b)
    assert not equivalent(a @ b, b @ a)
    assert not equivalent(a @ (b + c), a @ b)
    assert not equivalent(Kron((a, b)), Kron((b, a)))


def test_logit_expansion_steps_are_the_papers():
    arch = ta.Architecture.schematic(n_layers=3)
    steps = ta.expansion_steps(ta.logits(arch))
    assert [s.name for s in steps] == [
        "factored",
        "distribute",
        "mixed product",
        "name heads",
        "order",
    ]
    rules_used = {a.rule for s in steps for a in s.applications}
    assert {"distribute_product", "pull_sum_out_of_product", "mixed_product"} <= rules_used
    assert steps[-1].expr == ta.expand(ta.logits(arch))


def test_eager_expansion_refuses_above_the_limit_before_working():
    huge = ta.logits(ta.Architecture((8,) * 8))
    with pytest.raises(ta.ExpansionLimitError) as err:
        ta.expand(huge)
    message = str(err.value)
    assert "43046721 terms" in message and "max_terms=100000" in message
    assert "ta.logit_paths" in message and "max_order" in message
    assert (err.value.option, err.value.value) == ("max_terms", 43046721)
    assert message.endswith("; max_terms=43046721 fits")
    small = ta.logits(ta.Architecture((3, 3)))
    with pytest.raises(ta.ExpansionLimitError, match="gives 16 terms") as err:
        ta.expand(small, max_terms=10)
    assert (err.value.option, err.value.value) == ("max_terms", 16)
    # The advice fits: exactly that many terms, and a numpy integer is a limit like any other.
    assert len(ta.terms(ta.expand(small, max_terms=np.int64(err.value.value)))) == 16
    assert len(ta.terms(ta.expand(small, max_terms=None))) == 16


ONE = ta.logits(ta.Architecture((1,)))


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        pytest.param(
            lambda: ta.expand(None),
            ta.TensorAlgebraError,
            "expand takes an expression (an Expr), got None",
            id="expand(None)",
        ),
        pytest.param(
            lambda: ta.expand(ONE, max_terms="10"),
            ta.TensorAlgebraError,
            "max_terms is '10': expected an integer",
            id="max_terms='10'",
        ),
        pytest.param(
            lambda: ta.expand(ONE, max_terms=-1),
            ta.TensorAlgebraError,
            "max_terms -1 is out of range: expected an integer >= 0",
            id="max_terms=-1",
        ),
        pytest.param(
            lambda: ta.expand(ONE, max_terms=2.5),
            ta.TensorAlgebraError,
            "max_terms is 2.5: expected an integer",
            id="max_terms=2.5",
        ),
        pytest.param(
            lambda: ta.expand(ONE, max_terms=True),
            ta.TensorAlgebraError,
            "max_terms is True: expected an integer, not a bool",
            id="max_terms=True",
        ),
        pytest.param(
            lambda: ta.expand(ONE, max_terms=1),
            ta.ExpansionLimitError,
            "gives 2 terms, more than max_terms=1 (",
            id="max_terms=1",
        ),
        pytest.param(
            lambda: ta.expansion_steps(None),
            ta.TensorAlgebraError,
            "expansion_steps takes an expression (an Expr), got None",
            id="expansion_steps(None)",
        ),
        pytest.param(
            lambda: ta.expansion_steps(ONE, max_terms="10"),
            ta.TensorAlgebraError,
            "max_terms is '10'",
            id="expansion_steps(max_terms='10')",
        ),
        pytest.param(
            lambda: ta.terms(None),
            ta.TensorAlgebraError,
            "terms takes an expression (an Expr), got None",
            id="terms(None)",
        ),
        pytest.param(
            lambda: ta.terms([ONE]),
            ta.TensorAlgebraError,
            "terms takes an expression (an Expr), got [",
            id="terms(list)",
        ),
        pytest.param(
            lambda: ta.canonical(3),
            ta.TensorAlgebraError,
            "canonical takes an expression (an Expr), got 3 of type int",
            id="canonical(3)",
        ),
        pytest.param(
            lambda: ta.equivalent(ONE, "W_E"),
            ta.TensorAlgebraError,
            "equivalent takes an expression (an Expr), got 'W_E' of type str",
            id="equivalent(str)",
        ),
    ],
)
def test_bad_arguments_are_refused_by_name(call, error, fragment):
    with pytest.raises(error) as err:
        call()
    assert fragment in str(err.value)


def _doubling(levels: int):
    """A sum squared ``levels`` times over shared sub-trees: few nodes, astronomically many terms
    (the exact count has about 2**levels digits)."""
    m = Space.of(MODEL)
    e = Sum((MatrixSymbol("a", m, m), MatrixSymbol("b", m, m)))
    for _ in range(levels):
        e = Product((Sum((e, e)), e))
    return e


@pytest.mark.parametrize(
    ("expr", "fragment", "advice"),
    [
        (ta.logits(ta.Architecture((50,) * 30)), "more than 1000000000000000000 terms", None),
        (_doubling(300), "more than 1000000000000000000 terms", None),
        (ta.logits(ta.Architecture((8,) * 8)), "gives 43046721 terms", 43046721),
    ],
    ids=["30 layers of 50 heads", "shared sums squared 300 times", "8 layers of 8 heads"],
)
def test_a_huge_expansion_is_refused_at_once_before_any_term_is_built(expr, fragment, advice):
    # The module, not the function ``tensoralgebra.expr.expand`` that shadows it.
    expand_module = importlib.import_module("tensoralgebra.expr.expand")
    for run in (ta.expand, ta.expansion_steps):
        start = time.perf_counter()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(expand_module, "_passes", _no_passes)
            with pytest.raises(ta.ExpansionLimitError, match=fragment) as err:
                run(expr)
        assert time.perf_counter() - start < 1.0
        assert err.value.value == advice and err.value.option == (advice and "max_terms")


def _no_passes(record):
    raise AssertionError("the expansion started")


def test_canonical_form_identifies_renamed_and_merged_head_sums():
    from tensoralgebra.expr.ordering import merge_head_sets

    schematic = ta.expand(ta.logits(ta.Architecture.schematic(n_layers=2)))
    merged = merge_head_sets(schematic)
    assert merged != schematic and equivalent(merged, schematic)
    renamed = schematic.args[1].var  # h, in Σ_{h∈H0}
    g = ta.HeadVar("g")
    from tensoralgebra.expr.traversal import substitute

    first = schematic.args[1]
    alpha = IndexedSum(g, first.over, substitute(first.body, {renamed: g}))
    assert alpha != first and equivalent(alpha, first)


def test_merge_head_sets_refuses_overlapping_sets():
    from tensoralgebra.expr.ordering import merge_head_sets

    single = ta.expand(ta.logits(ta.Architecture.schematic(n_layers=1))).args[1]
    assert merge_head_sets(Sum((single, single))) is None
