"""Head detectors on hand-built heads whose patterns are known, the uniform baseline, and bad
input."""

import numpy as np
import pytest
from hand_built import induction_model

import tensoralgebra as ta
from tensoralgebra.circuits import detectors
from tensoralgebra.circuits.detectors import (
    detect_heads,
    duplicate_token_scores,
    in_context_learning_score,
    induction_scores,
    previous_token_scores,
    repeated_random_tokens,
    targets,
    uniform_pattern,
)
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.numeric.tokens import TokensError


@pytest.fixture(scope="module")
def found():
    return detect_heads(induction_model())


def test_each_hand_built_head_is_found_by_its_detector_only(found):
    assert found["previous_token"].flagged == [(0, 0)]
    assert found["duplicate_token"].flagged == [(0, 1)]
    assert found["induction"].flagged == [(1, 0)]
    assert found["previous_token"].score(0, 0) > 0.999
    assert found["duplicate_token"].score(0, 1) > 0.999
    assert found["induction"].score(1, 0) > 0.85


def test_a_head_that_ignores_the_tokens_scores_the_uniform_baseline(found):
    for result in found.values():  # head (0, 2) has W_QK = 0: uniform causal attention
        assert result.score(0, 2) == pytest.approx(result.baseline, abs=1e-12)


def test_the_baseline_is_uniform_attentions_expected_score():
    # previous token on sequences of 4: queries 1..3 put 1/2, 1/3, 1/4 on i - 1.
    w = ta.Weights.random(ta.Architecture(heads=(1,)), d_model=4, d_head=2, d_vocab=50, n_ctx=4)
    got = previous_token_scores(ta.AttentionOnlyTransformer(w), [[0, 1, 2, 3]])
    assert got.baseline == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)
    assert got.queries == 3


def test_targets_of_each_detector():
    t = np.array([[5, 6, 5, 6]])
    assert np.argwhere(targets(t, "previous_token")[0]).tolist() == [[1, 0], [2, 1], [3, 2]]
    assert np.argwhere(targets(t, "duplicate_token")[0]).tolist() == [[2, 0], [3, 1]]
    # the tokens after the earlier 5 and 6
    assert np.argwhere(targets(t, "induction")[0]).tolist() == [[2, 1], [3, 2]]
    assert np.allclose(uniform_pattern(3).sum(1), 1)


def test_repeated_random_tokens_repeat_and_are_seeded():
    t = repeated_random_tokens(7, 5, 3, seed=4)
    assert t.shape == (3, 10) and (t[:, :5] == t[:, 5:]).all() and t.max() < 7
    assert (t == repeated_random_tokens(7, 5, 3, seed=4)).all()
    assert not (t == repeated_random_tokens(7, 5, 3, seed=5)).all()


def test_one_pass_gives_what_the_single_detectors_give(found):
    model = induction_model()
    for name, call in (
        ("previous_token", previous_token_scores),
        ("duplicate_token", duplicate_token_scores),
        ("induction", induction_scores),
    ):
        assert call(model).to_dict() == found[name].to_dict()


def test_chunks_give_the_same_scores_as_one_pass():
    model = induction_model()
    tokens = repeated_random_tokens(12, 8, 6, seed=2)
    whole = induction_scores(model, tokens)
    small = induction_scores(model, tokens, max_bytes=200_000)
    assert np.allclose(np.concatenate(whole.scores), np.concatenate(small.scores), atol=1e-12)


def test_text_and_dict_name_every_head(found):
    text = str(found["induction"])
    assert "L1H0  0.8" in text and text.count("*") == 1
    assert found["induction"].to_dict()["flagged"] == [[1, 0]]


def test_in_context_learning_score_of_the_induction_model():
    model = induction_model()
    icl = in_context_learning_score(model, repeated_random_tokens(12, 8, 16, seed=0))
    assert (icl.early, icl.late) == (1, 14)
    assert icl.score == pytest.approx(icl.losses[14] - icl.losses[1])
    assert icl.losses[8:].mean() < 1.5 < icl.losses[:7].mean()  # the repeat is predicted
    assert icl.score < -1


def _model(**sizes):
    sizes = {"d_model": 4, "d_head": 2, "d_vocab": 5, "n_ctx": 6, **sizes}
    return ta.AttentionOnlyTransformer(ta.Weights.random(ta.Architecture(heads=(1,)), **sizes))


BAD = [
    (lambda: induction_scores("model"), TensorAlgebraError, "needs an AttentionOnlyTransformer"),
    (lambda: induction_scores(_model(), length=4), TensorAlgebraError, "exceed the model's n_ctx"),
    (lambda: induction_scores(_model(), length=0), TensorAlgebraError, "length is 0"),
    (lambda: induction_scores(_model(), length=-2), TensorAlgebraError, "length is -2"),
    (lambda: induction_scores(_model(), [[1, 2]], length=1), TensorAlgebraError, "not both"),
    (lambda: induction_scores(_model(), []), TokensError, "empty batch"),
    (lambda: induction_scores(_model(), [[1, 9]]), TokensError, "tokens[0, 1] is 9"),
    (lambda: induction_scores(_model(), [[1] * 7]), TokensError, "longer than n_ctx=6"),
    (lambda: induction_scores(_model(), [[1]]), TensorAlgebraError, "at least 2 tokens"),
    (lambda: induction_scores(_model(), [[1, 2, 3]]), TensorAlgebraError, "no query has a target"),
    (lambda: induction_scores(_model(), threshold=0), TensorAlgebraError, "threshold is 0"),
    (lambda: induction_scores(_model(), batch=0), TensorAlgebraError, "batch is 0"),
    (lambda: induction_scores(_model(), seed=-1), TensorAlgebraError, "seed -1 is out of range"),
    (lambda: induction_scores(_model(), max_bytes=10), ExpansionLimitError, "over the memory"),
    (lambda: induction_scores(_model()).score(1, 0), TensorAlgebraError, "layer 1 does not exist"),
    (lambda: induction_scores(_model()).score(0, 3), TensorAlgebraError, "head 3 does not exist"),
    (lambda: repeated_random_tokens(0, 3, 1), TensorAlgebraError, "d_vocab is 0"),
    (lambda: repeated_random_tokens(5, 3.0, 1), TensorAlgebraError, "length is 3.0"),
    (lambda: targets([[1, 2]], "copying"), TensorAlgebraError, "detector is 'copying'"),
    (lambda: in_context_learning_score(_model(), [[1, 2]]), TensorAlgebraError, "at least 3"),
    (
        lambda: in_context_learning_score(_model(), [[1, 2, 3, 4]], early=2),
        TensorAlgebraError,
        "late 2 is out of range: expected a position in 3..2",
    ),
    (
        lambda: in_context_learning_score(_model(), [[1, 2, 3, 4]], late=5),
        TensorAlgebraError,
        "late 5 is out of range",
    ),
]


@pytest.mark.parametrize(("call", "error", "fragment"), BAD)
def test_bad_input_is_refused_clearly(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)


def test_the_threshold_is_stated():
    assert detectors.THRESHOLD == 0.4
