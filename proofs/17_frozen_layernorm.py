r"""The one-layer logits with a frozen LayerNorm and biases (docs/conventions.md §7).

Theorem. Freeze a LayerNorm's scale, the diagonal N = diag(1/\sigma_i) [n_ctx, n_ctx] recorded
from the forward pass like a pattern: LN(R) = (N \otimes \tilde W) R + \mathbf{1} \otimes b, with
\tilde W = diag(w) C [d_model, d_model] the centring followed by the weight. A one-layer model
with LayerNorm before its layer and before the unembedding, and every bias, has

    T = N^f \otimes W_U \tilde W^f W_E
        + \sum_{h \in H_1} N^f A^h N^1 \otimes W_U \tilde W^f W_OV^h \tilde W^1 W_E
        + N^f \mathbf{1} \otimes W_U \tilde W^f c^1 + \mathbf{1} \otimes c_U,

c^1 = b_O + \sum_h W_O^h (W_V^h b^1 + b_V^h) the layer's constant source and
c_U = W_U b^f + b_U the logits' constant. The skip connection bypasses the layer's LayerNorm, so
the direct path carries only the final one.

Proof. In the factored form each head reads A^h N^1 \otimes W_OV^h \tilde W^1, the layer's biases
join as 1 \otimes c^1 (a pattern's rows sum to 1, so a head passes a constant on unchanged: see
16_folding_biases.py), and the final LayerNorm and the unembedding close it. The derivation is
the package's (``ta.derive_logits``), each step checked by its rules; the facts compare its
result with the sum written out by hand, and the terms of the expansion, evaluated with a random
model's recorded scales and patterns, with the model's forward pass (TransformerLens's LayerNorm:
eps, centring, scale).
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import HeadSet, HeadVar, IndexedSum, Kron, MatrixSymbol, Product, Sum
from tensoralgebra.expr.dense import to_dense
from tensoralgebra.proof import Equation, Theorem, main, same
from tensoralgebra.symbols import W_E, W_OV, W_U, A, N, W_ln, c, c_U, ones

ARCH = ta.Architecture.schematic(n_layers=1, normalization="LN", biases=True)
DERIVATION = ta.derive_logits(ARCH)
h = HeadVar("h")
BY_HAND = Sum(
    (
        Kron((N(None), Product((W_U, W_ln(None), W_E)))),
        IndexedSum(
            h,
            HeadSet((0,)),
            Kron(
                (
                    Product((N(None), A(h), N(0))),
                    Product((W_U, W_ln(None), W_OV(h), W_ln(0), W_E)),
                )
            ),
        ),
        Kron((Product((N(None), ones)), Product((W_U, W_ln(None), c(0))))),
        Kron((ones, c_U)),
    )
)

THEOREM = Theorem(
    "The one-layer logits with a frozen LayerNorm",
    "With each LayerNorm's scale frozen, a one-layer model with LayerNorm and biases has the "
    "direct path and one term per head, each read through the LayerNorms on its path, and two "
    "constant terms: the layer's biases and the logits' own.",
    r"T = N^{f} \otimes W_U \tilde W^{f} W_E + \sum_{h \in H_1} N^{f} A^h N^{1} \otimes "
    r"W_U \tilde W^{f} W_{OV}^h \tilde W^{1} W_E + N^{f} \mathbf{1} \otimes W_U \tilde W^{f} c^{1}"
    r" + \mathbf{1} \otimes c_U",
    equation=Equation("frozen-LayerNorm logits", ta.logits(ARCH), BY_HAND),
)
THEOREM.prove(DERIVATION)


@THEOREM.fact("package")
def derivation_ends_with_the_sum_by_hand():
    """The derivation's last line is the sum written out by hand, its constants grouped apart"""
    assert same(DERIVATION.result, BY_HAND), DERIVATION.result
    labels = [g.label for g in DERIVATION.steps[-1].groups]
    assert labels == ["direct path", "individual heads", "constant sources"], labels


def centring(d: int) -> np.ndarray:
    """C = Id - 1 1^T / d [d, d]."""
    return np.eye(d) - np.full((d, d), 1.0 / d)


def symbol_values(weights: ta.Weights, trace) -> dict[MatrixSymbol, np.ndarray]:
    """Each symbol of the expansion's terms as the model and its forward pass give it."""
    d_model, seq = weights.d_model, trace.seq
    C = centring(d_model)
    ln_b, b_V = weights.ln_b[0], weights.b_V[0]
    constant = weights.b_O[0] + sum(
        W_O @ (W_V @ ln_b + b) for W_O, W_V, b in zip(weights.W_O[0], weights.W_V[0], b_V)
    )
    values = {
        W_E: weights.W_E,
        W_U: weights.W_U,
        N(None): np.diag(1 / trace.ln_final_scale[0]),
        N(0): np.diag(1 / trace.ln_scale[0][0]),
        W_ln(None): np.diag(weights.ln_final_w) @ C,
        W_ln(0): np.diag(weights.ln_w[0]) @ C,
        ones: np.ones((seq, 1)),
        c(0): constant[:, None],
        c_U: (weights.W_U @ weights.ln_final_b + weights.b_U)[:, None],
    }
    for i in range(weights.W_O[0].shape[0]):
        values[A((0, i))] = trace.patterns[0][0, i]
        values[W_OV((0, i))] = weights.W_O[0][i] @ weights.W_V[0][i]
    return values


def term_value(term: Kron, values, sizes, tokens: np.ndarray) -> np.ndarray:
    """A term P \\otimes M on the one-hot tokens X [seq, d_vocab]: P X M^T, or P M^T for a
    constant (P [seq, 1], M [d_vocab, 1])."""
    positions, model = (to_dense(f, values, sizes=sizes) for f in term.args)
    if model.shape[1] == 1:  # the model factor maps from the constant's one dimension
        return positions @ model.T
    one_hot = np.eye(sizes["d_vocab"])[tokens]
    return positions @ one_hot @ model.T


@THEOREM.fact("model")
@settings(max_examples=20, deadline=None)
@given(
    n_heads=st.integers(0, 3),
    d_model=st.integers(2, 6),
    seq=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def terms_sum_to_the_forward_pass(n_heads, d_model, seq, seed):
    """The expansion's terms, with the recorded scales and patterns, sum to the model's logits"""
    arch = ta.Architecture((n_heads,), normalization="LN", biases=True)
    weights = ta.Weights.random(arch, d_model=d_model, d_head=2, d_vocab=5, n_ctx=5, seed=seed)
    tokens = np.random.default_rng(seed).integers(0, 5, size=seq)
    trace = ta.AttentionOnlyTransformer(weights).run(tokens[None])
    values = symbol_values(weights, trace)
    sizes = {"n_ctx": seq, "d_model": d_model, "d_vocab": 5, "d_head": 2}
    terms = ta.terms(ta.expand(ta.logits(arch)))
    assert len(terms) == n_heads + 3
    total = sum(term_value(t, values, sizes, tokens) for t in terms)
    np.testing.assert_allclose(total, trace.logits[0], rtol=1e-10, atol=1e-10)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
