r"""The zero-layer logits: bigram statistics.

Theorem. A transformer without layers computes logits = (Id \otimes W_U)(Id \otimes W_E) X
= (Id \otimes W_U W_E) X = X (W_U W_E)^T: the logits at a position depend on the token there only,
through the [d_vocab, d_vocab] table W_U W_E.

Proof. The mixed-product rule (02_mixed_product.py), then Id Id = Id; the derivation is the
package's own (``ta.derive_logits``), checked step by step. The fact runs the torch model.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.proof import Equation, Theorem, main

ARCH = ta.Architecture(heads=())
DERIVATION = ta.derive_logits(ARCH)

THEOREM = Theorem(
    "The zero-layer logits",
    "Without layers the logits read the current token only: the direct path, a bigram table.",
    r"T = (\mathrm{Id} \otimes W_U)(\mathrm{Id} \otimes W_E) = \mathrm{Id} \otimes W_U W_E",
    equation=Equation("zero-layer logits", ta.logits(ARCH), DERIVATION.result),
)
THEOREM.prove(DERIVATION)


@THEOREM.fact("model")
@given(d_model=st.integers(1, 6), d_vocab=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def torch_model_reads_a_bigram_table(d_model, d_vocab, seed):
    """The torch model without layers gives logits[i] = (W_U W_E)[:, token_i]"""
    weights = ta.Weights.random(
        ARCH, d_model=d_model, d_head=1, d_vocab=d_vocab, n_ctx=4, seed=seed
    )
    tokens = np.random.default_rng(seed).integers(0, d_vocab, size=(2, 4))
    logits = ta.AttentionOnlyTransformer(weights).run(tokens).logits
    table = weights.W_U @ weights.W_E
    np.testing.assert_allclose(logits, np.moveaxis(table[:, tokens], 0, -1), rtol=1e-12, atol=1e-12)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
