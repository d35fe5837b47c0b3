"""The expansion strategy on arbitrary expressions: value, shape of the result, records, limits."""

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
from tensoralgebra.expr.traversal import walk


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
    small = ta.logits(ta.Architecture((3, 3)))
    with pytest.raises(ta.ExpansionLimitError, match="gives 16 terms"):
        ta.expand(small, max_terms=10)
    assert len(ta.terms(ta.expand(small, max_terms=None))) == 16


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
