r"""The mixed-product rule.

Theorem. Let A be [n, m], B be [m, k], W be [p, q] and V be [q, r]. Then

    (A \otimes W)(B \otimes V) = (A B) \otimes (W V),

and more generally, for Kronecker products whose factors fit one to one,

    (a_1 \otimes ... \otimes a_f)(b_1 \otimes ... \otimes b_f)
        = (a_1 b_1) \otimes ... \otimes (a_f b_f).

Proof (index level). Entry (i p + a, s q + b) of A \otimes W is A[i, s] W[a, b], and entry
(s q + b, j r + c) of B \otimes V is B[s, j] V[b, c] (see 01_kronecker_action.py), so

    [(A \otimes W)(B \otimes V)][i p + a, j r + c]
        = \sum_{s, b} A[i, s] W[a, b] B[s, j] V[b, c]
        = (\sum_s A[i, s] B[s, j]) (\sum_b W[a, b] V[b, c])
        = (A B)[i, j] (W V)[a, c] = [(A B) \otimes (W V)][i p + a, j r + c].

Proof (by the action). On a residual stream R [k, r]:
(A \otimes W)((B \otimes V) R) = A (B R V^T) W^T = (A B) R (W V)^T = ((A B) \otimes (W V)) R.

The derivations apply the package's rule ``mixed_product`` (to two and to three Kronecker
products in a row, and to three-factor Kronecker products); the facts confirm the identity exactly
with sympy on matrices of symbolic entries, numerically with numpy on sizes and entries drawn by
Hypothesis, and through the package: the rule turns a product of Kronecker expressions into one
Kronecker expression of the same dense value, and leaves factors that do not fit alone.
"""

import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sympy.matrices.expressions.kronecker import kronecker_product

from tensoralgebra.expr import HEAD, MODEL, POSITIONS, VOCAB, Kron, Product, Space, symbol
from tensoralgebra.expr.dense import RandomValues, to_dense
from tensoralgebra.expr.rules import mixed_product
from tensoralgebra.proof import Equation, Theorem, main

P, M = Space.of(POSITIONS), Space.of(MODEL)
A, B, C = (symbol(n, P, P) for n in "ABC")
W, V, U = (symbol(n, M, M) for n in "WVU")
TWO = Product((Kron((A, W)), Kron((B, V))))

THEOREM = Theorem(
    "The mixed-product rule",
    "A product of Kronecker products whose factors fit one to one is the Kronecker product of "
    "the factors' products, for any number of Kronecker products in a row and any number of "
    "factors.",
    r"(A \otimes W)(B \otimes V) = (A B) \otimes (W V)",
    equation=Equation("mixed-product rule", TWO, Kron((Product((A, B)), Product((W, V))))),
)
THEOREM.prove(
    THEOREM.start(TWO, "Two Kronecker products").then(Kron((A @ B, W @ V)), "mixed_product")
)
THEOREM.prove(
    THEOREM.start(Product((Kron((A, W)), Kron((B, V)), Kron((C, U)))), "Three in a row").then(
        Kron((Product((A, B, C)), Product((W, V, U)))), "mixed_product"
    )
)
THEOREM.prove(
    THEOREM.start(Product((Kron((A, B, W)), Kron((C, A, V)))), "Three factors each").then(
        Kron((A @ C, B @ A, W @ V)), "mixed_product"
    )
)


def symbolic_matrix(name: str, rows: int, cols: int) -> sympy.Matrix:
    """A [rows, cols] matrix whose entries are the independent symbols name_{i,j}."""
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}{j}"))


# (n, m, k, p, q, r): A [n, m], B [m, k], W [p, q], V [q, r].
SIZES = [(1, 1, 1, 1, 1, 1), (2, 2, 2, 2, 2, 2), (2, 3, 1, 1, 2, 3), (3, 1, 2, 2, 3, 1)]


@THEOREM.fact("exact")
def mixed_product_exact_with_symbolic_entries():
    """(A (x) W)(B (x) V) = (AB) (x) (WV) on matrices of symbolic entries, four sizes"""
    for n, m, k, p, q, r in SIZES:
        A_, B_ = symbolic_matrix("a", n, m), symbolic_matrix("b", m, k)
        W_, V_ = symbolic_matrix("w", p, q), symbolic_matrix("v", q, r)
        lhs = kronecker_product(A_, W_) * kronecker_product(B_, V_)
        rhs = kronecker_product(A_ * B_, W_ * V_)
        assert (lhs - rhs).expand() == sympy.zeros(n * p, k * r), (n, m, k, p, q, r)


dims = st.integers(min_value=1, max_value=5)


