r"""The one-layer logits: the direct path and one term per head (skip-trigrams).

Theorem. A one-layer attention-only transformer has

    T = (Id \otimes W_U)(Id + \sum_{h \in H_1} A^h \otimes W_OV^h)(Id \otimes W_E)
      = Id \otimes W_U W_E + \sum_{h \in H_1} A^h \otimes W_U W_OV^h W_E.

Proof. Distribute the product over the layer's sum and pull the head sum out (linearity), then the
mixed-product rule collapses each product of Kronecker products (02_mixed_product.py); each head
is A^h \otimes W_OV^h (04_attention_head.py). The derivation is the package's
(``ta.derive_logits``), each step checked by its rules; the fact checks the expansion against the
torch model's forward pass (``ta.verify``).
"""

from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.proof import Equation, Theorem, main
from tensoralgebra.testing import assert_expansion_on_random_model

ARCH = ta.Architecture.schematic(n_layers=1)
DERIVATION = ta.derive_logits(ARCH)

THEOREM = Theorem(
    "The one-layer logits",
    "One layer adds to the direct path one term per head: its pattern moves information from the "
    "source token to the destination, its full OV circuit W_U W_OV W_E says which logits it "
    "raises.",
    r"T = \mathrm{Id} \otimes W_U W_E + \sum_{h \in H_1} A^h \otimes (W_U W_{OV}^h W_E)",
    equation=Equation("one-layer logits", ta.logits(ARCH), DERIVATION.result),
)
THEOREM.prove(DERIVATION)


@THEOREM.fact("model")
@settings(max_examples=15)
@given(heads=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def torch_model_agrees(heads, seed):
    """The terms, summed and one by one, match the torch model (ta.verify) for 0 to 3 heads"""
    assert_expansion_on_random_model(ta.Architecture(heads=(heads,)), seed=seed)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
