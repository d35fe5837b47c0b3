"""The expansion's shortcuts give exactly what the rules give: every pass with and without them,
on random expressions and on the logits and scores of random architectures; and the shortcuts
do run on the products of layers they are for. Term counts (what expansion limits are checked
with) pass over leaves without visiting them, and count what a walk of every node counts."""

from __future__ import annotations

import importlib
import math

from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from expr_strategies import any_expression
from tensoralgebra.expr import shortcuts
from tensoralgebra.expr.nodes import Bilinear, Expr, Kron, MatrixSymbol, Product, Sum, Zero
from tensoralgebra.expr.spaces import MODEL, POSITIONS, VOCAB, Space
from tensoralgebra.expr.traversal import count_terms
from tensoralgebra.strategies import architectures

expand_module = importlib.import_module("tensoralgebra.expr.expand")


def identical(a: Expr, b: Expr) -> bool:
    """Equal node by node: same types, same fields, same spaces (which equality leaves out)."""
    if type(a) is not type(b) or a != b or a.rows != b.rows or a.cols != b.cols:
        return False
    return all(map(identical, a.children, b.children))


def pass_by_pass(expr: Expr, shortcuts: bool) -> list[Expr]:
    out = []
    for _, strategy in expand_module._passes(None, shortcuts=shortcuts):
        expr = strategy(expr)
        out.append(expr)
    return out


def assert_shortcuts_agree(expr: Expr) -> None:
    fast, general = pass_by_pass(expr, True), pass_by_pass(expr, False)
    assert all(map(identical, fast, general))
    assert identical(ta.expand(expr, max_terms=None), general[-1])
    recorded = ta.expansion_steps(expr, max_terms=None)[-1].expr  # records: no shortcut
    assert identical(recorded, general[-1])


@st.composite
def real_architectures(draw, max_layers: int = 3, max_heads: int = 2) -> ta.Architecture:
    """Concrete or schematic architectures with any positions, normalization and biases."""
    n_layers = draw(st.integers(0, max_layers))
    kinds = {
        "positional": draw(st.sampled_from(("standard", "shortformer", None))),
        "normalization": draw(st.sampled_from((None, "LN", "LNPre"))),
        "biases": draw(st.booleans()),
    }
    if draw(st.integers(0, 4)) == 0:
        return ta.Architecture.schematic(n_layers, **kinds)
    heads = draw(st.lists(st.integers(0, max_heads), min_size=n_layers, max_size=n_layers))
    return ta.Architecture(tuple(heads), **kinds)


@settings(max_examples=40, deadline=None)
@given(arch=real_architectures())
def test_shortcuts_agree_with_the_rules_on_the_logits(arch):
    assert_shortcuts_agree(ta.logits(arch))


@settings(max_examples=25, deadline=None)
@given(arch=real_architectures(max_layers=3), data=st.data())
def test_shortcuts_agree_with_the_rules_on_the_scores(arch, data):
    layers = [
        layer for layer in range(arch.n_layers) if arch.heads is None or arch.heads[layer] > 0
    ]
    if not layers:
        return
    layer = data.draw(st.sampled_from(layers))
    assert_shortcuts_agree(ta.scores(arch, layer, None if arch.heads is None else 0))


@settings(max_examples=150, deadline=None)
@given(expr=any_expression(depth=3))
def test_shortcuts_agree_with_the_rules_on_random_expressions(expr):
    assert_shortcuts_agree(expr)


@settings(max_examples=20, deadline=None)
@given(arch=architectures(max_layers=3, max_heads=2, min_layers=1))
def test_the_mixed_product_shortcut_multiplies_out_every_logit_term(arch):
    """Each distributed logit term (a product of layers) is multiplied out by the shortcut."""
    logits = ta.logits(arch)
    passes = dict(expand_module._passes(None))
    distributed = passes["distribute"](passes["transpose"](logits))
    shortcut = shortcuts.layer_product()
    terms = ta.terms(distributed)
    taken = [shortcut(t) for t in terms]
    assert all(type(t) is Product for t in terms)
    assert all(out is not None for out in taken)
    assert {type(out) for out in taken} <= {Kron}
    assert [shortcuts.distributed_product(t) for t in terms] == list(terms)


@settings(max_examples=20, deadline=None)
@given(arch=architectures(max_layers=3, max_heads=2, min_layers=1), data=st.data())
def test_the_mixed_product_shortcut_multiplies_out_every_score_term(arch, data):
    """Each distributed score term (a bilinear form of products of layers) has its normal
    children multiplied out by the shortcut into one Kronecker term."""
    layer = data.draw(st.sampled_from(range(arch.n_layers)))
    if not arch.heads[layer]:
        return
    passes = dict(expand_module._passes(None))
    distributed = passes["distribute"](passes["transpose"](ta.scores(arch, layer, 0)))
    scores = shortcuts.bilinear_product()
    for term in ta.terms(distributed):
        assert type(term) is Bilinear
        normal = term.with_children(tuple(map(passes["mixed product"], term.children)))
        taken = scores(normal)
        assert type(taken) is Kron and len(taken.args) == 3
        assert identical(taken, pass_by_pass(term, False)[2])


def test_a_score_term_whose_sides_are_no_chains_of_symbols_is_left_to_the_rules():
    """A sum in the form (or a zero, or a Kronecker product of other than three factors) is no
    chain of atoms: the bilinear shortcut declines, and the rules (with or without it) agree."""
    from tensoralgebra.symbols import W_E, W_QK, Id_positions

    stream = Kron((Id_positions, W_E))
    summed = Kron((Id_positions, Id_positions, Sum((W_QK((1, 0)), W_QK((1, 1))))))
    for form in (
        summed,
        Kron((Id_positions, Id_positions, Zero(W_QK((1, 0)).rows, W_QK((1, 0)).cols))),
    ):
        term = Bilinear(stream, form, stream)
        assert shortcuts.bilinear_product()(term) is None
        assert_shortcuts_agree(term)
    assert shortcuts.bilinear_product()(stream) is None


def test_kronecker_products_that_fit_only_as_a_whole_are_left_to_the_rules():
    """(X ⊗ v)·(p ⊗ Y) with X on positions⊗model and Y on model⊗vocab: the spaces fit as a
    whole but not factor by factor, so there is nothing to multiply out."""
    pm, mv = Space.of(POSITIONS, MODEL), Space.of(MODEL, VOCAB)
    p, v = Space.of(POSITIONS), Space.of(VOCAB)
    left = Kron((MatrixSymbol("X", pm, pm), MatrixSymbol("v", v, v)))
    right = Kron((MatrixSymbol("p", p, p), MatrixSymbol("Y", mv, mv)))
    product = Product((left, right))
    assert shortcuts.layer_product()(product) is None
    assert identical(ta.expand(product), product)
    assert_shortcuts_agree(product)


def naive_count(expr: Expr) -> int:
    """Terms of full distribution, walking every node: a sum adds, a zero has none, every other
    node multiplies its operands' counts."""
    if isinstance(expr, Zero):
        return 0
    counts = [naive_count(c) for c in expr.children]
    if isinstance(expr, Sum):
        return sum(counts)
    return math.prod(counts)


@settings(max_examples=150, deadline=None)
@given(expr=any_expression(depth=4))
def test_term_counts_skip_no_node(expr):
    assert count_terms(expr) == naive_count(expr)
