"""The attention-score expansion: for every head at any depth, two routes, same terms."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import SpaceMismatchError, TensorAlgebraError
from tensoralgebra.expr import Bilinear, Identity, Kron, Space
from tensoralgebra.expr.dense import RandomValues, to_dense
from tensoralgebra.expr.spaces import MODEL, POSITIONS
from tensoralgebra.expr.traversal import instantiate, substitute
from tensoralgebra.symbols import W_E, W_QK, Id_positions

positional = st.sampled_from((None, "standard"))


@st.composite
def architectures(draw, max_layers=4, max_heads=3):
    heads = draw(st.lists(st.integers(0, max_heads), min_size=1, max_size=max_layers))
    return ta.Architecture(heads=tuple(heads), positional=draw(positional))


def heads_of(arch):
    return [(layer, h) for layer in range(arch.n_layers) for h in range(arch.heads[layer])]


@given(arch=architectures())
def test_expansion_terms_equal_path_terms_for_every_head(arch):
    for layer, head in heads_of(arch):
        expanded = ta.terms(ta.expand(ta.scores(arch, layer, head)))
        paths = list(ta.score_paths(arch, layer, head))
        assert list(expanded) == [p.expr for p in paths]
        assert len(set(expanded)) == len(expanded) == ta.count_score_paths(arch, layer, head)


@given(arch=architectures(), data=st.data())
def test_counts_by_kind_and_order_match_enumeration(arch, data):
    layer = data.draw(st.integers(0, arch.n_layers - 1), label="layer")
    if not arch.heads[layer]:
        return
    for top in range(layer + 1):
        paths = list(ta.score_paths(arch, layer, 0, max_order=top))
        assert all(max(p.order) <= top for p in paths)
        for kind in ("none", "Q", "K", "QK"):
            n = sum(p.kind == kind for p in paths)
            assert n == ta.count_score_paths(arch, layer, 0, kind=kind, max_order=top)
        assert len(paths) == ta.count_score_paths(arch, layer, 0, max_order=top)


@given(n_layers=st.integers(1, 5), pos=positional, data=st.data())
def test_schematic_scores_have_one_group_per_pair_of_layer_subsets(n_layers, pos, data):
    arch = ta.Architecture.schematic(n_layers, positional=pos)
    layer = data.draw(st.integers(0, n_layers - 1), label="layer")
    expanded = ta.terms(ta.expand(ta.scores(arch, layer)))
    assert list(expanded) == [p.expr for p in ta.score_paths(arch, layer)]
    assert len(expanded) == 4**layer * len(arch.sources) ** 2 == ta.count_score_paths(arch, layer)


@given(heads=st.lists(st.integers(0, 2), min_size=1, max_size=3), data=st.data())
def test_schematic_scores_instantiate_to_the_concrete_ones(heads, data):
    layer = data.draw(st.integers(0, len(heads) - 1), label="layer")
    if not heads[layer]:
        return
    schematic = ta.expand(ta.scores(ta.Architecture.schematic(len(heads)), layer))
    bound = substitute(schematic, {ta.HeadVar("h"): ta.Head(layer, 0)})
    concrete = ta.expand(ta.scores(ta.Architecture(heads), layer, 0))
    assert ta.terms(ta.expand(instantiate(bound, heads))) == ta.terms(concrete)


SIZES = {"n_ctx": 2, "d_model": 2, "d_vocab": 3, "d_head": 1}


@given(arch=architectures(max_layers=3, max_heads=2), seed=st.integers(0, 2**16), data=st.data())
def test_score_expansion_has_the_value_of_the_bilinear_form(arch, seed, data):
    layer = data.draw(st.integers(0, arch.n_layers - 1), label="layer")
    if not arch.heads[layer] or arch.positional:
        return  # dense values of a bilinear form need each stream to read one source
    values = RandomValues(SIZES, seed)
    factored = ta.scores(arch, layer, 0)
    expanded = ta.expand(factored)
    np.testing.assert_allclose(
        to_dense(expanded, values), to_dense(factored, values), rtol=1e-11, atol=1e-11
    )


def test_the_papers_four_groups_for_a_second_layer_head():
    terms = ta.terms(ta.expand(ta.scores(ta.Architecture.schematic(n_layers=2), layer=1)))
    assert [str(t) for t in terms] == [
        "Id ⊗ Id ⊗ W_E^T W_QK^{h} W_E",
        "Σ_{hq∈H0} A^{hq} ⊗ Id ⊗ W_E^T W_OV^{hq T} W_QK^{h} W_E",
        "Σ_{hk∈H0} Id ⊗ A^{hk} ⊗ W_E^T W_QK^{h} W_OV^{hk} W_E",
        "Σ_{hq∈H0} Σ_{hk∈H0} A^{hq} ⊗ A^{hk} ⊗ W_E^T W_OV^{hq T} W_QK^{h} W_OV^{hk} W_E",
    ]
    kinds = [p.kind for p in ta.score_paths(ta.Architecture.schematic(2), 1)]
    assert kinds == ["none", "Q", "K", "QK"]


def test_factored_form_prints_like_the_paper():
    s = ta.scores(ta.Architecture.schematic(n_layers=2), layer=1)
    assert str(s) == (
        "((Id + Σ_{hq∈H0} A^{hq} ⊗ W_OV^{hq})·(Id ⊗ W_E))^T·(Id ⊗ Id ⊗ W_QK^{h})"
        "·((Id + Σ_{hk∈H0} A^{hk} ⊗ W_OV^{hk})·(Id ⊗ W_E))"
    )


def test_four_layer_counts_and_a_virtual_key_path():
    arch = ta.Architecture(heads=(2, 2, 2, 2))
    assert ta.count_score_paths(arch, 3) == 27**2
    assert [ta.count_score_paths(arch, 3, kind=k) for k in ("none", "Q", "K", "QK")] == [
        1,
        26,
        26,
        676,
    ]
    p = next(p for p in ta.score_paths(arch, 3, 1) if p.order == (0, 2))
    assert p.kind == "K" and p.key.kind == "virtual"
    assert str(p.expr) == ("Id ⊗ A^{L1H0} A^{L0H0} ⊗ W_E^T W_QK^{L3H1} W_OV^{L1H0} W_OV^{L0H0} W_E")


def test_positions_give_four_source_pairs():
    arch = ta.Architecture(heads=(1, 1), positional="standard")
    none = [str(p.expr) for p in ta.score_paths(arch, 1, 0) if p.kind == "none"]
    assert none == [
        "Id ⊗ Id ⊗ W_E^T W_QK^{L1H0} W_E",
        "Id ⊗ Id ⊗ W_E^T W_QK^{L1H0} W_pos",
        "Id ⊗ Id ⊗ W_pos^T W_QK^{L1H0} W_E",
        "Id ⊗ Id ⊗ W_pos^T W_QK^{L1H0} W_pos",
    ]
    assert ta.count_score_paths(arch, 1) == 16


def test_a_first_layer_head_has_only_the_no_composition_term():
    arch = ta.Architecture(heads=(3, 1))
    (term,) = ta.score_paths(arch, 0, 2)
    assert term.kind == "none" and term.order == (0, 0)
    assert ta.count_score_paths(arch, 0, 2, kind="QK") == 0


@pytest.mark.parametrize(
    ("layer", "head", "message"),
    [
        (2, 0, "layer 2 does not exist: this architecture has layers 0..1"),
        (1, 1, "head 1 does not exist: layer 1 has heads 0..0"),
        (0, -1, "head -1 does not exist"),
        (0, True, "head is True: expected an integer, not a bool"),
    ],
)
def test_heads_that_do_not_exist(layer, head, message):
    arch = ta.Architecture(heads=(2, 1))
    for call in (ta.scores, ta.score_paths, ta.count_score_paths):
        with pytest.raises(TensorAlgebraError, match=message):
            call(arch, layer, head)


def test_other_bad_input():
    arch = ta.Architecture(heads=(2, 0))
    with pytest.raises(TensorAlgebraError, match="layer 1 has no heads"):
        ta.scores(arch, 1, 0)
    with pytest.raises(TensorAlgebraError, match=r"max_order 2 is out of range.*0\.\.1"):
        ta.score_paths(ta.Architecture((1, 1)), 1, 0, max_order=2)
    with pytest.raises(TensorAlgebraError, match="kind is 'V': expected one of 'none'"):
        ta.count_score_paths(ta.Architecture((1, 1)), 1, 0, kind="V")
    with pytest.raises(TensorAlgebraError, match="heads are symbolic"):
        ta.scores(ta.Architecture.schematic(2), 1, 3)


def test_bilinear_forms_are_typed():
    stream = Kron((Id_positions, W_E))
    form = Kron((Id_positions, Id_positions, W_QK((1, 0))))
    with pytest.raises(SpaceMismatchError, match="reads a query stream in positions⊗model"):
        Bilinear(Kron((Id_positions, W_E.T)), form, stream)
    p, m = Space.of(POSITIONS), Space.of(MODEL)
    with pytest.raises(SpaceMismatchError, match="must act on 3-factor spaces"):
        Bilinear(stream, Identity(p @ m), stream)


def test_enumeration_is_lazy_for_deep_heads():
    paths = ta.score_paths(ta.Architecture((96,) * 96), layer=95, head=0)
    first = list(itertools.islice(paths, 3))
    assert [p.kind for p in first] == ["none", "Q", "Q"]


def test_virtual_weights_are_the_last_factor_of_their_terms():
    from tensoralgebra import circuits as vw

    arch = ta.Architecture(heads=(2, 2, 1))
    by_heads = {(p.query.heads, p.key.heads): p.expr.args[2] for p in ta.score_paths(arch, 2, 0)}
    assert by_heads[((), ())] == vw.full_qk_circuit((2, 0))
    assert by_heads[(((0, 1),), ())] == vw.q_composition((0, 1), (2, 0))
    assert by_heads[((), ((1, 0),))] == vw.k_composition((1, 0), (2, 0))
    assert by_heads[(((0, 0),), ((1, 1),))] == vw.qk_composition((0, 0), (1, 1), (2, 0))
    logit = {p.heads: p.expr.args[1] for p in ta.logit_paths(arch)}
    assert logit[((1, 1),)] == vw.full_ov_circuit((1, 1))
    assert logit[((0, 0), (1, 1), (2, 0))] == vw.virtual_ov_circuit((0, 0), (1, 1), (2, 0))
    with pytest.raises(TensorAlgebraError, match="L2H0 cannot compose into L1H0"):
        vw.virtual_ov_circuit((2, 0), (1, 0))
    with pytest.raises(TensorAlgebraError, match="at least two heads, got 1"):
        vw.virtual_ov_circuit((0, 0))
    with pytest.raises(TensorAlgebraError, match="a head is a"):
        vw.full_ov_circuit(3)