def int_matrix(rows: int, cols: int):
    # Small integers: float64 arithmetic on them is exact, so equality is exact too.
    return arrays(np.int64, (rows, cols), elements=st.integers(-20, 20)).map(
        lambda a: a.astype(np.float64)
    )


@THEOREM.fact("numeric")
@given(data=st.data(), n=dims, m=dims, k=dims, p=dims, q=dims, r=dims)
def mixed_product_numerically(data, n, m, k, p, q, r):
    """The same with numpy.kron on integer matrices of sizes drawn by Hypothesis"""
    A_, B_ = data.draw(int_matrix(n, m), label="A"), data.draw(int_matrix(m, k), label="B")
    W_, V_ = data.draw(int_matrix(p, q), label="W"), data.draw(int_matrix(q, r), label="V")
    np.testing.assert_array_equal(np.kron(A_, W_) @ np.kron(B_, V_), np.kron(A_ @ B_, W_ @ V_))


# --- through the package -------------------------------------------------------------------------

BASES = (POSITIONS, MODEL, VOCAB, HEAD)
SIZE_NAMES = ("n_ctx", "d_model", "d_vocab", "d_head")


@st.composite
def kron_runs(draw):
    """A product of 2 or 3 Kronecker expressions of 2 or 3 factors each, all fitting.

    Factor j of the i-th Kronecker expression maps space chain[j][i + 1] to chain[j][i], so
    adjacent factors in the same slot always compose.
    """
    n_krons = draw(st.integers(2, 3), label="Kronecker expressions in the product")
    n_factors = draw(st.integers(2, 3), label="factors per Kronecker expression")
    chains = [
        draw(st.lists(st.sampled_from(BASES), min_size=n_krons + 1, max_size=n_krons + 1))
        for _ in range(n_factors)
    ]
    krons = [
        Kron(
            symbol(f"M{i}{j}", Space.of(chains[j][i]), Space.of(chains[j][i + 1]))
            for j in range(n_factors)
        )
        for i in range(n_krons)
    ]
    return Product(krons)


sizes = st.fixed_dictionaries({name: st.integers(1, 3) for name in SIZE_NAMES})


@THEOREM.fact("package")
@given(expr=kron_runs(), sizes=sizes, seed=st.integers(0, 2**32 - 1))
def package_rule_preserves_the_dense_value(expr, sizes, seed):
    """The rule turns random runs of Kronecker products into one, of the same dense value"""
    rewritten = mixed_product(expr)
    assert type(rewritten) is Kron  # the whole run became one Kronecker expression
    assert len(rewritten.args) == len(expr.args[0].args)
    assert rewritten.shape == expr.shape
    values = RandomValues(sizes, seed=seed)
    before, after = to_dense(expr, values), to_dense(rewritten, values)
    np.testing.assert_allclose(after, before, rtol=1e-10, atol=1e-10 * (1 + np.abs(before).max()))


@THEOREM.fact("package")
def package_rule_on_the_paper_factors():
    """(Id (x) W_U)(A^h (x) W_OV^h) = A^h (x) W_U W_OV^h, with the same dense value"""
    # (Id ⊗ W_U)(A ⊗ W_OV) = (Id A) ⊗ (W_U W_OV) = A ⊗ W_U W_OV: the step that turns a head
    # into a logit term (the rule drops the identity from the factorwise product).
    from tensoralgebra.symbols import W_OV, W_U, Id_positions
    from tensoralgebra.symbols import A as PATTERN

    expr = Product((Kron((Id_positions, W_U)), Kron((PATTERN((0, 0)), W_OV((0, 0))))))
    rewritten = mixed_product(expr)
    assert str(rewritten) == "A^{L0H0} ⊗ W_U W_OV^{L0H0}"
    values = RandomValues({"n_ctx": 3, "d_model": 4, "d_vocab": 5}, seed=1)
    np.testing.assert_allclose(to_dense(rewritten, values), to_dense(expr, values), rtol=1e-12)


@THEOREM.fact("package")
def package_rule_does_not_apply_to_unfitting_factors():
    """The rule leaves a typed product alone when its Kronecker factors do not fit"""
    # A well-typed product whose Kronecker factors do not fit one to one: A [positions × positions]
    # cannot be followed by B [positions⊗model × positions]. The rule must leave it alone.
    P, M, U = Space.of(POSITIONS), Space.of(MODEL), Space.of(VOCAB)
    left = Kron((symbol("A", P, P), symbol("W", M, M @ U)))
    right = Kron((symbol("B", P @ M, P), symbol("V", U, U)))
    expr = Product((left, right))  # both sides are positions⊗model⊗vocab: the product is typed
    assert mixed_product(expr) is None


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
