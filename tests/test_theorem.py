"""The theorem of the logit expansion, by two independent routes.

Route 1 rewrites the factored expression ``(Id⊗W_U)·Π_l(Id + Σ_h A^h⊗W_OV^h)·(Id⊗W_E)`` rule by
rule; route 2 enumerates paths. They must give the same terms, in the same order, as many as the
closed form says; and the expansion must have the factored expression's value.
"""

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr.dense import RandomValues, to_dense
from tensoralgebra.expr.traversal import instantiate

positional = st.sampled_from((None, "standard"))


@st.composite
def architectures(draw, max_layers=5, max_heads=4):
    heads = draw(st.lists(st.integers(0, max_heads), max_size=max_layers))
    return ta.Architecture(heads=tuple(heads), positional=draw(positional))


@given(arch=architectures())
def test_expansion_terms_equal_path_terms(arch):
    expanded = ta.terms(ta.expand(ta.logits(arch)))
    paths = list(ta.logit_paths(arch))
    assert list(expanded) == [p.expr for p in paths]
    assert len(set(expanded)) == len(expanded) == ta.count_logit_paths(arch)


@given(arch=architectures())
def test_counts_by_order_match_enumeration(arch):
    by_order = {}
    for p in ta.logit_paths(arch):
        by_order[p.order] = by_order.get(p.order, 0) + 1
    for order in range(arch.n_layers + 1):
        assert ta.count_logit_paths(arch, order=order) == by_order.get(order, 0)
        truncated = list(ta.logit_paths(arch, max_order=order))
        assert len(truncated) == sum(ta.count_logit_paths(arch, k) for k in range(order + 1))
        assert all(p.order <= order for p in truncated)


@given(n_layers=st.integers(0, 6), pos=positional)
def test_schematic_expansion_has_one_group_per_subset_of_layers(n_layers, pos):
    arch = ta.Architecture.schematic(n_layers=n_layers, positional=pos)
    expanded = ta.terms(ta.expand(ta.logits(arch)))
    assert list(expanded) == [p.expr for p in ta.logit_paths(arch)]
    assert len(expanded) == 2**n_layers * len(arch.sources) == ta.count_logit_paths(arch)
    groups = {p.layers for p in ta.logit_paths(arch)}
    assert groups == {
        s for k in range(n_layers + 1) for s in itertools.combinations(range(n_layers), k)
    }


@given(heads=st.lists(st.integers(0, 3), max_size=4), pos=positional)
def test_schematic_expansion_instantiates_to_the_concrete_one(heads, pos):
    schematic = ta.expand(ta.logits(ta.Architecture.schematic(len(heads), positional=pos)))
    concrete = ta.expand(ta.logits(ta.Architecture(heads, positional=pos)))
    instantiated = ta.expand(instantiate(schematic, heads))
    assert ta.terms(instantiated) == ta.terms(concrete)


SIZES = {"n_ctx": 3, "d_model": 2, "d_vocab": 3, "d_head": 1}


@given(arch=architectures(max_layers=3, max_heads=2), seed=st.integers(0, 2**16))
def test_expansion_has_the_value_of_the_factored_expression(arch, seed):
    values = RandomValues(SIZES, seed)
    factored = to_dense(ta.logits(arch), values)
    expanded = to_dense(ta.expand(ta.logits(arch)), values)
    np.testing.assert_allclose(expanded, factored, rtol=1e-12, atol=1e-12)


def test_the_papers_two_layer_equation():
    arch = ta.Architecture.schematic(n_layers=2)
    expanded = ta.expand(ta.logits(arch))
    assert str(expanded) == (
        "Id ⊗ W_U W_E"
        " + Σ_{h∈H0} A^{h} ⊗ W_U W_OV^{h} W_E"
        " + Σ_{h∈H1} A^{h} ⊗ W_U W_OV^{h} W_E"
        " + Σ_{h_1∈H1} Σ_{h_0∈H0} A^{h_1} A^{h_0} ⊗ W_U W_OV^{h_1} W_OV^{h_0} W_E"
    )
    # The paper writes the two single-head groups as one Σ over H_1 ∪ H_2.
    from tensoralgebra.expr.ordering import merge_head_sets

    assert str(merge_head_sets(expanded)) == (
        "Id ⊗ W_U W_E"
        " + Σ_{h∈H0∪H1} A^{h} ⊗ W_U W_OV^{h} W_E"
        " + Σ_{h_1∈H1} Σ_{h_0∈H0} A^{h_1} A^{h_0} ⊗ W_U W_OV^{h_1} W_OV^{h_0} W_E"
    )


def test_zero_and_one_layer_equations():
    zero = ta.expand(ta.logits(ta.Architecture.schematic(n_layers=0)))
    assert str(zero) == "Id ⊗ W_U W_E"
    one = ta.expand(ta.logits(ta.Architecture.schematic(n_layers=1)))
    assert str(one) == "Id ⊗ W_U W_E + Σ_{h∈H0} A^{h} ⊗ W_U W_OV^{h} W_E"


def test_positions_double_the_terms_with_the_position_source():
    arch = ta.Architecture(heads=(1,), positional="standard")
    assert [str(t) for t in ta.terms(ta.expand(ta.logits(arch)))] == [
        "Id ⊗ W_U W_E",
        "Id ⊗ W_U W_pos",
        "A^{L0H0} ⊗ W_U W_OV^{L0H0} W_E",
        "A^{L0H0} ⊗ W_U W_OV^{L0H0} W_pos",
    ]
