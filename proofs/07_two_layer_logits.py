r"""The two-layer logits: the paper's equation, with virtual heads.

Theorem. A two-layer attention-only transformer has

    T = Id \otimes W_U W_E + \sum_{h \in H_1 \cup H_2} A^h \otimes W_U W_OV^h W_E
        + \sum_{h_2 \in H_2} \sum_{h_1 \in H_1}
              A^{h_2} A^{h_1} \otimes W_U W_OV^{h_2} W_OV^{h_1} W_E.

Proof. Distribute (Id + S_2)(Id + S_1) into four groups; the mixed-product rule collapses each
product of Kronecker products, so the second layer's pattern acts after the first's and their OV
circuits compose; finally the two single-head sums, over the disjoint sets H_1 and H_2 with the
same body, merge into one sum over H_1 \cup H_2. The derivation is the package's
(``ta.derive_logits``), each step checked by its rules; the facts compare its result with the
paper's equation written out by hand, and the expansion with the torch model.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import HeadSet, HeadVar, IndexedSum, Kron, Product, Sum
from tensoralgebra.proof import Equation, Theorem, main, same
from tensoralgebra.symbols import W_E, W_OV, W_U, A, Id_positions
from tensoralgebra.testing import assert_expansion_on_random_model

ARCH = ta.Architecture.schematic(n_layers=2)
DERIVATION = ta.derive_logits(ARCH)
h, h1, h2 = HeadVar("h"), HeadVar("h", 0), HeadVar("h", 1)
PAPER = Sum(
    (
        Kron((Id_positions, Product((W_U, W_E)))),
        IndexedSum(h, HeadSet((0, 1)), Kron((A(h), Product((W_U, W_OV(h), W_E))))),
        IndexedSum(
            h2,
            HeadSet((1,)),
            IndexedSum(
                h1,
                HeadSet((0,)),
                Kron((Product((A(h2), A(h1))), Product((W_U, W_OV(h2), W_OV(h1), W_E)))),
            ),
        ),
    )
)

THEOREM = Theorem(
    "The two-layer logits",
    "Two layers give the direct path, one term per head of either layer, and one virtual head "
    "per pair of heads in successive layers, whose patterns multiply and whose OV circuits "
    "compose.",
    r"T = \mathrm{Id} \otimes W_U W_E + \sum_{h \in H_1 \cup H_2} A^h \otimes (W_U W_{OV}^h W_E)"
    r" + \sum_{h_2 \in H_2} \sum_{h_1 \in H_1} A^{h_2} A^{h_1} \otimes "
    r"(W_U W_{OV}^{h_2} W_{OV}^{h_1} W_E)",
    equation=Equation("two-layer logits", ta.logits(ARCH), PAPER),
)
THEOREM.prove(DERIVATION)


@THEOREM.fact("package")
def derivation_ends_with_the_papers_equation():
    """The derivation's last line is the paper's equation, written out by hand"""
    assert same(DERIVATION.result, PAPER), DERIVATION.result


@THEOREM.fact("model")
@settings(max_examples=15)
@given(heads=st.tuples(st.integers(0, 2), st.integers(0, 2)), seed=st.integers(0, 2**32 - 1))
def torch_model_agrees(heads, seed):
    """The terms, summed and one by one, match the torch model (ta.verify)"""
    assert_expansion_on_random_model(ta.Architecture(heads=heads), seed=seed)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
