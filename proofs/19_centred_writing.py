r"""Centring what writes to the residual stream changes nothing after a LayerNorm
(``ta.center_writing_weights``).

Theorem. Let C = Id - \mathbf{1}\mathbf{1}^T / d [d_model, d_model] be the centring. It is a
projection, C C = C, and a LayerNorm reads only the centred stream: its scale
\sigma(x) = sqrt(|C x|^2 / d + eps) and its output diag(w) C x / \sigma + b depend on C x alone.
So replacing every writing weight W (W_E, W_pos, each W_O^h, b_O) by C W turns the stream R into
(Id \otimes C) R, which every LayerNorm reads as it read R:

    (N \otimes \tilde W)(Id \otimes C) R = (N \otimes \tilde W C) R = (N \otimes \tilde W) R,
    \tilde W = diag(w) C,

with N the same, and the centred model has the same scores, patterns and logits.

Proof. The first derivation is the mixed-product rule; the second cites the projection C C = C,
which is not an identity of arbitrary matrices: the facts prove it exactly with SymPy, with the
centring's entries, together with \sigma(C x) = \sigma(x). The model facts run
``ta.center_writing_weights`` on random models with LayerNorm: the patterns and logits stay, and
every recorded residual stream is the original one centred.
"""

import numpy as np
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import MODEL, POSITIONS, VOCAB, Identity, Kron, Product, Space, symbol
from tensoralgebra.proof import Equation, Theorem, main
from tensoralgebra.symbols import C, N

P, M, V = Space.of(POSITIONS), Space.of(MODEL), Space.of(VOCAB)
R = symbol("R", P @ M, P @ V)
#: diag(w) of the reading LayerNorm's weight (\tilde W = D_w C).
D_w = symbol("D_w", M, M)
PROJECTION = Equation("C is a projection", Product((C, C)), C)
CENTRED_READ = Product((Kron((N(0), Product((D_w, C)))), Kron((Identity(P), C)), R))
COMPOSED = Product((Kron((N(0), Product((D_w, C, C)))), R))
READ = Product((Kron((N(0), Product((D_w, C)))), R))

THEOREM = Theorem(
    "Centring the writing weights",
    "The centring is a projection and a LayerNorm reads only the centred stream, so centring "
    "every weight that writes to the residual stream leaves the scores, patterns and logits of "
    "a model with LayerNorm unchanged.",
    r"(N \otimes \tilde W)(\mathrm{Id} \otimes C) R = (N \otimes \tilde W C) R "
    r"= (N \otimes \tilde W) R, \qquad C C = C, \quad \tilde W = \operatorname{diag}(w) C",
)
THEOREM.prove(
    THEOREM.start(CENTRED_READ, "A LayerNorm reads a centred stream").then(
        COMPOSED, "mixed_product", "eliminate_identity"
    )
)
# C C = C holds for the centring only, not for a matrix of free entries: this step is checked
# by its rule here and the projection by the exact facts below.
THEOREM.prove(
    THEOREM.start(COMPOSED, "The centring is a projection").then(READ, cites=PROJECTION),
    exact=False,
    numeric=False,
)


def centring(d: int) -> sympy.Matrix:
    """C = Id - 1 1^T / d [d, d], with exact rational entries."""
    return sympy.eye(d) - sympy.ones(d, d) / d


@THEOREM.fact("exact")
def centring_is_a_symmetric_projection():
    """C C = C = C^T and C 1 = 0 for d_model 1 to 6, exactly"""
    for d in range(1, 7):
        C = centring(d)
        assert C * C == C and C.T == C and C * sympy.ones(d, 1) == sympy.zeros(d, 1)


@THEOREM.fact("exact")
def layernorm_reads_only_the_centred_stream():
    """sigma(C x) = sigma(x) and diag(w) C (C x) = diag(w) C x on symbolic entries"""
    eps = sympy.Symbol("epsilon", positive=True)
    for d in (2, 3, 4):
        x = sympy.Matrix(d, 1, lambda i, j: sympy.Symbol(f"x_{i}"))
        w = sympy.Matrix(d, 1, lambda i, j: sympy.Symbol(f"w_{i}"))
        C = centring(d)

        sigma_x = sympy.sqrt(sum(e**2 for e in C * x) / d + eps)
        sigma_cx = sympy.sqrt(sum(e**2 for e in C * (C * x)) / d + eps)
        assert sympy.simplify(sigma_cx - sigma_x) == 0
        assert (sympy.diag(*w) * C * (C * x) - sympy.diag(*w) * C * x).expand() == sympy.zeros(d, 1)


@THEOREM.fact("model")
@settings(max_examples=20, deadline=None)
@given(
    heads=st.lists(st.integers(0, 2), min_size=1, max_size=2),
    normalization=st.sampled_from(["LN", "LNPre"]),
    biases=st.booleans(),
    positional=st.sampled_from([None, "standard", "shortformer"]),
    seed=st.integers(0, 2**32 - 1),
)
def centring_keeps_patterns_and_logits(heads, normalization, biases, positional, seed):
    """ta.center_writing_weights keeps patterns and logits; each stream is the old one centred"""
    arch = ta.Architecture(heads, positional=positional, normalization=normalization, biases=biases)
    weights = ta.Weights.random(arch, d_model=5, d_head=3, d_vocab=7, n_ctx=6, seed=seed)
    centred = ta.center_writing_weights(weights)
    tokens = np.random.default_rng(seed).integers(0, 7, size=(2, 6))
    before, after = (ta.AttentionOnlyTransformer(w).run(tokens) for w in (weights, centred))
    np.testing.assert_allclose(after.logits, before.logits, rtol=1e-10, atol=1e-10)
    for p, q in zip(before.patterns, after.patterns):
        np.testing.assert_allclose(q, p, rtol=1e-10, atol=1e-12)
    for old, new in zip(before.residual, after.residual):
        np.testing.assert_allclose(new, old - old.mean(-1, keepdims=True), rtol=0, atol=1e-12)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
