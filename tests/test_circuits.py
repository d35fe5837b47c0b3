"""Factored matrices and full circuits (tensoralgebra.circuits): equal to their dense forms on
small shapes, cyclic-trick eigenvalues equal to dense ones, and bad input refused clearly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.circuits import FactoredMatrix, ov_circuit, path_ov_circuit, qk_circuit

SHAPES = st.tuples(st.integers(1, 9), st.integers(1, 6), st.integers(1, 9), st.integers(0, 2**16))


def factored(m, r, n, seed):
    rng = np.random.default_rng(seed)
    return FactoredMatrix(rng.normal(size=(m, r)), rng.normal(size=(r, n)))


@given(SHAPES)
def test_svd_norms_and_products_equal_the_dense_ones(shape):
    M = factored(*shape)
    dense = M.A @ M.B
    U, S, Vh = M.svd()
    assert np.allclose(U * S @ Vh, dense, atol=1e-10 * (1 + np.abs(dense).max()))
    assert np.allclose(S, np.linalg.svd(dense, compute_uv=False)[: S.size], atol=1e-9)
    assert M.frobenius_norm == pytest.approx(np.linalg.norm(dense), rel=1e-10, abs=1e-12)
    assert M.spectral_norm == pytest.approx(np.linalg.norm(dense, 2), rel=1e-10, abs=1e-12)
    assert np.allclose(M.T.dense(), dense.T)
    square = M @ M.T
    assert square.trace() == pytest.approx(np.trace(dense @ dense.T), rel=1e-10)
    other = factored(shape[2], 3, 4, shape[3] + 1)
    assert np.allclose((M @ other).dense(), dense @ other.dense())
    assert (M @ other).rank == min(M.rank, 3)
    right, left = np.ones((shape[2], 2)), np.ones((5, shape[0]))
    assert np.allclose((M @ right).dense(), dense @ right)
    assert np.allclose((left @ M).dense(), left @ dense)


def _matched(found: np.ndarray, expected: np.ndarray, tol: float) -> bool:
    """Every value of ``found`` is within ``tol`` of one of ``expected``, and vice versa."""
    gaps = np.abs(found[:, None] - expected[None, :])
    return bool(gaps.min(1).max() <= tol and gaps.min(0).max() <= tol)


@settings(max_examples=150)
@given(SHAPES)
def test_cyclic_trick_eigenvalues_equal_dense_eigenvalues(shape):
    m, r, _, seed = shape
    M = factored(m, r, m, seed)
    dense = np.linalg.eigvals(M.A @ M.B)
    ours = M.eigenvalues()
    scale = 1e-7 * (1 + np.abs(M.A).max() * np.abs(M.B).max() * r)
    assert ours.size == min(r, m)
    largest = dense[np.argsort(-np.abs(dense))][: ours.size]
    assert _matched(ours, largest, scale)
    rest = dense[np.argsort(-np.abs(dense))][ours.size :]
    assert np.abs(rest).max(initial=0) <= scale  # the other m - r eigenvalues are 0


@pytest.mark.parametrize("order", ["largest", "smallest", "magnitude"])
@pytest.mark.parametrize("max_bytes", [24 * 7, 2**20])  # one row per block, or one block
def test_top_k_equals_the_dense_ranking(order, max_bytes):
    M = factored(13, 3, 11, 4)
    dense = M.dense()
    key = {"largest": -dense, "smallest": dense, "magnitude": -np.abs(dense)}[order].ravel()
    best = np.argsort(key, kind="stable")[:7]
    entries = M.top_k(7, order=order, max_bytes=max_bytes)
    assert list(entries.rows * 11 + entries.cols) == list(best)
    assert np.allclose(entries.values, dense.ravel()[best])


@given(
    shape=st.tuples(st.integers(1, 12), st.integers(1, 3), st.integers(1, 12)),
    seed=st.integers(0, 2**16),
    integers=st.booleans(),
    k=st.integers(1, 20),
    order=st.sampled_from(["largest", "smallest", "magnitude"]),
    rows_per_block=st.integers(1, 4),
)
def test_pruned_top_k_equals_the_dense_ranking(shape, seed, integers, k, order, rows_per_block):
    """Rows of very different norms (so the Cauchy–Schwarz pruning skips most of them) and
    small integer entries (so exact ties across pruned and kept rows are common)."""
    m, r, n = shape
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.normal(scale=2.0, size=(m, 1)))
    A = rng.integers(-2, 3, size=(m, r)) if integers else rng.normal(size=(m, r)) * scales
    B = rng.integers(-2, 3, size=(r, n)) if integers else rng.normal(size=(r, n))
    M = FactoredMatrix(A.astype(float), B.astype(float))
    k = min(k, m * n)
    dense = M.dense()
    key = {"largest": -dense, "smallest": dense, "magnitude": -np.abs(dense)}[order].ravel()
    best = np.argsort(key, kind="stable")[:k]
    entries = M.top_k(k, order=order, max_bytes=max(24 * k, 8 * n * rows_per_block))
    assert list(entries.rows * n + entries.cols) == list(best)
    assert np.array_equal(entries.values, dense.ravel()[best]) or np.allclose(
        entries.values, dense.ravel()[best], rtol=1e-12, atol=0
    )


def weights(normalization=None, seed=0, heads=(2, 2, 2), d_vocab=10):
    return ta.Weights.random(ta.Architecture(heads), d_model=8, d_head=3, d_vocab=d_vocab,
                             n_ctx=4, seed=seed, normalization=normalization,
                             biases=normalization is not None)  # fmt: skip


def dense_parts(w, fold):
    """The matrices the circuits read, by the formulas of docs/circuits.md, densely."""
    d = w.d_model
    C = np.eye(d) - 1 / d if fold and w.normalization else np.eye(d)
    scaled = fold and w.normalization == "LN"

    def ln(layer):
        return np.diag(w.ln_w[layer]) if scaled else np.eye(d)

    ln_f = np.diag(w.ln_final_w) if scaled else np.eye(d)
    heads = [(layer, h) for layer in range(3) for h in range(2)]
    OV = {(a, h): C @ w.W_O[a][h] @ w.W_V[a][h] @ ln(a) @ C for a, h in heads}
    QK = {(a, h): (w.W_Q[a][h] @ ln(a) @ C).T @ (w.W_K[a][h] @ ln(a) @ C) for a, h in heads}
    return w.W_U @ ln_f @ C, OV, QK, C @ w.W_E


@pytest.mark.parametrize("normalization", [None, "LNPre", "LN"])
@pytest.mark.parametrize("fold", [True, False])
def test_full_circuits_equal_their_dense_formulas(normalization, fold):
    w = weights(normalization)
    U, OV, QK, E = dense_parts(w, fold)
    assert np.allclose(ov_circuit(w, 1, 0, fold_ln=fold).dense(), U @ OV[1, 0] @ E)
    assert np.allclose(qk_circuit(w, 2, 1, fold_ln=fold).dense(), E.T @ QK[2, 1] @ E)
    path = path_ov_circuit(w, [(0, 1), (1, 0), (2, 1)], fold_ln=fold)
    assert np.allclose(path.dense(), U @ OV[2, 1] @ OV[1, 0] @ OV[0, 1] @ E)
    composed = qk_circuit(w, 2, 0, query=(0, 0), key=[(0, 1), (1, 1)], fold_ln=fold)
    expected = E.T @ OV[0, 0].T @ QK[2, 0] @ OV[1, 1] @ OV[0, 1] @ E
    assert np.allclose(composed.dense(), expected)
    assert path.rank == composed.rank == 3 and path.shape == (10, 10)


def test_a_model_is_read_through_its_weights():
    w = weights("LN")
    model = ta.AttentionOnlyTransformer(w)
    assert np.array_equal(ov_circuit(model, 0, 1).dense(), ov_circuit(w, 0, 1).dense())


def test_the_folded_circuits_are_those_of_transformer_lens_processed_weights():
    from test_transformer_lens import hooked_transformer, transformer_lens_folding

    model = hooked_transformer("LN", "standard", seed=5)
    ours = ta.Weights.from_transformer_lens(model)
    theirs = ta.Weights.from_transformer_lens(transformer_lens_folding(model))
    for layer, head in [(0, 0), (1, 2)]:
        for circuit in (ov_circuit, qk_circuit):
            folded = circuit(ours, layer, head).dense()
            processed = circuit(theirs, layer, head, fold_ln=False).dense()
            assert np.abs(folded - processed).max() <= 1e-10 * np.abs(processed).max()


def test_large_vocabularies_stay_factored():
    w = ta.Weights.random(ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=60_000, n_ctx=2)
    M = ov_circuit(w, 0, 0)
    assert M.shape == (60_000, 60_000) and M.eigenvalues().shape == (2,)
    assert M.svd()[0].shape == (60_000, 2) and M.frobenius_norm > 0
    small = ov_circuit(ta.Weights.random(ta.Architecture((1,)), d_model=4, d_head=2,
                                         d_vocab=3000, n_ctx=2), 0, 0)  # fmt: skip
    best = small.top_k(3, max_bytes=2**20)  # 9M entries, in blocks of 1 MiB
    assert best.values[0] == pytest.approx(small.dense().max(), rel=1e-12)
    with pytest.raises(ExpansionLimitError, match="28,800,000,000 bytes, over the memory"):
        M.dense()


W = weights()
BAD = [
    (lambda: FactoredMatrix(np.eye(3), np.eye(4)), "chain: got A (3, 3) and B (4, 4)"),
    (lambda: FactoredMatrix(np.ones(3), np.eye(3)), "A has shape (3,): expected a non-empty"),
    (lambda: FactoredMatrix(np.eye(2), [[np.nan, 0], [0, 1]]), "B has non-finite entries"),
    (lambda: FactoredMatrix("A", np.eye(2)), "A is 'A': expected a matrix"),
    (lambda: FactoredMatrix(np.eye(2), [[1, "x"], [0, 1]]), "B is not a numeric matrix"),
    (lambda: factored(3, 2, 4, 0).eigenvalues(), "eigenvalues need a square matrix; this "
     "FactoredMatrix is [3, 4]"),
    (lambda: factored(3, 2, 4, 0).trace(), "a trace needs a square matrix"),
    (lambda: factored(3, 2, 4, 0) @ np.eye(3), "multiply a [3, 4] FactoredMatrix by a [3, 3] "
     "matrix on the right"),
    (lambda: np.eye(2) @ factored(3, 2, 4, 0), "by a [2, 2] matrix on the left"),
    (lambda: factored(3, 2, 4, 0) @ factored(3, 2, 4, 0), "on the right: the inner"),
    (lambda: factored(3, 2, 4, 0).dense(max_bytes=95), "the dense [3, 4] matrix would take 96 "
     "bytes, over the memory budget of 95 bytes"),
    (lambda: factored(3, 2, 4, 0).dense(max_bytes=0), "max_bytes is 0: expected a positive"),
    (lambda: factored(3, 2, 4, 0).top_k(0), "k is 0: expected a positive integer"),
    (lambda: factored(3, 2, 4, 0).top_k(13), "k is 13: at most 12 is supported"),
    (lambda: factored(3, 2, 4, 0).top_k(2.0), "k is 2.0: expected an integer"),
    (lambda: factored(3, 2, 4, 0).top_k(2, order="biggest"), "order is 'biggest': expected one"),
    (lambda: factored(9, 2, 9, 0).top_k(50, max_bytes=240), "the top 50 entries would take "
     "1,200 bytes, over the block budget of 240 bytes; k=10 fits"),
    (lambda: ov_circuit(W, 3, 0), "layer 3 does not exist: the model has layers 0..2"),
    (lambda: ov_circuit(W, -1, 0), "layer -1 does not exist"),
    (lambda: ov_circuit(W, 0, 2), "head 2 does not exist: layer 0 has heads 0..1"),
    (lambda: ov_circuit(weights(heads=(2, 0)), 1, 0), "head 0 does not exist: layer 1 has no "
     "heads"),
    (lambda: ov_circuit(W, True, 0), "layer is True: expected an integer, not a bool"),
    (lambda: ov_circuit("model", 0, 0), "circuits need ta.Weights or a "
     "ta.AttentionOnlyTransformer, got str"),
    (lambda: ov_circuit(W, 0, 0, fold_ln="yes"), "fold_ln is 'yes': expected True or False"),
    (lambda: path_ov_circuit(W, [(1, 0), (0, 0)]), "strictly increasing layers"),
    (lambda: path_ov_circuit(W, [(0, 0), (0, 1)]), "L0H0 cannot feed L0H1"),
    (lambda: path_ov_circuit(W, []), "path is []: expected a (layer, head) pair or a non-empty"),
    (lambda: path_ov_circuit(W, "L0H0"), "path is 'L0H0': expected a (layer, head) pair"),
    (lambda: path_ov_circuit(W, [(0, 0, 1)]), "path[0] is (0, 0, 1): expected a (layer, head)"),
    (lambda: path_ov_circuit(W, [(0, 5)]), "head 5 does not exist"),
    (lambda: qk_circuit(W, 1, 0, key=[(1, 1)]), "the key path ends at L1H1, which cannot feed "
     "a head of layer 1"),
    (lambda: qk_circuit(W, 1, 0, query=(0, 9)), "head 9 does not exist: layer 0 has heads 0..1"),
    (lambda: qk_circuit(W, 1, 0, query=5), "query is 5: expected a (layer, head) pair"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "fragment"), BAD)
def test_bad_input_is_refused(call, fragment):
    with pytest.raises(TensorAlgebraError) as caught:
        call()
    assert fragment in str(caught.value)
