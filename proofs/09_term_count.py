r"""The number of logit terms: \prod_l (1 + |H_l|).

Theorem. The logits of a transformer with |H_l| heads in layer l have \prod_l (1 + |H_l|) path
terms, of which \sum_{|S| = k} \prod_{l \in S} |H_l| (the k-th elementary symmetric polynomial of
the head counts) have order k.

Proof. By the induction of 08_logit_induction.py each layer keeps every term and adds |H_l|
extensions of each, so the count is multiplied by 1 + |H_l|; the terms of order k choose k layers
and one head in each. Equivalently, the coefficient of x^k in \prod_l (1 + |H_l| x). The derivation
expands a concrete model of 2, 1 and 1 heads, checked step by step, to its 3 * 2 * 2 = 12 terms;
the facts compare the closed forms with the expansion, and the generating polynomial with SymPy.
"""

import math

import sympy
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.proof import Theorem, main

ARCH = ta.Architecture(heads=(2, 1, 1))
DERIVATION = ta.derive_logits(ARCH)

THEOREM = Theorem(
    "The number of logit terms",
    "A model with |H_l| heads in layer l has prod_l (1 + |H_l|) logit terms; those of order k "
    "number the k-th elementary symmetric polynomial of the head counts.",
    r"\#\{p\} = \prod_{l=1}^{L} (1 + |H_l|), \qquad \#\{p : |p| = k\} = "
    r"\sum_{|S| = k} \prod_{l \in S} |H_l|",
)
THEOREM.prove(DERIVATION)


@THEOREM.fact("package")
def concrete_derivation_has_twelve_terms():
    """The derivation for 2, 1 and 1 heads ends with 3 * 2 * 2 = 12 terms"""
    assert len(ta.terms(DERIVATION.result)) == 12 == math.prod(1 + n for n in ARCH.heads)


@THEOREM.fact("package")
@given(heads=st.lists(st.integers(0, 3), max_size=5))
def closed_form_counts_the_expansion(heads):
    """prod (1 + |H_l|) and the counts by order equal the expansion's, for random head counts"""
    arch = ta.Architecture(heads=tuple(heads))
    expanded = ta.terms(ta.expand(ta.logits(arch)))
    assert len(expanded) == math.prod(1 + n for n in heads) == ta.count_logit_paths(arch)
    orders = [sum(s.name == "A" for s in _symbols(t)) for t in expanded]
    for k in range(len(heads) + 1):
        assert orders.count(k) == ta.count_logit_paths(arch, order=k)


def _symbols(term):
    from tensoralgebra.expr import MatrixSymbol
    from tensoralgebra.expr.traversal import walk

    # Count patterns with multiplicity along the path (A^{h_2} A^{h_1} is order 2).
    return [n for n in walk(term.args[0]) if isinstance(n, MatrixSymbol)]


@THEOREM.fact("exact")
def generating_polynomial():
    """Coefficient k of prod_l (1 + H_l x) is the sum over k-subsets of layers, for L <= 5"""
    x = sympy.Symbol("x")
    for n_layers in range(6):
        counts = sympy.symbols(f"H1:{n_layers + 1}")
        poly = sympy.Poly(sympy.prod([1 + c * x for c in counts]), x)
        for k in range(n_layers + 1):
            subsets = sum((sympy.prod(s) for s in _subsets(counts, k)), sympy.Integer(0))
            assert sympy.expand(poly.coeff_monomial(x**k) - subsets) == 0, (n_layers, k)


def _subsets(items, k):
    import itertools

    return itertools.combinations(items, k)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
