"""Composition scores (tensoralgebra.circuits): values, and bad input refused clearly."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import TensorAlgebraError
from tensoralgebra.circuits import composition_score


@given(seed=st.integers(0, 2**16), scale=st.floats(1e-200, 1e200))
def test_scores_lie_in_the_unit_interval_and_ignore_scale(seed, scale):
    rng = np.random.default_rng(seed)
    M, W = rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
    score = composition_score(M, W)
    assert 0 <= score <= 1
    assert composition_score(scale * M, W / scale) == pytest.approx(score, rel=1e-12)


def test_aligned_and_orthogonal_directions():
    u, v, w = np.eye(3)
    assert composition_score(np.outer(u, v), np.outer(v, w)) == pytest.approx(1.0)
    assert composition_score(np.outer(u, v), np.outer(w, u)) == 0.0
    assert composition_score(np.zeros((3, 3)), np.eye(3)) == 0.0
    # Entries near the float range overflow no norm: the factors are scaled first.
    assert composition_score(1e300 * np.eye(2), 1e300 * np.eye(2)) == pytest.approx(2**-0.5)


def test_the_graph_uses_the_same_function():
    assert ta.graph.composition_score is composition_score
    assert ta.circuits.composition_score is composition_score


BAD = [
    ((np.eye(3), np.eye(4)), "chain: got M (3, 3) and W_OV (4, 4)"),
    ((np.ones(3), np.eye(3)), "M has shape (3,): expected a non-empty matrix"),
    ((np.eye(3), np.ones((3, 3, 3))), "W_OV has shape (3, 3, 3)"),
    ((np.zeros((0, 3)), np.eye(3)), "M has shape (0, 3)"),
    ((np.full((2, 2), np.nan), np.eye(2)), "M has non-finite entries"),
    ((np.eye(2), np.array([[np.inf, 0], [0, 1]])), "W_OV has non-finite entries"),
    ((None, np.eye(2)), "M is None: expected a matrix"),
    (("eye", np.eye(2)), "M is 'eye': expected a matrix"),
    ((np.eye(2), [[1, "a"], [0, 1]]), "W_OV is not a numeric matrix"),
    ((np.eye(2), [[1, 2], [3]]), "W_OV is not a numeric matrix"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD)
def test_bad_input_is_refused(args, fragment):
    with pytest.raises(TensorAlgebraError) as caught:
        composition_score(*args)
    assert fragment in str(caught.value)
