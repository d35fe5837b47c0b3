r"""An attention head is the Kronecker product A^h \otimes W_OV^h.

Theorem. Freeze the patterns A^h [n_ctx, n_ctx] of a layer's heads. The conventional computation
-- each head mixes its values, z^h = A^h R W_V^{hT} [n_ctx, d_head], the heads are concatenated,
Z = [z^1 ... z^H], and multiplied by W_O = [W_O^1 ... W_O^H] [d_model, H d_head] -- is

    Z W_O^T = \sum_h (A^h \otimes W_OV^h) R,    W_OV^h = W_O^h W_V^h.

Proof. Z W_O^T is a block product: W_O^T stacks the W_O^{hT}, so Z W_O^T = \sum_h z^h W_O^{hT}.
By the action (01_kronecker_action.py) z^h W_O^{hT} = (Id \otimes W_O^h)(A^h \otimes W_V^h) R, the
value step followed by the output step. The derivation continues from there with the
mixed-product rule and the definition of W_OV^h. The facts check the block product exactly with
SymPy and the whole statement against the torch model's layer (which concatenates and multiplies
by W_O) on random weights and tokens.
"""

import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import HeadSet, HeadVar, IndexedSum, Kron, Product
from tensoralgebra.proof import Equation, Theorem, main
from tensoralgebra.symbols import W_O, W_OV, W_V, A, Id_positions

h = HeadVar("h")
H0 = HeadSet((0,))
#: The definition of the OV circuit, for any head.
W_OV_DEFINITION = Equation("definition of W_OV", W_OV(h), Product((W_O(h), W_V(h))), "definition")
CONCATENATE_THEN_W_O = IndexedSum(
    h, H0, Product((Kron((Id_positions, W_O(h))), Kron((A(h), W_V(h)))))
)
HEADS = IndexedSum(h, H0, Kron((A(h), W_OV(h))))

THEOREM = Theorem(
    "An attention head is a Kronecker product",
    "With its pattern frozen, a layer's heads, concatenated and multiplied by W_O, add "
    "sum_h (A^h (x) W_OV^h) R to the residual stream R: each head is the Kronecker product of "
    "its pattern and its OV circuit.",
    r"Z W_O^T = \sum_{h \in H_1} (\mathrm{Id} \otimes W_O^h)(A^h \otimes W_V^h) R"
    r" = \sum_{h \in H_1} (A^h \otimes W_{OV}^h) R",
    equation=Equation("a head is a Kronecker product", CONCATENATE_THEN_W_O, HEADS),
)
THEOREM.prove(
    THEOREM.start(CONCATENATE_THEN_W_O, "From the block product to the Kronecker product")
    .then(IndexedSum(h, H0, Kron((A(h), Product((W_O(h), W_V(h)))))), "mixed_product")
    .then(HEADS, cites=W_OV_DEFINITION)
)


def symbolic_matrix(name: str, rows: int, cols: int) -> sympy.Matrix:
    """A [rows, cols] matrix whose entries are the independent symbols name_{i,j}."""
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}{j}"))


@THEOREM.fact("exact")
def block_product_exact():
    """[z^1 z^2 z^3] [W_O^1 W_O^2 W_O^3]^T = sum_h z^h W_O^hT on symbolic entries"""
    n, d_head, d_model, heads = 2, 2, 3, 3
    z = [symbolic_matrix(f"z{i}", n, d_head) for i in range(heads)]
    w = [symbolic_matrix(f"o{i}", d_model, d_head) for i in range(heads)]
    concatenated = sympy.Matrix.hstack(*z) * sympy.Matrix.hstack(*w).T
    blockwise = sum((zi * wi.T for zi, wi in zip(z, w)), sympy.zeros(n, d_model))
    assert (concatenated - blockwise).expand() == sympy.zeros(n, d_model)


@THEOREM.fact("model")
@given(
    n_heads=st.integers(1, 3),
    d_model=st.integers(1, 6),
    d_head=st.integers(1, 4),
    seq=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def torch_layer_is_a_sum_of_kronecker_products(n_heads, d_model, d_head, seq, seed):
    """The torch model's layer output equals sum_h A^h R W_OV^hT with its recorded patterns"""
    weights = ta.Weights.random(
        ta.Architecture(heads=(n_heads,)),
        d_model=d_model,
        d_head=d_head,
        d_vocab=7,
        n_ctx=seq,
        seed=seed,
    )
    tokens = np.random.default_rng(seed).integers(0, 7, size=(2, seq))
    trace = ta.AttentionOnlyTransformer(weights).run(tokens)
    R = trace.residual[0]
    expected = sum(
        trace.pattern(0, i) @ R @ (weights.W_O[0][i] @ weights.W_V[0][i]).T for i in range(n_heads)
    )
    np.testing.assert_allclose(trace.attention[0], expected, rtol=1e-12, atol=1e-12)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
