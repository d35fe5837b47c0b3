"""Architectures, logit paths and their closed-form counts."""

import itertools
import math

import pytest

import tensoralgebra as ta
from tensoralgebra import TensorAlgebraError


@pytest.mark.parametrize(
    ("heads", "message"),
    [
        ((2, -1), r"heads\[1\] -1 is out of range: a layer has 0 or more heads"),
        ((2, 1.5), r"heads\[1\] is 1.5"),
        ((True,), r"heads\[0\] is True"),
        ("22", "sequence of head counts"),
        (3, "sequence of head counts"),
    ],
)
def test_bad_head_counts_are_named(heads, message):
    with pytest.raises(TensorAlgebraError, match=message):
        ta.Architecture(heads=heads)


def test_bad_positional_kind_and_layers():
    with pytest.raises(TensorAlgebraError, match="positional is 'rotary': expected one of None"):
        ta.Architecture((1,), positional="rotary")
    with pytest.raises(TensorAlgebraError, match="n_layers -2 is out of range"):
        ta.Architecture.schematic(n_layers=-2)
    with pytest.raises(TensorAlgebraError, match="layer 3 does not exist"):
        ta.layer_factor(ta.Architecture((1, 1)), 3)


def test_architecture_value_semantics():
    a = ta.Architecture([2, 0, 1])
    assert a == ta.Architecture((2, 0, 1)) and hash(a) == hash(ta.Architecture((2, 0, 1)))
    assert a != ta.Architecture((2, 0, 1), positional="standard")
    assert a != ta.Architecture.schematic(3)
    assert a.to_dict() == {
        "n_layers": 3,
        "heads": [2, 0, 1],
        "schematic": False,
        "positional": None,
    }
    with pytest.raises(AttributeError):
        a.heads = (1,)
    assert ta.Architecture(()).n_layers == 0


def test_path_attributes():
    arch = ta.Architecture((2, 3), positional="standard")
    paths = list(ta.logit_paths(arch))
    assert len(paths) == 2 * 3 * 4
    kinds = {p.kind for p in paths}
    assert kinds == {"direct", "head", "virtual"}
    p = next(p for p in paths if p.order == 2 and p.source == "position")
    assert p.heads == ((0, 0), (1, 0)) and p.layers == (0, 1)
    assert str(p) == "L0H0→L1H0 (position)"
    assert str(p.expr) == "A^{L1H0} A^{L0H0} ⊗ W_U W_OV^{L1H0} W_OV^{L0H0} W_pos"
    assert p == ta.LogitPath(((0, 0), (1, 0)), "position") and len({p, p}) == 1


def test_schematic_paths_bind_head_variables():
    (path,) = [p for p in ta.logit_paths(ta.Architecture.schematic(3)) if p.layers == (0, 2)]
    assert str(path) == "h_0∈H0→h_2∈H2"
    assert str(path.expr) == "Σ_{h_2∈H2} Σ_{h_0∈H0} A^{h_2} A^{h_0} ⊗ W_U W_OV^{h_2} W_OV^{h_0} W_E"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (-1, "-1 is out of range: a path of this 2-layer architecture has order 0..2"),
        (3, "3 is out of range: a path of this 2-layer architecture has order 0..2"),
        (1.0, "is 1.0: expected an integer"),
        (True, "is True: expected an integer, not a bool"),
        ("1", "is '1': expected an integer"),
    ],
)
def test_max_order_out_of_range(bad, message):
    arch = ta.Architecture((1, 1))
    with pytest.raises(TensorAlgebraError, match=f"^max_order {message}"):
        list(ta.logit_paths(arch, max_order=bad))
    with pytest.raises(TensorAlgebraError, match=f"^order {message}"):
        ta.count_logit_paths(arch, order=bad)


def test_counts_are_closed_form_at_any_size():
    big = ta.Architecture((96,) * 96)
    assert ta.count_logit_paths(big) == 97**96
    assert ta.count_logit_paths(big, order=3) == math.comb(96, 3) * 96**3
    assert ta.count_logit_paths(ta.Architecture.schematic(96), order=2) == math.comb(96, 2)
    uneven = ta.Architecture((2, 0, 3, 1), positional="standard")
    for k in range(5):
        brute = sum(
            math.prod(uneven.heads[layer] for layer in s)
            for s in itertools.combinations(range(4), k)
        )
        assert ta.count_logit_paths(uneven, order=k) == 2 * brute


def test_enumeration_is_lazy():
    first = list(itertools.islice(ta.logit_paths(ta.Architecture((96,) * 96)), 5))
    assert [str(p) for p in first] == ["direct", "L0H0", "L0H1", "L0H2", "L0H3"]


def test_kinds_by_order():
    assert [ta.path_kind(k) for k in range(4)] == ["direct", "head", "virtual", "virtual"]
