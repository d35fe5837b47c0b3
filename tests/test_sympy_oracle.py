"""SymPy as an independent oracle for the logit expansion.

Three checks, each against code that shares nothing with our rewrite rules:
(a) SymPy's own expansion of the factored logits has exactly our terms;
(b) bound to explicit matrices (exact integers, and symbolic entries), the factored product equals
    the sum of the expanded terms exactly;
(c) our dense evaluator gives SymPy's explicit value.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import sympy
from sympy.matrices.expressions.kronecker import KroneckerProduct, combine_kronecker

import tensoralgebra as ta
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr import Head, HeadVar
from tensoralgebra.expr.dense import RandomValues, to_dense
from tensoralgebra.expr.nodes import Kron, Product
from tensoralgebra.expr.sympy_bridge import sympy_name
from tensoralgebra.expr.traversal import symbols
from tensoralgebra.symbols import W_E, A

HEADS = [(), (1,), (2,), (1, 1), (2, 1), (2, 2), (1, 0, 2), (1, 1, 1)]
POSITIONAL_HEADS = [(), (1,), (2, 1), (1, 0, 2)]
TINY = {"n_ctx": 2, "d_model": 2, "d_vocab": 3, "d_head": 1}


def _ours_by_block(expr, sizes=None) -> dict:
    """Our expansion's terms, converted to SymPy and grouped by the block they live in."""
    out: dict = {}
    for term in ta.terms(ta.expand(expr)):
        # doit() is the normalisation combine_kronecker ends with: flattened MatMuls, no Identity.
        out.setdefault((term.rows, term.cols), []).append(ta.to_sympy(term, sizes).doit())
    return out


def _same_terms(ours: list, theirs: list) -> bool:
    # Multisets, so a duplicated or a dropped term is a difference too.
    return Counter(ours) == Counter(theirs)


# --- (a) the same terms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch",
    [ta.Architecture(h) for h in HEADS]
    + [ta.Architecture(h, positional="standard") for h in POSITIONAL_HEADS],
    ids=repr,
)
def test_sympy_expansion_has_our_terms(arch):
    logits = ta.logits(arch)
    ours = _ours_by_block(logits)
    blocks = ta.split_sources(logits)
    assert set(blocks) == set(ours)
    for key, block in blocks.items():
        theirs = ta.sympy_expansion(block)
        assert _same_terms(ours[key], theirs), (key, ours[key], theirs)
    assert sum(map(len, ours.values())) == ta.count_logit_paths(arch)


def test_comparison_detects_a_dropped_term_and_swapped_factors():
    logits = ta.logits(ta.Architecture((2, 1)))
    ours = [ta.to_sympy(t).doit() for t in ta.terms(ta.expand(logits))]
    theirs = ta.sympy_expansion(logits)
    assert _same_terms(ours, theirs)
    assert not _same_terms(ours[:-1], theirs)
    assert not _same_terms([*ours, ours[0]], theirs)

    # A virtual head with its two patterns in the wrong order: same shapes, different matrix.
    virtual = ta.terms(ta.expand(logits))[-1]
    pattern, ov = virtual.args
    assert pattern == Product((A(Head(1, 0)), A(Head(0, 1))))
    swapped = Kron((Product(pattern.args[::-1]), ov))
    assert not _same_terms([*ours[:-1], ta.to_sympy(swapped).doit()], theirs)

    wrong_ov = Kron((pattern, Product((ov.args[0], *ov.args[1:-1][::-1], ov.args[-1]))))
    assert not _same_terms([*ours[:-1], ta.to_sympy(wrong_ov).doit()], theirs)


def test_transposes_are_pushed_down_alike():
    logits_t = ta.logits(ta.Architecture((1, 1))).T
    (ours,) = _ours_by_block(logits_t).values()
    assert _same_terms(ours, ta.sympy_expansion(logits_t))


def test_combine_kronecker_on_a_sum_is_wrong():
    """Why sympy_expansion combines one term at a time: on a sum, SymPy 1.14's combine_kronecker
    rewrites ``A ⊗ B + C ⊗ D`` to ``(A + C) ⊗ (B + D)``, adding the cross terms ``A ⊗ D + C ⊗ B``.
    If a later SymPy fixes this, the first assertion fails and this test can go."""
    a, b, c, d = (sympy.MatrixSymbol(n, 2, 2) for n in "ABCD")
    total = KroneckerProduct(a, b) + KroneckerProduct(c, d)
    combined = combine_kronecker(total)
    assert combined == KroneckerProduct(a + c, b + d)
    values = {
        m: sympy.ImmutableMatrix(2, 2, list(range(4 * i, 4 * i + 4)))
        for i, m in enumerate((a, b, c, d))
    }
    assert _explicit(combined, values) != _explicit(total, values)


# --- refusals -------------------------------------------------------------------------------


def test_schematic_architectures_are_refused():
    with pytest.raises(TensorAlgebraError, match=r"H0.*concrete architecture"):
        ta.to_sympy(ta.logits(ta.Architecture.schematic(n_layers=1)))


