r"""The transpose of a Kronecker product.

Theorem. For A [n, m] and W [p, q], (A \otimes W)^T = A^T \otimes W^T; and so, with the
mixed-product rule (02_mixed_product.py), ((A \otimes W)(B \otimes V))^T = (AB)^T \otimes (WV)^T.

Proof (index level). kron(A, W)[i p + a, k q + b] = A[i, k] W[a, b] (01_kronecker_action.py), so
kron(A, W)^T[k q + b, i p + a] = A[i, k] W[a, b] = A^T[k, i] W^T[b, a]
= kron(A^T, W^T)[k q + b, i p + a].

Without indices: with <S, R> = tr(S^T R), <S, (A \otimes W) R> = tr(S^T A R W^T)
= tr((A^T S W)^T R) = <(A^T \otimes W^T) S, R>.

The first derivation is the package's rule ``transpose_kron``; the second transposes a product of
two Kronecker products, citing the mixed-product rule proved in 02_mixed_product.py.
"""

from pathlib import Path

import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st
from sympy.matrices.expressions.kronecker import kronecker_product

from tensoralgebra.expr import MODEL, POSITIONS, Kron, Product, Space, Transpose, symbol
from tensoralgebra.proof import Equation, Theorem, load_proof, main

MIXED = load_proof(Path(__file__).with_name("02_mixed_product.py")).equation

P, M = Space.of(POSITIONS), Space.of(MODEL)
A, B = (symbol(n, P, P) for n in "AB")
W, V = (symbol(n, M, M) for n in "WV")
A_T, B_T, W_T, V_T = map(Transpose, (A, B, W, V))

THEOREM = Theorem(
    "The transpose of a Kronecker product",
    "Transposing a Kronecker product transposes each factor in place; the transpose of a product "
    "of Kronecker products reverses the product in each factor.",
    r"(A \otimes W)^T = A^T \otimes W^T",
    equation=Equation(
        "transpose of a Kronecker product", Transpose(Kron((A, W))), Kron((A_T, W_T))
    ),
)
THEOREM.prove(
    THEOREM.start(Transpose(Kron((A, W))), "One Kronecker product").then(
        Kron((A_T, W_T)), "transpose_kron"
    )
)
THEOREM.prove(
    THEOREM.start(Transpose(Product((Kron((A, W)), Kron((B, V))))), "A product of two")
    .then(Product((Transpose(Kron((B, V))), Transpose(Kron((A, W))))), "transpose_product")
    .then(Product((Kron((B_T, V_T)), Kron((A_T, W_T)))), "transpose_kron")
    .then(
        Kron((Product((B_T, A_T)), Product((V_T, W_T)))),
        cites=MIXED.at(A=B_T, W=V_T, B=A_T, V=W_T),
    )
    .then(Kron((Transpose(A @ B), Transpose(W @ V))), "transpose_product")
)


def symbolic_matrix(name: str, rows: int, cols: int) -> sympy.Matrix:
    """A [rows, cols] matrix whose entries are the independent symbols name_{i,j}."""
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}{j}"))


@THEOREM.fact("exact")
def transpose_exact_with_symbolic_entries():
    """kron(A, W)^T = kron(A^T, W^T) on matrices of symbolic entries, four sizes"""
    for n, m, p, q in [(1, 2, 2, 1), (2, 3, 3, 2), (2, 2, 2, 2), (3, 1, 2, 3)]:
        A_, W_ = symbolic_matrix("a", n, m), symbolic_matrix("w", p, q)
        assert kronecker_product(A_.T, W_.T) == kronecker_product(A_, W_).T, (n, m, p, q)


dims = st.integers(1, 5)


@THEOREM.fact("numeric")
@given(n=dims, m=dims, p=dims, q=dims, seed=st.integers(0, 2**32 - 1))
def transpose_numerically(n, m, p, q, seed):
    """numpy.kron(A, W).T equals numpy.kron(A.T, W.T) on Gaussian matrices"""
    rng = np.random.default_rng(seed)
    A_, W_ = rng.normal(size=(n, m)), rng.normal(size=(p, q))
    np.testing.assert_array_equal(np.kron(A_, W_).T, np.kron(A_.T, W_.T))


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
