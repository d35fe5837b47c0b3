r"""Once the patterns are frozen, the logits are linear in the tokens.

Theorem. With every pattern A^h held fixed, the logits are T X for the operator
T = \sum_p A_p \otimes W_U W_p W_E, so T (X + Y) = T X + T Y for any inputs X, Y (one-hot rows or
not). For token sequences: if the one-hot inputs satisfy X_a + X_b = X_c + X_d (c and d swap
tokens of a and b at some positions), the frozen logits satisfy f(a) + f(b) = f(c) + f(d).

Proof. The derivation distributes T over X + Y and regroups (the product is linear in each
factor). The fact runs the torch model with patterns frozen from one sequence on four sequences
related by swaps; without frozen patterns the identity fails, since the patterns depend on the
tokens.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import POSITIONS, VOCAB, Product, Space, Sum, symbol
from tensoralgebra.proof import Equation, Theorem, main

SCALAR = Space.of()
X, Y = (symbol(n, Space.of(POSITIONS, VOCAB), SCALAR) for n in "XY")
LOGITS = ta.expand(ta.logits(ta.Architecture.schematic(n_layers=1)))
SPLIT = Sum((Product((LOGITS, X)), Product((LOGITS, Y))))

THEOREM = Theorem(
    "Linearity in the tokens",
    "With the patterns frozen, the logits are a linear function of the one-hot token inputs.",
    r"T (X + Y) = T X + T Y, \qquad T = \sum_p A_p \otimes W_U W_p W_E",
    equation=Equation("linearity in the tokens", Product((LOGITS, Sum((X, Y)))), SPLIT),
)
THEOREM.prove(
    THEOREM.start(Product((LOGITS, Sum((X, Y)))), "One layer, patterns frozen")
    .then(
        ta.expand(Product((LOGITS, Sum((X, Y))))),
        "distribute_product",
        "pull_sum_out_of_product",
        "flatten_sum",
    )
    .then(SPLIT, "distribute_product", "pull_sum_out_of_product", "flatten_sum")
)


@THEOREM.fact("model")
@settings(max_examples=20)
@given(seed=st.integers(0, 2**32 - 1), heads=st.tuples(st.integers(1, 2), st.integers(0, 2)))
def frozen_model_is_additive(seed, heads):
    """Torch model, frozen patterns: f(a) + f(b) = f(c) + f(d) when c, d swap tokens of a, b"""
    rng = np.random.default_rng(seed)
    arch = ta.Architecture(heads=heads)
    weights = ta.Weights.random(arch, d_model=6, d_head=3, d_vocab=7, n_ctx=5, seed=seed)
    model = ta.AttentionOnlyTransformer(weights)
    a, b = rng.integers(0, 7, size=(2, 1, 5))
    swap = rng.random(5) < 0.5
    c, d = np.where(swap, b, a), np.where(swap, a, b)
    frozen = model.run(a)
    f = {name: model.run(t, frozen=frozen).logits for name, t in zip("abcd", (a, b, c, d))}
    np.testing.assert_allclose(f["a"] + f["b"], f["c"] + f["d"], rtol=1e-10, atol=1e-10)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
