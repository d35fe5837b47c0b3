r"""The attention scores of a second-layer head: no, Q-, K- and QK-composition.

Theorem. Head h of the second layer scores the stream R_1 = (Id + \sum_{h' \in H_1} A^{h'} \otimes
W_OV^{h'})(Id \otimes W_E) X with the bilinear form W_QK^h, and

    C_QK^h = Id \otimes Id \otimes W_E^T W_QK^h W_E
           + \sum_{h_q \in H_1} A^{h_q} \otimes Id \otimes W_E^T W_OV^{h_q T} W_QK^h W_E
           + \sum_{h_k \in H_1} Id \otimes A^{h_k} \otimes W_E^T W_QK^h W_OV^{h_k} W_E
           + \sum_{h_q} \sum_{h_k} A^{h_q} \otimes A^{h_k} \otimes
             W_E^T W_OV^{h_q T} W_QK^h W_OV^{h_k} W_E,

where (A_q \otimes A_k \otimes M) applied to the tokens (X, X) is A_q X M X^T A_k^T.

Proof. The form is bilinear: distribute the query and key streams' sums, pull the head sums out,
and apply the three-factor mixed product (B_q \otimes W_q)^T (F_q \otimes F_k \otimes M)
(B_k \otimes W_k) = F_q B_q \otimes F_k B_k \otimes W_q^T M W_k. The derivation is the package's
(``ta.derive_scores``), each step checked by its rules; the fact compares every head's score terms
with the scores the torch model records (``ta.verify``).
"""

from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.proof import Equation, Theorem, main
from tensoralgebra.testing import assert_expansion_on_random_model

ARCH = ta.Architecture.schematic(n_layers=2)
DERIVATION = ta.derive_scores(ARCH, layer=1)

THEOREM = Theorem(
    "The attention scores of a second-layer head",
    "A second-layer head's scores split into four groups: reading the embeddings directly, "
    "through a first-layer head on the query side (Q-composition), on the key side "
    "(K-composition), or on both.",
    r"C_{QK}^h = \mathrm{Id} \otimes \mathrm{Id} \otimes W_E^T W_{QK}^h W_E + \sum_{h_q} A^{h_q}"
    r" \otimes \mathrm{Id} \otimes \cdots + \sum_{h_k} \mathrm{Id} \otimes A^{h_k} \otimes \cdots"
    r" + \sum_{h_q} \sum_{h_k} A^{h_q} \otimes A^{h_k} \otimes W_E^T W_{OV}^{h_q\,T} W_{QK}^h "
    r"W_{OV}^{h_k} W_E",
    equation=Equation("second-layer scores", ta.scores(ARCH, 1), DERIVATION.result),
)
THEOREM.prove(DERIVATION)


@THEOREM.fact("package")
def four_groups_in_the_papers_order():
    """The derivation's last step has the paper's four groups, in order"""
    labels = [g.label for g in DERIVATION.steps[-1].groups]
    assert labels == ["no composition", "Q-composition", "K-composition", "Q- and K-composition"], (
        labels
    )


@THEOREM.fact("model")
@settings(max_examples=15)
@given(heads=st.tuples(st.integers(1, 2), st.integers(1, 2)), seed=st.integers(0, 2**32 - 1))
def torch_model_agrees(heads, seed):
    """Every head's score terms sum to the scores the torch model records (ta.verify)"""
    assert_expansion_on_random_model(ta.Architecture(heads=heads), seed=seed, per_term=False)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
