r"""The action of a Kronecker product on a residual stream.

Theorem. Let A be [n, m], W be [p, q] and R be [m, q]. Write vec_row(R) for the row-major
vectorisation of R, vec_row(R)[i q + j] = R[i, j] (what ``R.reshape(-1)`` does in numpy). Then

    vec_row(A R W^T) = kron(A, W) vec_row(R),

so ``(A \otimes W) R = A R W^T`` is the same operator whether a residual stream is read as a
matrix [n_ctx, d_model] or as a vector of length n_ctx d_model: A mixes positions (rows of R),
W mixes the model space (columns of R).

Proof (index level). For 0 <= a < p and 0 <= b < q, kron(A, W)[i p + a, k q + b] = A[i, k] W[a, b]
(row block i, column block k), so

    (kron(A, W) vec_row(R))[i p + a] = \sum_{k, b} A[i, k] W[a, b] R[k, b]
                                     = \sum_k A[i, k] (R W^T)[k, a] = (A R W^T)[i, a]
                                     = vec_row(A R W^T)[i p + a].

The checks below confirm it three ways: exactly with sympy on matrices of symbolic entries (for
each size tried, a polynomial identity in those entries), numerically with numpy on sizes and
entries drawn by Hypothesis, and through the package's dense semantics (``to_dense``), which lays
out ``positions ⊗ model`` row-major.
"""

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sympy.matrices.expressions.kronecker import kronecker_product

from tensoralgebra.expr import MODEL, POSITIONS, Space, kron, symbol
from tensoralgebra.expr.dense import RandomValues, to_dense


def symbolic_matrix(name: str, rows: int, cols: int) -> sympy.Matrix:
    """A [rows, cols] matrix whose entries are the independent symbols name_{i,j}."""
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}{j}"))


def vec_row_sympy(matrix: sympy.Matrix) -> sympy.Matrix:
    """Row-major vectorisation as a column vector, written out index by index."""
    return sympy.Matrix([matrix[i, j] for i in range(matrix.rows) for j in range(matrix.cols)])


def kron_by_index(left: sympy.Matrix, right: sympy.Matrix) -> sympy.Matrix:
    """kron(A, W) from its defining index formula: entry (i p + a, k q + b) is A[i, k] W[a, b]."""
    p, q = right.shape
    return sympy.Matrix(
        left.rows * p, left.cols * q, lambda r, c: left[r // p, c // q] * right[r % p, c % q]
    )


SIZES = [(1, 1, 1, 1), (2, 2, 2, 2), (2, 3, 1, 2), (3, 2, 2, 3), (3, 3, 2, 2)]


@pytest.mark.parametrize(("n", "m", "p", "q"), SIZES)
def test_kron_agrees_with_its_index_formula(n, m, p, q):
    A, W = symbolic_matrix("a", n, m), symbolic_matrix("w", p, q)
    assert kronecker_product(A, W) == kron_by_index(A, W)


@pytest.mark.parametrize(("n", "m", "p", "q"), SIZES)
def test_action_exact_with_symbolic_entries(n, m, p, q):
    A = symbolic_matrix("a", n, m)
    W = symbolic_matrix("w", p, q)
    R = symbolic_matrix("r", m, q)
    lhs = vec_row_sympy(A * R * W.T)
    rhs = kronecker_product(A, W) * vec_row_sympy(R)
    assert (lhs - rhs).expand() == sympy.zeros(n * p, 1)


dims = st.integers(min_value=1, max_value=6)


def int_matrix(rows: int, cols: int):
    # Small integers: float64 arithmetic on them is exact, so equality is exact too.
    return arrays(np.int64, (rows, cols), elements=st.integers(-50, 50)).map(
        lambda a: a.astype(np.float64)
    )


@given(data=st.data(), n=dims, m=dims, p=dims, q=dims)
def test_action_numerically_with_numpy_kron(data, n, m, p, q):
    A = data.draw(int_matrix(n, m), label="A")
    W = data.draw(int_matrix(p, q), label="W")
    R = data.draw(int_matrix(m, q), label="R")
    np.testing.assert_array_equal(np.kron(A, W) @ R.reshape(-1), (A @ R @ W.T).reshape(-1))


@given(n=dims, m=dims, p=dims, q=dims, seed=st.integers(0, 2**32 - 1))
def test_action_numerically_on_gaussian_entries(n, m, p, q, seed):
    rng = np.random.default_rng(seed)
    A, W, R = rng.normal(size=(n, m)), rng.normal(size=(p, q)), rng.normal(size=(m, q))
    lhs = np.kron(A, W) @ R.reshape(-1)
    rhs = (A @ R @ W.T).reshape(-1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12 * (1 + np.abs(rhs).max()))


@given(n_ctx=dims, d_model=dims, seed=st.integers(0, 2**32 - 1))
def test_package_kron_acts_as_A_R_Wt(n_ctx, d_model, seed):
    # The package's dense value of A ⊗ W, applied to vec_row(R), is A R W^T.
    P, M = Space.of(POSITIONS), Space.of(MODEL)
    A, W = symbol("A", P, P), symbol("W", M, M)
    values = RandomValues({"n_ctx": n_ctx, "d_model": d_model}, seed=seed)
    R = np.random.default_rng(seed).normal(size=(n_ctx, d_model))
    applied = to_dense(kron(A, W), values) @ R.reshape(-1)
    expected = values[A] @ R @ values[W].T
    np.testing.assert_allclose(
        applied.reshape(n_ctx, d_model),
        expected,
        rtol=1e-12,
        atol=1e-12 * (1 + np.abs(expected).max()),
    )
