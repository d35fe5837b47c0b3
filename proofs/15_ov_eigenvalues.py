r"""The cyclic trick: the OV circuit's eigenvalues from a d_head x d_head matrix.

Theorem. The non-zero eigenvalues of the full OV circuit W_U W_OV^h W_E [d_vocab, d_vocab], with
multiplicity, are those of W_V^h W_E W_U W_O^h [d_head, d_head]; so is the copying statistic
\sum \lambda_i / \sum |\lambda_i|.

Proof. The derivation writes W_U W_OV^h W_E = X Y with X = W_U W_O^h [d_vocab, d_head] and
Y = W_V^h W_E [d_head, d_vocab] (definition of W_OV, 04_attention_head.py, then associativity).
For any X [n, k] and Y [k, n], \lambda^k det(\lambda I_n - X Y) = \lambda^n det(\lambda I_k - Y X)
(Sylvester's determinant identity), so X Y and Y X have the same non-zero eigenvalues. The facts
check Sylvester's identity exactly with SymPy on symbolic entries and the eigenvalues numerically.
"""

from pathlib import Path

import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st

from tensoralgebra.expr import HeadVar, Product
from tensoralgebra.proof import Theorem, load_proof, main
from tensoralgebra.symbols import W_E, W_O, W_OV, W_U, W_V

W_OV_DEFINITION = (
    load_proof(Path(__file__).with_name("04_attention_head.py")).derivations[0].steps[-1].cites[0]
)
h = HeadVar("h")

THEOREM = Theorem(
    "The cyclic trick for OV eigenvalues",
    "The full OV circuit W_U W_OV W_E and the small matrix W_V W_E W_U W_O have the same non-zero "
    "eigenvalues: compute copying scores on d_head x d_head matrices.",
    r"\lambda^{d_{head}} \det(\lambda I - W_U W_{OV}^h W_E) = \lambda^{d_{vocab}} "
    r"\det(\lambda I - W_V^h W_E W_U W_O^h)",
)
THEOREM.prove(
    THEOREM.start(Product((W_U, W_OV(h), W_E)), "The full OV circuit as X Y")
    .then(Product((W_U, W_O(h), W_V(h), W_E)), cites=W_OV_DEFINITION)
    .then(Product((Product((W_U, W_O(h))), Product((W_V(h), W_E)))), "flatten_product")
)


def symbolic_matrix(name: str, rows: int, cols: int) -> sympy.Matrix:
    """A [rows, cols] matrix whose entries are the independent symbols name_{i,j}."""
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}{j}"))


@THEOREM.fact("exact")
def sylvester_determinant_identity():
    """lambda^k charpoly(XY) = lambda^n charpoly(YX) for X [n, k], Y [k, n], symbolic entries"""
    lam = sympy.Symbol("lambda")
    for n, k in [(2, 1), (3, 1), (3, 2)]:
        X, Y = symbolic_matrix("x", n, k), symbolic_matrix("y", k, n)
        big = (X * Y).charpoly(lam).as_expr()
        small = (Y * X).charpoly(lam).as_expr()
        assert sympy.expand(lam**k * big - lam**n * small) == 0, (n, k)


@THEOREM.fact("numeric")
@given(
    d_vocab=st.integers(2, 8),
    d_model=st.integers(2, 6),
    d_head=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def eigenvalues_agree(d_vocab, d_model, d_head, seed):
    """Both matrices have the same non-zero eigenvalues, the rest zeros; copying scores agree"""
    rng = np.random.default_rng(seed)
    W_U_ = rng.normal(size=(d_vocab, d_model))
    W_E_ = rng.normal(size=(d_model, d_vocab))
    W_O_, W_V_ = rng.normal(size=(d_model, d_head)), rng.normal(size=(d_head, d_model))
    big = np.linalg.eigvals(W_U_ @ W_O_ @ W_V_ @ W_E_)
    small = np.linalg.eigvals(W_V_ @ W_E_ @ W_U_ @ W_O_)
    scale = 1 + np.abs(big).max()
    # Both have rank <= min(d_vocab, d_head): pair the largest eigenvalues, the rest are zeros.
    rank = min(d_vocab, d_head)
    big, small = (ev[np.argsort(-np.abs(ev))] for ev in (big, small))
    for value in small[:rank]:
        assert np.abs(big[:rank] - value).min() <= 1e-6 * scale, (big, small)
    assert np.all(np.abs(big[rank:]) <= 1e-6 * scale) and np.all(
        np.abs(small[rank:]) <= 1e-6 * scale
    )
    copying = lambda ev: ev.sum().real / np.abs(ev).sum()  # noqa: E731
    assert abs(copying(big[:rank]) - copying(small[:rank])) <= 1e-6


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
