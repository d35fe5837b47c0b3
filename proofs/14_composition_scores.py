r"""The composition score is at most 1 and does not depend on the scale of either matrix.

Theorem. For M [d, d] and W [d, d] (M = W_QK^{h_2 T}, W_QK^{h_2} or W_OV^{h_2} for Q-, K- or
V-composition, W = W_OV^{h_1}), the score ||M W||_F / (||M||_F ||W||_F) lies in [0, 1], and is the
same for c M and d W whenever c, d != 0.

Proof. Write m_i for the rows of M and w_j for the columns of W. Then
||M||_F^2 ||W||_F^2 - ||M W||_F^2 = \sum_{i, j} (||m_i||^2 ||w_j||^2 - (m_i . w_j)^2)
= \sum_{i, j} \sum_{a < b} (m_{ia} w_{bj} - m_{ib} w_{aj})^2 >= 0 (Lagrange's identity, the
Cauchy-Schwarz inequality with its remainder). Scaling multiplies numerator and denominator by
|c d|. The facts check Lagrange's identity and the scale invariance exactly with SymPy, and the
package's composition score numerically.
"""

import itertools

import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st

from tensoralgebra.graph.annotate import composition_score
from tensoralgebra.proof import Theorem, main

THEOREM = Theorem(
    "The composition-score bound",
    "A composition score is a cosine-like ratio: at most 1 (Cauchy-Schwarz, with Lagrange's "
    "identity as the remainder) and unchanged when either matrix is scaled.",
    r"0 \le \frac{\|M W\|_F}{\|M\|_F \|W\|_F} \le 1, \qquad "
    r"\frac{\|c M\, d W\|_F}{\|c M\|_F \|d W\|_F} = \frac{\|M W\|_F}{\|M\|_F \|W\|_F}",
)


def symbolic_matrix(name: str, rows: int, cols: int) -> sympy.Matrix:
    """A [rows, cols] matrix whose entries are the independent symbols name_{i,j}."""
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}{j}"))


def frobenius2(matrix: sympy.Matrix):
    return sum(e**2 for e in matrix)


@THEOREM.fact("exact")
def lagrange_identity():
    """||M||^2 ||W||^2 - ||MW||^2 is the sum of squares of Lagrange's identity, three sizes"""
    for n, d, k in [(2, 2, 2), (2, 3, 2), (3, 2, 1)]:
        M, W = symbolic_matrix("m", n, d), symbolic_matrix("w", d, k)
        gap = frobenius2(M) * frobenius2(W) - frobenius2(M * W)
        squares = sum(
            (M[i, a] * W[b, j] - M[i, b] * W[a, j]) ** 2
            for i in range(n)
            for j in range(k)
            for a, b in itertools.combinations(range(d), 2)
        )
        assert sympy.expand(gap - squares) == 0, (n, d, k)


@THEOREM.fact("exact")
def scale_invariance():
    """The squared score of (c M, d W) equals that of (M, W) as a rational function"""
    c, d = sympy.symbols("c d", nonzero=True)
    M, W = symbolic_matrix("m", 2, 2), symbolic_matrix("w", 2, 2)

    def squared(M_, W_):
        return frobenius2(M_ * W_) / (frobenius2(M_) * frobenius2(W_))

    assert sympy.cancel(squared(c * M, d * W) - squared(M, W)) == 0


@THEOREM.fact("numeric")
@given(
    d=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    c=st.floats(0.01, 100),
    s=st.floats(0.01, 100),
)
def package_score_bounded_and_scale_free(d, seed, c, s):
    """The package's composition_score is in [0, 1] and unchanged by scaling, on random matrices"""
    rng = np.random.default_rng(seed)
    M, W = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    score = composition_score(M, W)
    assert 0.0 <= score <= 1.0 + 1e-12
    assert abs(composition_score(c * M, -s * W) - score) <= 1e-12


@THEOREM.fact("numeric")
@given(d=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def bound_is_attained(d, seed):
    """The bound is attained: M = u v^T and W = v w^T give score 1"""
    rng = np.random.default_rng(seed)
    u, v, w = rng.normal(size=(3, d))
    assert abs(composition_score(np.outer(u, v), np.outer(v, w)) - 1.0) <= 1e-12


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
