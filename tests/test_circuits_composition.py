"""Composition score tables, the random baseline and copying (tensoralgebra.circuits): equal to
TransformerLens's scores and to dense formulas, within the baseline's spread on random models."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.circuits import (
    composition_figure,
    composition_score,
    composition_scores,
    copying_score,
    copying_scores,
    eigenvalue_figure,
    ov_circuit,
    ov_matrix,
    path_composition_score,
    qk_matrix,
    random_baseline,
)


def weights(heads=(2, 2, 2), seed=0, d_model=8, d_head=3, **extra):
    return ta.Weights.random(ta.Architecture(heads), d_model=d_model, d_head=d_head,
                             d_vocab=10, n_ctx=4, seed=seed, **extra)  # fmt: skip


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("normalization", ["LN", "LNPre", None])
@pytest.mark.parametrize("kind", ["Q", "K", "V"])
def test_scores_equal_transformer_lens_all_composition_scores(normalization, kind):
    from test_transformer_lens import hooked_transformer, transformer_lens_folding

    model = hooked_transformer(normalization, "standard", seed=3)
    ours = ta.Weights.from_transformer_lens(model)
    theirs = model.all_composition_scores(kind).detach().numpy()
    grid = composition_scores(ours, kind, fold_ln=False, samples=10).grid()
    assert grid.shape == theirs.shape == (2, 3, 2, 3)
    assert np.abs(grid - theirs).max() <= 1e-12
    if normalization == "LN":  # folded here = their scores after their folding
        processed = transformer_lens_folding(model).all_composition_scores(kind)
        folded = composition_scores(ours, kind, samples=10).grid()
        assert np.abs(folded - processed.detach().numpy()).max() <= 1e-12


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), d_model=st.integers(1, 9), d_head=st.integers(1, 5),
       kind=st.sampled_from("QKV"))  # fmt: skip
def test_every_score_is_the_dense_score_and_at_most_one(seed, d_model, d_head, kind):
    w = weights((2, 1, 2), seed, d_model, d_head)
    table = composition_scores(w, kind, order=2, samples=2)
    defined = ~np.isnan(table.scores)
    assert (table.scores[defined] >= 0).all() and (table.scores[defined] <= 1).all()
    for i, path in enumerate(table.earlier):
        for j, later in enumerate(table.later):
            if not defined[i, j]:
                assert path[-1][0] >= later[0]
                continue
            W = ov_matrix(w, list(path)).dense()
            M = {"Q": qk_matrix(w, *later).dense().T, "K": qk_matrix(w, *later).dense(),
                 "V": ov_matrix(w, later).dense()}[kind]  # fmt: skip
            assert table.scores[i, j] == pytest.approx(composition_score(M, W), abs=1e-12)
            single = path_composition_score(w, list(path), later, kind)
            assert single == pytest.approx(table.scores[i, j], abs=1e-12)


def test_virtual_heads_compose_on_either_side():
    w = weights((1, 1, 1, 1))
    score = path_composition_score(w, (0, 0), [(1, 0), (2, 0)], "V")
    M = ov_matrix(w, [(1, 0), (2, 0)]).dense()
    assert score == pytest.approx(composition_score(M, ov_matrix(w, (0, 0)).dense()), rel=1e-12)
    deep = composition_scores(w, "K", order=3, samples=2)
    assert ((0, 0), (1, 0), (2, 0)) in deep.earlier and set(deep.baselines) == {1, 2, 3}


@pytest.mark.parametrize(("d_model", "d_head", "depth"), [(8, 2, 1), (16, 4, 1), (16, 4, 3),
                                                          (6, 8, 2)])  # fmt: skip
def test_the_baseline_mean_square_is_one_over_d_model(d_model, d_head, depth):
    b = random_baseline(d_model, d_head, depth=depth, samples=4000, seed=1)
    assert abs(b.mean_square - 1 / d_model) <= 4 * b.mean_square_error
    assert b.mean <= b.rms and b.std > 0


def test_a_random_models_scores_lie_within_the_baseline_spread():
    w = weights((6, 6, 6), seed=7, d_model=24, d_head=6)
    for kind in "QKV":
        table = composition_scores(w, kind, samples=3000, seed=2)
        scores = table.scores[~np.isnan(table.scores)]
        baseline = table.baselines[1]
        assert scores.size == 6 * 12 + 6 * 6
        assert abs(scores.mean() - baseline.mean) <= 4 * baseline.std / np.sqrt(scores.size)
        assert np.mean(np.abs(scores - baseline.mean) <= 2 * baseline.std) >= 0.85
        assert np.nanmean(table.subtracted()) == pytest.approx(scores.mean() - baseline.mean)


def test_copying_eigenvalues_are_the_dense_ones_and_the_statistic_is_theirs():
    w = weights((2, 2), seed=4, normalization="LN", biases=True)
    table = copying_scores(w)
    qk = copying_scores(w, circuit="QK")
    for index, (layer, head) in enumerate(table.heads):
        dense = np.linalg.eigvals(ov_circuit(w, layer, head).dense())
        largest = dense[np.argsort(-np.abs(dense))][:3]
        gaps = np.abs(table.eigenvalues[index][:, None] - largest[None, :])
        assert gaps.min(1).max() <= 1e-9 and gaps.min(0).max() <= 1e-9
        assert table.scores[index] == pytest.approx(copying_score(dense), abs=1e-9)
        dense_qk = np.linalg.eigvals(ta.circuits.qk_circuit(w, layer, head).dense())
        assert qk.scores[index] == pytest.approx(copying_score(dense_qk), abs=1e-9)
    assert list(table.copying) == [s >= 0.5 for s in table.scores]


def test_an_identity_ov_circuit_copies():
    d = 4
    eye = np.eye(d)[None]
    w = ta.Weights(W_E=np.eye(d), W_U=np.eye(d), W_Q=[eye], W_K=[eye], W_V=[eye], W_O=[eye],
                   n_ctx=3)  # fmt: skip
    table = copying_scores(w, threshold=0.9)
    assert table.scores[0] == 1.0 and table.copying[0] and "L0H0: +1.0000  copying" in str(table)


def test_figures_are_figures_with_a_panel_per_head(tmp_path):
    w = weights((2, 2))
    fig = composition_figure(composition_scores(w, "K", samples=50))
    fig.savefig(tmp_path / "k.png")
    eig = eigenvalue_figure(copying_scores(w), columns=2)
    eig.savefig(tmp_path / "eig.svg")
    assert len(eig.axes) == 4 and (tmp_path / "k.png").stat().st_size > 0


W = weights()
BAD = [
    (lambda: composition_scores(W, "X"), TensorAlgebraError, "kind is 'X': expected one of "
     "'Q', 'K', 'V'"),
    (lambda: composition_scores(W, order=0), TensorAlgebraError, "order is 0: expected a "
     "positive integer"),
    (lambda: composition_scores(W, samples=0), TensorAlgebraError, "samples is 0"),
    (lambda: composition_scores(W, samples=10**6), TensorAlgebraError, "samples is 1000000: at "
     "most 100,000"),
    (lambda: composition_scores(W, seed=-1), TensorAlgebraError, "seed -1 is out of range"),
    (lambda: composition_scores([1, 2]), TensorAlgebraError, "circuits need ta.Weights"),
    (lambda: composition_scores(weights((150, 150), d_model=2, d_head=1), order=2),
     ExpansionLimitError, "order 2 would have 22,800 rows (heads and virtual heads), over "
     "20,000; order=1 fits"),
    (lambda: composition_scores(weights((2, 1)), samples=2).grid(), TensorAlgebraError,
     "grid() needs the same number of heads in every layer; this model has [2, 1]"),
    (lambda: composition_scores(W, samples=2).largest(0), TensorAlgebraError, "n is 0"),
    (lambda: path_composition_score(W, (1, 0), (1, 1)), TensorAlgebraError, "the earlier path "
     "ends at L1H0, which cannot feed a head of layer 1"),
    (lambda: path_composition_score(W, (0, 0), (5, 0)), TensorAlgebraError, "layer 5 does not "
     "exist: the model has layers 0..2"),
    (lambda: path_composition_score(W, (0, 0), [(1, 0)], "K"), TensorAlgebraError, "later is "
     "[(1, 0)]: expected a (layer, head) pair"),
    (lambda: path_composition_score(W, (0, 0), (1, 0), "q"), TensorAlgebraError, "kind is 'q'"),
    (lambda: random_baseline(0, 4), TensorAlgebraError, "d_model is 0"),
    (lambda: random_baseline(8, 4, depth=0), TensorAlgebraError, "depth is 0"),
    (lambda: random_baseline(4096, 512, samples=2000), ExpansionLimitError, "over "
     "2,000,000,000; samples=476 fits"),
    (lambda: copying_scores(W, circuit="KQ"), TensorAlgebraError, "circuit is 'KQ'"),
    (lambda: copying_scores(W, threshold=2), TensorAlgebraError, "threshold is 2: expected a "
     "number in [-1, 1]"),
    (lambda: copying_scores(W, threshold="high"), TensorAlgebraError, "threshold is 'high'"),
    (lambda: copying_score([np.nan]), TensorAlgebraError, "needs finite eigenvalues"),
    (lambda: ta.circuits.eigenvalues(W, 0, 3), TensorAlgebraError, "head 3 does not exist"),
    (lambda: composition_figure("table"), TensorAlgebraError, "needs CompositionScores, got str"),
    (lambda: eigenvalue_figure(copying_scores(W), columns=0), TensorAlgebraError, "columns is 0"),
    (lambda: eigenvalue_figure(None), TensorAlgebraError, "needs CopyingScores, got NoneType"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "fragment"), BAD)
def test_bad_input_is_refused(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)
