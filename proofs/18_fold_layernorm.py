r"""A LayerNorm's weight and bias fold into the weights and biases that read it (``ta.fold_ln``).

Theorem. Write a LayerNorm with weight w and bias b [d_model] as
LN(R) = (N \otimes diag(w) C) R + \mathbf{1} \otimes b (docs/conventions.md §7). A head's queries
read it through W_Q^h and add b_Q^h, so

    (Id \otimes W_Q^h)(LN(R)) + \mathbf{1} \otimes b_Q^h
        = (N \otimes (W_Q^h diag(w)) C) R + \mathbf{1} \otimes (W_Q^h b + b_Q^h):

the folded model has W_Q^h diag(w) for its weights, W_Q^h b + b_Q^h for its bias, and a
LayerNorm without weight or bias (LNPre: centring and scale only). Keys, values and the
unembedding (W_U diag(w^f), W_U b^f + b_U) fold alike; the scale N is untouched, since it depends
only on the stream. So the folded model gives the same scores, patterns and logits, and its
expansion is the LNPre one: every \tilde W^l is the centring C.

Proof. Distribute the reading over the LayerNorm's two terms, apply the mixed-product rule, and
collect the constants. The facts check, exactly with SymPy, that TransformerLens's LayerNorm
w (x - mean x) / sqrt(var x + eps) + b is diag(w) C x / sigma + b and that the folded weights
reproduce every reading; numerically, that ``ta.fold_ln`` leaves every pattern and the logits
of random models unchanged; and, through the package, that the expansion of a model with LN
becomes that of LNPre when each \tilde W^l is C and each constant the folded bias.
"""

import numpy as np
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.expr import MODEL, POSITIONS, VOCAB, HeadVar, Kron, Product, Space, Sum, symbol
from tensoralgebra.expr.spaces import ONE
from tensoralgebra.expr.traversal import symbols
from tensoralgebra.proof import Equation, Theorem, main, replace_symbols, same
from tensoralgebra.symbols import W_Q, W_U, C, Id_positions, N, b_K, b_Q, b_U, ones

P, M, V, ONE_SPACE = (Space.of(s) for s in (POSITIONS, MODEL, VOCAB, ONE))
h = HeadVar("h", 0)
R = symbol("R", P @ M, P @ V)
#: diag(w) of a LayerNorm's weight, and its bias b, for layer 1 (the paper's) and the final one.
D_w, D_f = symbol("D_w", M, M), symbol("D_f", M, M)
b, b_f = symbol("b", M, ONE_SPACE), symbol("b_f", M, ONE_SPACE)


def folding(reader, reader_bias, scale, diag, bias, title):
    """The derivation: ``reader`` [X × model] with bias ``reader_bias`` [X × one] reading the
    LayerNorm ``(scale ⊗ diag C) R + 1 ⊗ bias``."""
    read = Kron((Id_positions, reader))
    layer_norm = Sum((Product((Kron((scale, Product((diag, C)))), R)), Kron((ones, bias))))
    start = Sum((Product((read, layer_norm)), Kron((ones, reader_bias))))
    distributed = Sum(
        (
            Product((read, Kron((scale, Product((diag, C)))), R)),
            Product((read, Kron((ones, bias)))),
            Kron((ones, reader_bias)),
        )
    )
    mixed = Sum(
        (
            Product((Kron((scale, Product((reader, diag, C)))), R)),
            Kron((ones, Product((reader, bias)))),
            Kron((ones, reader_bias)),
        )
    )
    folded = Sum(
        (
            Product((Kron((scale, Product((Product((reader, diag)), C)))), R)),
            Kron((ones, Sum((Product((reader, bias)), reader_bias)))),
        )
    )
    derivation = (
        ta.Derivation.start(title, start)
        .then(distributed, "distribute_product")
        .then(mixed, "mixed_product", "eliminate_identity")
        .then(folded, "distribute_kron")
    )
    return derivation, Equation(title, start, folded)


QUERIES, QUERY_EQUATION = folding(W_Q(h), b_Q(h), N(0), D_w, b, "A head's queries")
LOGITS, _ = folding(W_U, b_U, N(None), D_f, b_f, "The logits")

THEOREM = Theorem(
    "Folding a LayerNorm into its readers",
    "A LayerNorm's weight folds into the weights that read it and its bias into their biases: "
    "the folded model, with a LayerNorm that only centres and scales, has the same scores, "
    "patterns and logits, and the simpler expansion of LNPre.",
    r"(\mathrm{Id} \otimes W_Q^h)\big((N \otimes \operatorname{diag}(w) C) R + \mathbf{1} "
    r"\otimes b\big) + \mathbf{1} \otimes b_Q^h = \big(N \otimes (W_Q^h \operatorname{diag}(w))"
    r" C\big) R + \mathbf{1} \otimes (W_Q^h b + b_Q^h)",
    equation=QUERY_EQUATION,
)
THEOREM.prove(QUERIES)
THEOREM.prove(LOGITS)


