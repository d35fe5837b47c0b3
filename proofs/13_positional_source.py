r"""The standard positional source: every path read from tokens and from positions.

Theorem. With a positional embedding W_pos [d_model, n_ctx] added to the residual stream, the
stream starts as R_0 = (Id \otimes W_E) X + (Id \otimes W_pos) Id_n, and

    T = \sum_p A_p \otimes W_U W_p W_E  (on X)  +  \sum_p A_p \otimes W_U W_p W_pos  (on Id_n):

every path appears once per source, so the number of terms doubles to 2 \prod_l (1 + |H_l|).

Proof. The embedding is a sum of the two sources' terms; the product distributes over it as over
the layers' sums, and each source's terms are those of 08_logit_induction.py with W_E or W_pos.
The derivation is the package's (``ta.derive_logits``), each step checked by its rules; the facts
count the terms and compare them with the torch model, which adds W_pos to the token embedding.
"""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.proof import Equation, Theorem, main
from tensoralgebra.testing import assert_expansion_on_random_model

ARCH = ta.Architecture.schematic(n_layers=1, positional="standard")
DERIVATION = ta.derive_logits(ARCH)

THEOREM = Theorem(
    "The standard positional source",
    "A positional embedding is a second source: every path is read once from the tokens through "
    "W_E and once from the positions through W_pos, doubling the terms.",
    r"T = \sum_p A_p \otimes W_U W_p W_E + \sum_p A_p \otimes W_U W_p W_{pos}",
    equation=Equation("positional source", ta.logits(ARCH), DERIVATION.result),
)
THEOREM.prove(DERIVATION)


@THEOREM.fact("package")
@given(heads=st.lists(st.integers(0, 3), max_size=4))
def terms_double(heads):
    """2 prod (1 + |H_l|) terms with positions: the expansion and the closed form agree"""
    arch = ta.Architecture(heads=tuple(heads), positional="standard")
    expanded = ta.terms(ta.expand(ta.logits(arch)))
    assert len(expanded) == 2 * math.prod(1 + n for n in heads) == ta.count_logit_paths(arch)
    sources = [t.args[-1].args[-1].name for t in expanded]
    assert sources.count("W_E") == sources.count("W_pos") == len(expanded) // 2


@THEOREM.fact("model")
@settings(max_examples=15)
@given(heads=st.tuples(st.integers(0, 2), st.integers(0, 2)), seed=st.integers(0, 2**32 - 1))
def torch_model_agrees(heads, seed):
    """The terms of both sources match the torch model with W_pos (ta.verify)"""
    assert_expansion_on_random_model(
        ta.Architecture(heads=heads, positional="standard"), seed=seed, per_term=False
    )


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
