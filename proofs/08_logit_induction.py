r"""The L-layer logit expansion, by induction on L.

Theorem. For any L, the residual stream after L layers is a sum over paths,
R_L = \sum_p A_p \otimes W_p W_E, where a path p picks at most one head from each layer, in
increasing layer order, A_p = A^{h_k} ... A^{h_1} and W_p = W_OV^{h_k} ... W_OV^{h_1}; hence
T = \sum_p A_p \otimes W_U W_p W_E.

Proof. L = 0: R_0 = Id \otimes W_E, the empty path. L -> L + 1: the new layer multiplies R_L by
(Id + \sum_{h \in H} A^h \otimes W_OV^h). The first derivation keeps the earlier layers' sum as
one opaque symbol R_L: the logits become the old logits plus one group per head of the new layer.
The second follows one path term A_p \otimes W_p W_E of R_L (opaque symbols A_p and W_p: the
steps hold for any matrices) through the new layer: it stays as it was, and each head h of the
new layer extends it to the path p + h, with pattern A^h A_p and OV circuit W_OV^h W_p. By
linearity R_{L+1} is the sum over the old paths and their extensions, which are exactly the paths
through L + 1 layers. The new layer is shown as the package's layer 2 (the paper's H_3); no step
depends on which layer it is. The fact checks the induction's prediction against the package's
expansion for every depth up to 5.
"""

from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import (
    MODEL,
    POSITIONS,
    VOCAB,
    HeadSet,
    HeadVar,
    Identity,
    IndexedSum,
    Kron,
    Product,
    Space,
    Sum,
    symbol,
)
from tensoralgebra.proof import Equation, Theorem, main
from tensoralgebra.symbols import W_E, W_OV, W_U, A, Id_positions, Id_residual

P, M, V = Space.of(POSITIONS), Space.of(MODEL), Space.of(VOCAB)
h = HeadVar("h")
NEW = HeadSet((2,))
R_L = symbol("R_L", P @ M, P @ V)
A_p, W_p = symbol("A_p", P, P), symbol("W_p", M, M)
LAYER = Sum((Id_residual, IndexedSum(h, NEW, Kron((A(h), W_OV(h))))))
UNEMBED = Kron((Id_positions, W_U))
TERM = Kron((A_p, Product((W_p, W_E))))
EXTENDED = Sum(
    (
        Kron((A_p, Product((W_U, W_p, W_E)))),
        IndexedSum(h, NEW, Kron((Product((A(h), A_p)), Product((W_U, W_OV(h), W_p, W_E))))),
    )
)

THEOREM = Theorem(
    "The L-layer logits, by induction",
    "Each new layer keeps every path of the layers before it and extends each by one head of the "
    "new layer; so the logits of L layers are a sum over paths with at most one head per layer.",
    r"(\mathrm{Id} \otimes W_U)\Big(\mathrm{Id} + \sum_{h \in H} A^h \otimes W_{OV}^h\Big)"
    r"(A_p \otimes W_p W_E) = A_p \otimes W_U W_p W_E + \sum_{h \in H} A^h A_p \otimes "
    r"W_U W_{OV}^h W_p W_E",
    equation=Equation("induction step", Product((UNEMBED, LAYER, TERM)), EXTENDED),
)
THEOREM.prove(
    THEOREM.start(Product((UNEMBED, LAYER, R_L)), "The earlier layers as one symbol R_L")
    .then(
        Sum(
            (
                Product((UNEMBED, Id_residual, R_L)),
                IndexedSum(h, NEW, Product((UNEMBED, Kron((A(h), W_OV(h))), R_L))),
            )
        ),
        "distribute_product",
        "pull_sum_out_of_product",
    )
    .then(
        Sum(
            (
                Product((UNEMBED, R_L)),
                IndexedSum(h, NEW, Product((Kron((A(h), Product((W_U, W_OV(h))))), R_L))),
            )
        ),
        "eliminate_identity",
        "mixed_product",
    )
)
THEOREM.prove(
    THEOREM.start(Product((UNEMBED, LAYER, TERM)), "One path term of R_L")
    .then(
        Sum(
            (
                Product((UNEMBED, Id_residual, TERM)),
                IndexedSum(h, NEW, Product((UNEMBED, Kron((A(h), W_OV(h))), TERM))),
            )
        ),
        "distribute_product",
        "pull_sum_out_of_product",
    )
    .then(EXTENDED, "eliminate_identity", "mixed_product")
)


def predicted_terms(heads: tuple[int, ...]) -> list:
    """The terms of the logits of ``heads`` built by the induction: start from the direct path,
    and let each layer keep every term and extend each by each of its heads."""
    stream = [(Identity(P), (W_E,))]  # (pattern, OV chain then W_E) of each path term
    for layer, n in enumerate(heads):
        extended = [
            (
                Product((A((layer, i)), a)) if a != Identity(P) else A((layer, i)),
                (W_OV((layer, i)), *w),
            )
            for a, w in stream
            for i in range(n)
        ]
        stream = stream + extended
    return [Kron((a, Product((W_U, *w)))) for a, w in stream]


@THEOREM.fact("package")
@given(heads=st.lists(st.integers(0, 3), max_size=5))
def induction_predicts_the_expansion(heads):
    """The induction's terms, built layer by layer, are the package's expansion's terms"""
    arch = ta.Architecture(heads=tuple(heads))
    expanded = ta.terms(ta.expand(ta.logits(arch)))
    predicted = predicted_terms(tuple(heads))
    flat = [ta.expand(t) for t in predicted]  # nested products of patterns flattened
    assert sorted(map(str, expanded)) == sorted(map(str, flat))


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
