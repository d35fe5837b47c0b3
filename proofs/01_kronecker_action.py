r"""The action of a Kronecker product on a residual stream.

Theorem. Let A be [n, m], W be [p, q] and R be [m, q]. Write vec_row(R) for the row-major
vectorisation of R, vec_row(R)[i q + j] = R[i, j] (what ``R.reshape(-1)`` does in numpy). Then

    vec_row(A R W^T) = kron(A, W) vec_row(R),

so ``(A \otimes W) R = A R W^T`` is the same operator whether a residual stream is read as a
matrix [n_ctx, d_model] or as a vector of length n_ctx d_model: A mixes positions (rows of R),
W mixes the model space (columns of R). In particular the two mixings commute:
``(A \otimes Id)(Id \otimes W) = A \otimes W = (Id \otimes W)(A \otimes Id)``.

Proof (index level). For 0 <= a < p and 0 <= b < q, kron(A, W)[i p + a, k q + b] = A[i, k] W[a, b]
(row block i, column block k), so

    (kron(A, W) vec_row(R))[i p + a] = \sum_{k, b} A[i, k] W[a, b] R[k, b]
                                     = \sum_k A[i, k] (R W^T)[k, a] = (A R W^T)[i, a]
                                     = vec_row(A R W^T)[i p + a].

The derivation below factors ``A \otimes W`` into its two mixings with the package's rules; the
facts confirm the action exactly with SymPy on matrices of symbolic entries (for each size tried,
a polynomial identity in those entries), numerically with numpy on sizes and entries drawn by
Hypothesis, and through the package's dense semantics (``to_dense``), which lays out
``positions ⊗ model`` row-major.
"""

import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sympy.matrices.expressions.kronecker import kronecker_product

from tensoralgebra.expr import MODEL, POSITIONS, Identity, Kron, Product, Space, kron, symbol
from tensoralgebra.expr.dense import RandomValues, to_dense
from tensoralgebra.proof import Equation, Theorem, main

P, M = Space.of(POSITIONS), Space.of(MODEL)
A, W = symbol("A", P, P), symbol("W", M, M)
Id_P, Id_M = Identity(P), Identity(M)
POSITIONS_THEN_MODEL = Product((Kron((A, Id_M)), Kron((Id_P, W))))
MODEL_THEN_POSITIONS = Product((Kron((Id_P, W)), Kron((A, Id_M))))

THEOREM = Theorem(
    "The action of a Kronecker product",
    "A Kronecker product acts on a residual stream R by mixing its positions with A and its "
    "model space with W; numpy.kron is its matrix on the row-major vectorisation of R, and the "
    "two mixings commute.",
    r"(A \otimes W) R = A R W^T, \quad \mathrm{vec}(A R W^T) = \mathrm{kron}(A, W)\,"
    r"\mathrm{vec}(R), \quad (A \otimes \mathrm{Id})(\mathrm{Id} \otimes W) = "
    r"(\mathrm{Id} \otimes W)(A \otimes \mathrm{Id})",
    equation=Equation("mixings commute", POSITIONS_THEN_MODEL, MODEL_THEN_POSITIONS),
)

THEOREM.prove(
    THEOREM.start(POSITIONS_THEN_MODEL, "Mixing positions, then the model space")
    .then(Kron((A, W)), "mixed_product")
    .then(MODEL_THEN_POSITIONS, "mixed_product")
)


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


@THEOREM.fact("exact")
def kron_agrees_with_its_index_formula():
    """SymPy's Kronecker product has entries A[i, k] W[a, b] at (i p + a, k q + b)"""
    for n, m, p, q in SIZES:
        A_, W_ = symbolic_matrix("a", n, m), symbolic_matrix("w", p, q)
        assert kronecker_product(A_, W_) == kron_by_index(A_, W_), (n, m, p, q)


@THEOREM.fact("exact")
def action_exact_with_symbolic_entries():
    """vec(A R W^T) = kron(A, W) vec(R) on matrices of symbolic entries, five sizes"""
    for n, m, p, q in SIZES:
        A_, W_, R_ = (
            symbolic_matrix("a", n, m),
            symbolic_matrix("w", p, q),
            symbolic_matrix("r", m, q),
        )
        lhs = vec_row_sympy(A_ * R_ * W_.T)
        rhs = kronecker_product(A_, W_) * vec_row_sympy(R_)
        assert (lhs - rhs).expand() == sympy.zeros(n * p, 1), (n, m, p, q)


dims = st.integers(min_value=1, max_value=6)


def int_matrix(rows: int, cols: int):
    # Small integers: float64 arithmetic on them is exact, so equality is exact too.
    return arrays(np.int64, (rows, cols), elements=st.integers(-50, 50)).map(
        lambda a: a.astype(np.float64)
    )


@THEOREM.fact("numeric")
@given(data=st.data(), n=dims, m=dims, p=dims, q=dims)
def action_numerically_with_numpy_kron(data, n, m, p, q):
    """numpy.kron(A, W) @ R.reshape(-1) equals (A @ R @ W.T).reshape(-1) on integer matrices"""
    A_ = data.draw(int_matrix(n, m), label="A")
    W_ = data.draw(int_matrix(p, q), label="W")
    R_ = data.draw(int_matrix(m, q), label="R")
    np.testing.assert_array_equal(np.kron(A_, W_) @ R_.reshape(-1), (A_ @ R_ @ W_.T).reshape(-1))


@THEOREM.fact("numeric")
@given(n=dims, m=dims, p=dims, q=dims, seed=st.integers(0, 2**32 - 1))
def action_numerically_on_gaussian_entries(n, m, p, q, seed):
    """The same on Gaussian matrices, to float64 accuracy"""
    rng = np.random.default_rng(seed)
    A_, W_, R_ = rng.normal(size=(n, m)), rng.normal(size=(p, q)), rng.normal(size=(m, q))
    lhs = np.kron(A_, W_) @ R_.reshape(-1)
    rhs = (A_ @ R_ @ W_.T).reshape(-1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12 * (1 + np.abs(rhs).max()))


@THEOREM.fact("package")
@given(n_ctx=dims, d_model=dims, seed=st.integers(0, 2**32 - 1))
def package_kron_acts_as_A_R_Wt(n_ctx, d_model, seed):
    """The package's dense value of A (x) W applied to vec(R) is A R W^T"""
    values = RandomValues({"n_ctx": n_ctx, "d_model": d_model}, seed=seed)
    R_ = np.random.default_rng(seed).normal(size=(n_ctx, d_model))
    applied = to_dense(kron(A, W), values) @ R_.reshape(-1)
    expected = values[A] @ R_ @ values[W].T
    np.testing.assert_allclose(
        applied.reshape(n_ctx, d_model),
        expected,
        rtol=1e-12,
        atol=1e-12 * (1 + np.abs(expected).max()),
    )


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