def symbolic_matrix(name: str, rows: int, cols: int) -> sympy.Matrix:
    """A [rows, cols] matrix whose entries are the independent symbols name_{i,j}."""
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}{j}"))


def centring(d: int) -> sympy.Matrix:
    """C = Id - 1 1^T / d [d, d], with exact rational entries."""
    return sympy.eye(d) - sympy.ones(d, d) / d


@THEOREM.fact("exact")
def layernorm_is_a_scale_beside_a_map():
    """w (x - mean x) / sqrt(var x + eps) + b = diag(w) C x / sigma + b, symbolic entries"""
    for d in (2, 3, 4):
        x, w, b = (symbolic_matrix(n, d, 1) for n in "xwb")
        eps = sympy.Symbol("epsilon", positive=True)
        centred = x - sympy.ones(d, 1) * (sum(x) / d)
        sigma = sympy.sqrt(sum(v**2 for v in centred) / d + eps)
        transformer_lens = sympy.Matrix([w[i] * centred[i] / sigma + b[i] for i in range(d)])
        ours = sympy.diag(*w) * centring(d) * x / sigma + b
        assert sympy.simplify(transformer_lens - ours) == sympy.zeros(d, 1)


@THEOREM.fact("exact")
def folded_weights_read_the_same():
    """W (diag(w) C x / sigma + b) + b_W = (W diag(w)) C x / sigma + (W b + b_W), symbolic"""
    sigma = sympy.Symbol("sigma", positive=True)
    for d_model, d_out in ((2, 1), (3, 2), (4, 3)):
        W, b_W = symbolic_matrix("W", d_out, d_model), symbolic_matrix("c", d_out, 1)
        x, w, b = (symbolic_matrix(n, d_model, 1) for n in "xwb")
        C = centring(d_model)
        unfolded = W * (sympy.diag(*w) * C * x / sigma + b) + b_W
        folded = (W * sympy.diag(*w)) * C * x / sigma + (W * b + b_W)
        assert (unfolded - folded).expand() == sympy.zeros(d_out, 1)


@THEOREM.fact("model")
@settings(max_examples=20, deadline=None)
@given(
    heads=st.lists(st.integers(0, 2), min_size=1, max_size=2),
    biases=st.booleans(),
    positional=st.sampled_from([None, "standard"]),
    seed=st.integers(0, 2**32 - 1),
)
def fold_ln_keeps_patterns_and_logits(heads, biases, positional, seed):
    """ta.fold_ln leaves every pattern and the logits of random models unchanged"""
    arch = ta.Architecture(heads, positional=positional, normalization="LN", biases=biases)
    weights = ta.Weights.random(arch, d_model=5, d_head=3, d_vocab=7, n_ctx=6, seed=seed)
    folded = ta.fold_ln(weights)
    assert (folded.normalization, folded.ln_w, folded.ln_final_w) == ("LNPre", None, None)
    tokens = np.random.default_rng(seed).integers(0, 7, size=(2, 6))
    before, after = (ta.AttentionOnlyTransformer(w).run(tokens) for w in (weights, folded))
    np.testing.assert_allclose(after.logits, before.logits, rtol=1e-10, atol=1e-10)
    for p, q in zip(before.patterns, after.patterns):
        np.testing.assert_allclose(q, p, rtol=1e-10, atol=1e-12)


def as_folded(expr):
    """``expr`` with every LayerNorm map ``W̃`` replaced by ``C`` and every constant that folded
    a LayerNorm bias (``c_U``, ``c_Q``, ``c_K``) by the folded model's bias."""
    folded = {"W_ln": lambda s: C, "c_U": lambda s: b_U}
    folded |= {"c_Q": lambda s: b_Q(s.index), "c_K": lambda s: b_K(s.index)}
    return replace_symbols(expr, {s: folded[s.name](s) for s in symbols(expr) if s.name in folded})


@THEOREM.fact("package")
@given(heads=st.tuples(st.integers(0, 2), st.integers(1, 2), st.integers(0, 1)))
def the_folded_expansion_is_the_lnpre_one(heads):
    """The LN expansion becomes the LNPre one, term by term, once folded (logits and scores)"""
    ln, pre = (ta.Architecture(heads, normalization=n, biases=True) for n in ("LN", "LNPre"))
    assert same(as_folded(ta.expand(ta.logits(ln))), ta.expand(ta.logits(pre)))
    ln_scores, pre_scores = (ta.expand(ta.scores(a, 1, 0)) for a in (ln, pre))
    assert same(as_folded(ln_scores), pre_scores)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