def test_free_head_variables_are_refused():
    with pytest.raises(TensorAlgebraError, match="free head variable h"):
        ta.to_sympy(A(HeadVar("h")))


def test_sums_over_two_sources_are_refused():
    logits = ta.logits(ta.Architecture((1,), positional="standard"))
    with pytest.raises(TensorAlgebraError, match=r"positions⊗vocab ⊕ positions⊗pos.*split_sources"):
        ta.to_sympy(logits)


@pytest.mark.parametrize("sizes", [{"n_ctx": 0}, {"d_model": 2.0}, {"d_ctx": 2}])
def test_bad_sizes_are_refused(sizes):
    with pytest.raises(TensorAlgebraError, match="size"):
        ta.to_sympy(W_E, sizes)


def test_split_sources_blocks_are_the_dense_blocks():
    logits = ta.logits(ta.Architecture((2, 1), positional="standard"))
    values = RandomValues(TINY, seed=1)
    whole = to_dense(logits, values, heads=(2, 1))
    blocks = [to_dense(b, values, heads=(2, 1)) for b in ta.split_sources(logits).values()]
    np.testing.assert_allclose(whole, np.hstack(blocks), rtol=1e-13, atol=1e-13)


# --- (b) expanded == factored, exactly ------------------------------------------------------


def _explicit(expr: sympy.MatrixExpr, values: dict) -> sympy.ImmutableMatrix:
    """``expr`` with every symbol bound to its explicit matrix and identities made explicit."""
    eyes = {i: sympy.ImmutableMatrix(sympy.eye(i.rows)) for i in expr.atoms(sympy.Identity)}
    return sympy.ImmutableMatrix(expr.xreplace({**values, **eyes}).doit().as_explicit())


def _integer_values(expr: sympy.MatrixExpr, seed: int) -> dict:
    rng = random.Random(seed)
    return {
        s: sympy.ImmutableMatrix(s.rows, s.cols, lambda i, j: rng.randint(-3, 3))
        for s in sorted(expr.free_symbols, key=str)
    }


def _symbolic_values(expr: sympy.MatrixExpr) -> dict:
    def entries(s: sympy.MatrixSymbol) -> list[list[sympy.Symbol]]:
        return [[sympy.Symbol(f"{s.name}[{i},{j}]") for j in range(s.cols)] for i in range(s.rows)]

    return {s: sympy.ImmutableMatrix(entries(s)) for s in expr.free_symbols}


def _factored_and_expanded(arch: ta.Architecture, sizes: dict):
    """Pairs (factored block, our expanded terms of that block) as SymPy expressions."""
    logits = ta.logits(arch)
    ours = _ours_by_block(logits, sizes)
    return [
        (ta.to_sympy(block, sizes), ours[key]) for key, block in ta.split_sources(logits).items()
    ]


@pytest.mark.parametrize(
    "arch",
    [ta.Architecture((2, 1)), ta.Architecture((1, 0, 2)), ta.Architecture((1, 1), "standard")],
    ids=repr,
)
def test_expanded_equals_factored_on_integer_matrices(arch):
    for factored, expanded in _factored_and_expanded(arch, TINY):
        values = _integer_values(factored, seed=len(expanded))
        total = sum((_explicit(t, values) for t in expanded), sympy.zeros(*factored.shape))
        assert _explicit(factored, values) == total
        # The same values with one term left out must not add up: the check can fail.
        assert _explicit(factored, values) != total - _explicit(expanded[-1], values)


def test_expanded_equals_factored_with_symbolic_entries():
    # A polynomial identity in every entry of every matrix: true for all values, not just some.
    sizes = {"n_ctx": 2, "d_model": 2, "d_vocab": 2}
    ((factored, expanded),) = _factored_and_expanded(ta.Architecture((1, 1)), sizes)
    values = _symbolic_values(factored)
    total = sum((_explicit(t, values) for t in expanded), sympy.zeros(*factored.shape))
    difference = (_explicit(factored, values) - total).applyfunc(sympy.expand)
    assert difference.is_zero_matrix


# --- (c) our dense evaluator agrees with SymPy ----------------------------------------------


def test_dense_evaluator_agrees_with_sympy():
    arch = ta.Architecture((2, 1), positional="standard")
    logits = ta.logits(arch)
    blocks = [ta.to_sympy(b, TINY) for b in ta.split_sources(logits).values()]
    values = _integer_values(sympy.BlockMatrix([blocks]), seed=7)
    exact = sympy.Matrix.hstack(*(_explicit(b, values) for b in blocks))
    by_name = {s.name: np.array(v.tolist(), dtype=float) for s, v in values.items()}
    ours = {s: by_name[sympy_name(s)] for s in symbols(logits)}
    dense = to_dense(logits, ours, heads=arch.heads, sizes=TINY)
    # Small integers: float64 arithmetic is exact here, so equality is exact too.
    assert np.array_equal(dense, np.array(exact.tolist(), dtype=float))
