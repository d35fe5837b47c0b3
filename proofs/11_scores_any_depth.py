r"""The attention scores of a head at any depth: pairs of a query path and a key path.

Theorem. Head h of layer l reads R_l = \sum_p (A_p \otimes W_p W_E) X, the sum over paths through
the layers before l (08_logit_induction.py), and its scores are

    C_QK^h = \sum_{q, k} A_q \otimes A_k \otimes W_E^T W_q^T W_QK^h W_k W_E

over pairs of a query path q and a key path k: (\prod_{l' < l} (1 + |H_{l'}|))^2 terms.

Proof. The first derivation takes two path terms of R_l (opaque symbols A_p, W_p and A_r, W_r:
the steps hold for any paths) on each side of the form: bilinearity gives one term per pair, and
the three-factor mixed product turns each into A_q \otimes A_k \otimes W_E^T W_q^T W_QK^h W_k W_E.
The second is the package's expansion for a third-layer head (``ta.derive_scores``), checked step
by step; the facts count the terms and compare them with the torch model.
"""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import (
    MODEL,
    POSITIONS,
    Bilinear,
    HeadVar,
    Kron,
    Product,
    Space,
    Sum,
    Transpose,
    symbol,
)
from tensoralgebra.proof import Equation, Theorem, main
from tensoralgebra.symbols import W_E, W_QK, Id_positions
from tensoralgebra.testing import assert_expansion_on_random_model

P, M = Space.of(POSITIONS), Space.of(MODEL)
h = HeadVar("h")
A_p, A_r = symbol("A_p", P, P), symbol("A_r", P, P)
W_p, W_r = symbol("W_p", M, M), symbol("W_r", M, M)
FORM = Kron((Id_positions, Id_positions, W_QK(h)))
PATHS = [(A_p, W_p), (A_r, W_r)]
STREAM = Sum(tuple(Kron((a, Product((w, W_E)))) for a, w in PATHS))


def pair(query, key):
    """The score term of a query path and a key path, as the theorem writes it."""
    (a_q, w_q), (a_k, w_k) = query, key
    return Kron((a_q, a_k, Product((Transpose(W_E), Transpose(w_q), W_QK(h), w_k, W_E))))


PAIRS = Sum(tuple(pair(q, k) for q in PATHS for k in PATHS))
BILINEAR_PAIRS = Sum(
    tuple(
        Bilinear(Kron((a_q, Product((w_q, W_E)))), FORM, Kron((a_k, Product((w_k, W_E)))))
        for a_q, w_q in PATHS
        for a_k, w_k in PATHS
    )
)
ARCH = ta.Architecture.schematic(n_layers=3)

THEOREM = Theorem(
    "The attention scores of a head at any depth",
    "A head's scores are a sum over pairs of a query path and a key path through the earlier "
    "layers; a side of order two or more is a virtual head feeding Q or K.",
    r"C_{QK}^h = \sum_{q, k} A_q \otimes A_k \otimes W_E^T W_q^T W_{QK}^h W_k W_E",
    equation=Equation("scores at any depth", Bilinear(STREAM, FORM, STREAM), PAIRS),
)
THEOREM.prove(
    THEOREM.start(Bilinear(STREAM, FORM, STREAM), "Two paths on each side")
    .then(BILINEAR_PAIRS, "distribute_bilinear")
    .then(
        Sum(
            tuple(
                Kron((a_q, a_k, Product((Transpose(Product((w_q, W_E))), W_QK(h), w_k, W_E))))
                for a_q, w_q in PATHS
                for a_k, w_k in PATHS
            )
        ),
        "bilinear_mixed_product",
        "eliminate_identity",
        "flatten_product",
        text="mixed product",
    )
    .then(PAIRS, "transpose_product", "flatten_product")
)
# A third-layer head: 16 grouped terms. Exact values on one-token vocabularies keep the
# polynomials small; the numeric check still draws every size.
THEOREM.prove(ta.derive_scores(ARCH, layer=2), exact_sizes={"d_vocab": 1, "n_ctx": 1})


@THEOREM.fact("package")
@given(heads=st.lists(st.integers(0, 2), min_size=1, max_size=4), data=st.data())
def count_is_the_square_of_the_paths(heads, data):
    """A head of layer l has (prod_{l' < l} (1 + |H_l'|))^2 score terms, by expansion too"""
    heads = [*heads[:-1], max(heads[-1], 1)]
    arch = ta.Architecture(heads=tuple(heads))
    layer = len(heads) - 1
    expected = math.prod(1 + n for n in heads[:layer]) ** 2
    assert ta.count_score_paths(arch, layer, 0) == expected
    if expected <= 100:
        assert len(ta.terms(ta.expand(ta.scores(arch, layer, 0)))) == expected


@THEOREM.fact("model")
@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1))
def torch_model_agrees(seed):
    """Score terms of every head of a 3-layer model sum to the torch model's scores"""
    assert_expansion_on_random_model(ta.Architecture(heads=(1, 2, 1)), seed=seed, per_term=False)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
