"""SymPy as an independent oracle for the attention-score expansion.

Head ``h`` of layer ``l`` scores ``S = R_l W_QK^h R_l^T``, and ``ta.score_paths`` claims that
``S = Σ A_q X_q M X_k^T A_k^T`` over its terms ``A_q ⊗ A_k ⊗ M``. Three checks, each against code
that shares nothing with our rewrite rules or path enumeration:

(a) an exact polynomial identity: with explicit matrices whose entries are independent symbols
    (elements of SymPy's polynomial ring ``ZZ[entries]``), ``R_l`` is built layer by layer from
    its definition, and ``S`` equals the sum of the terms, each evaluated from its ``.expr``;
    altered terms (one dropped, a transpose removed, query and key swapped) break the identity;
(b) SymPy's own expansion of the residual stream has exactly the query (and key) paths of the
    score terms, and the score terms are exactly the pairs of its terms;
(c) our dense evaluator gives the factored scores the value of their expansion, and its
    realignment of a bilinear form reproduces the explicit ``S`` on one-hot tokens.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
import sympy
from sympy.matrices.expressions.kronecker import KroneckerProduct
from sympy.polys.matrices import DomainMatrix

import tensoralgebra as ta
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.dense import RandomValues, dim, to_dense
from tensoralgebra.expr.nodes import Expr, Identity, Kron, MatrixSymbol, Product, Transpose
from tensoralgebra.expr.spaces import POS, VOCAB, Space
from tensoralgebra.expr.traversal import symbols
from tensoralgebra.symbols import W_OV, W_QK

HEADS = [(1,), (1, 1), (2, 1), (1, 0, 1), (1, 1, 1), (2, 2)]
POSITIONAL_HEADS = [(1,), (1, 1), (2, 1), (1, 0, 1), (1, 1, 1), (2, 2)]
ARCHITECTURES = [ta.Architecture(h) for h in HEADS] + [
    ta.Architecture(h, positional="standard") for h in POSITIONAL_HEADS
]
TINY = {"n_ctx": 2, "d_model": 2, "d_vocab": 2}


def heads_of(arch: ta.Architecture) -> list[tuple[int, int]]:
    return [(layer, h) for layer in range(arch.n_layers) for h in range(arch.heads[layer])]


# --- explicit matrices ----------------------------------------------------------------------

#: The inputs: ``X`` the token one-hots, ``P`` the position one-hots (``Id_n`` in a model; left
#: generic here, so the identity is checked for every ``P``, ``Id_n`` included).
INPUTS = ("X", "P")


def _shapes(arch: ta.Architecture, sizes: dict) -> dict[tuple, tuple[int, int]]:
    """(name, head or None) -> shape of every matrix the scores of ``arch`` involve."""
    n, d, v = sizes["n_ctx"], sizes["d_model"], sizes["d_vocab"]
    shapes = {("X", None): (n, v), ("W_E", None): (d, v)}
    if arch.positional:
        shapes |= {("P", None): (n, n), ("W_pos", None): (d, n)}
    for head in heads_of(arch):
        shapes |= {("A", head): (n, n), ("W_OV", head): (d, d), ("W_QK", head): (d, d)}
    return shapes


def symbolic_matrices(arch: ta.Architecture, sizes: dict = TINY) -> dict[tuple, DomainMatrix]:
    """Every matrix with one independent symbol per entry (``W_OV(0, 1)[1,0]``, ``X[0,1]``),
    over the polynomial ring in all of them: equality there is a polynomial identity, true for
    every value of every entry."""
    names = {
        key: [[f"{key[0]}{key[1] or ''}[{i},{j}]" for j in range(c)] for i in range(r)]
        for key, (r, c) in _shapes(arch, sizes).items()
    }
    flat = [name for rows in names.values() for row in rows for name in row]
    ring = sympy.ZZ[tuple(map(sympy.Symbol, flat))]
    entry = dict(zip(flat, ring.gens))
    return {
        key: DomainMatrix(
            [[entry[s] for s in row] for row in rows], (len(rows), len(rows[0])), ring
        )
        for key, rows in names.items()
    }


def integer_matrices(arch: ta.Architecture, sizes: dict, seed: int) -> dict[tuple, DomainMatrix]:
    """Every weight matrix with small random integer entries (exact in float64 too)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in _shapes(arch, sizes).items():
        if key[0] not in INPUTS:
            entries = rng.integers(-3, 4, size=shape).tolist()
            out[key] = DomainMatrix(
                [[sympy.ZZ(e) for e in row] for row in entries], shape, sympy.ZZ
            )
    return out


def explicit_stream(arch: ta.Architecture, layer: int, m: dict) -> DomainMatrix:
    """``R_layer`` from its definition: ``R_0 = X W_E^T (+ P W_pos^T)``,
    ``R_{l+1} = R_l + Σ_h A^h R_l W_OV^{hT}``."""
    r = m["X", None] * m["W_E", None].transpose()
    if arch.positional:
        r = r + m["P", None] * m["W_pos", None].transpose()
    for lay in range(layer):
        r = r + _sum(
            [
                m["A", (lay, h)] * r * m["W_OV", (lay, h)].transpose()
                for h in range(arch.heads[lay])
            ],
            r,
        )
    return r


def _sum(matrices: list[DomainMatrix], like: DomainMatrix) -> DomainMatrix:
    total = DomainMatrix.zeros(like.shape, like.domain)
    for matrix in matrices:
        total = total + matrix
    return total


def explicit_scores(arch: ta.Architecture, layer: int, head: int, m: dict) -> DomainMatrix:
    """``S = R_l W_QK^h R_l^T`` [n_ctx, n_ctx] (unscaled, as the package's scores are)."""
    r = explicit_stream(arch, layer, m)
    return r * m["W_QK", (layer, head)] * r.transpose()


# --- evaluating a term from its expression --------------------------------------------------

_INPUT_OF = {Space.of(VOCAB): ("X", None), Space.of(POS): ("P", None)}


def value(expr: Expr, m: dict, sizes: dict) -> DomainMatrix:
    """The explicit matrix of a product of symbols, transposes and identities."""
    kind = type(expr)
    if kind is MatrixSymbol:
        index = expr.index
        return m[expr.name, None if index is None else (index.layer, index.head)]
    if kind is Transpose:
        return value(expr.arg, m, sizes).transpose()
    if kind is Identity:
        domain = next(iter(m.values())).domain
        return DomainMatrix.eye(expr.space.dims(sizes), domain)
    if kind is Product:
        out = value(expr.args[0], m, sizes)
        for arg in expr.args[1:]:
            out = out * value(arg, m, sizes)
        return out
    raise TypeError(f"not a product of symbols: {expr}")


def term_value(term: Expr, m: dict, sizes: dict = TINY) -> DomainMatrix:
    """``(A_q ⊗ A_k ⊗ M)`` applied to the inputs: ``A_q X_q M X_k^T A_k^T``, where ``X_q`` is
    the token or the position input as ``M`` reads tokens (vocab) or positions (pos)."""
    assert type(term) is Kron and len(term.args) == 3, term
    a_q, a_k, form = (value(f, m, sizes) for f in term.args)
    x_q, x_k = m[_INPUT_OF[term.args[2].rows]], m[_INPUT_OF[term.args[2].cols]]
    return a_q * x_q * form * x_k.transpose() * a_k.transpose()


def expanded_scores(terms: list[Expr], m: dict, sizes: dict = TINY) -> DomainMatrix:
    n = sizes["n_ctx"]
    total = DomainMatrix.zeros((n, n), next(iter(m.values())).domain)
    for term in terms:
        total = total + term_value(term, m, sizes)
    return total


# --- (a) the identity, exactly --------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=repr)
def test_scores_are_the_sum_of_their_terms_as_polynomials(arch):
    m = symbolic_matrices(arch)
    for layer, head in heads_of(arch):
        paths = list(ta.score_paths(arch, layer, head))
        n_paths = ta.count_logit_paths(ta.Architecture(arch.heads[:layer], arch.positional))
        assert len(paths) == n_paths**2 == ta.count_score_paths(arch, layer, head)
        for p in paths:  # the sides' sources are the spaces the form reads
            form = p.expr.args[2]
            assert (_INPUT_OF[form.rows][0], _INPUT_OF[form.cols][0]) == tuple(
                "X" if side.source == "token" else "P" for side in (p.query, p.key)
            )
        s = explicit_scores(arch, layer, head, m)
        assert s == expanded_scores([p.expr for p in paths], m), (arch, layer, head)
        assert s == expanded_scores(list(ta.terms(ta.expand(ta.scores(arch, layer, head)))), m)


def _with_form(term: Kron, factors: list[Expr]) -> Kron:
    return Kron((*term.args[:2], Product(factors)))


@pytest.mark.parametrize(
    "arch", [ta.Architecture((2, 1)), ta.Architecture((1, 1), "standard")], ids=repr
)
def test_the_identity_catches_altered_terms(arch):
    m = symbolic_matrices(arch)
    paths = list(ta.score_paths(arch, 1, 0))
    terms = [p.expr for p in paths]
    s = explicit_scores(arch, 1, 0, m)
    assert s == expanded_scores(terms, m)

    for i in range(len(terms)):  # any one term dropped
        assert s != expanded_scores(terms[:i] + terms[i + 1 :], m)

    # Q-composition with W_OV in place of W_OV^T: same spaces, a different matrix.
    q_terms = [i for i, p in enumerate(paths) if p.kind == "Q"]
    assert q_terms
    for i in q_terms:
        form = terms[i].args[2].args
        (j,) = [j for j, f in enumerate(form) if type(f) is Transpose and f.arg.name == "W_OV"]
        wrong = _with_form(terms[i], [*form[:j], form[j].arg, *form[j + 1 :]])
        assert s != expanded_scores([*terms[:i], wrong, *terms[i + 1 :]], m)

    # The query and key patterns swapped: A_k ⊗ A_q ⊗ M in place of A_q ⊗ A_k ⊗ M.
    for i, p in enumerate(paths):
        if p.query.heads != p.key.heads:
            a_q, a_k, form = terms[i].args
            wrong = Kron((a_k, a_q, form))
            assert s != expanded_scores([*terms[:i], wrong, *terms[i + 1 :]], m)


def test_a_first_layer_head_reads_the_embeddings_only():
    arch = ta.Architecture((2, 1))
    m = symbolic_matrices(arch)
    (p,) = ta.score_paths(arch, 0, 1)
    assert p.kind == "none"
    assert term_value(p.expr, m) == explicit_scores(arch, 0, 1, m)


# --- (b) SymPy's expansion of the residual stream -------------------------------------------


def residual_terms(arch: ta.Architecture, layer: int) -> list[sympy.MatrixExpr]:
    """SymPy's own expansion of the stream ``layer`` reads: terms ``A_p ⊗ W_p W_src``."""
    stream = ta.residual_stream(arch, layer)
    return [t for block in ta.split_sources(stream).values() for t in ta.sympy_expansion(block)]


def side_term(path) -> sympy.MatrixExpr:
    """A score term's query or key path as a residual-stream term ``A_p ⊗ W_p W_src``."""
    ovs = [W_OV(i) for i in path.indices[::-1]]
    weights = Product((*ovs, path.source_matrix)) if ovs else path.source_matrix
    return ta.to_sympy(Kron((path.pattern, weights))).doit()


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=repr)
def test_score_terms_are_the_pairs_of_sympys_residual_terms(arch):
    for layer in range(arch.n_layers):
        theirs = residual_terms(arch, layer)
        assert len(set(theirs)) == len(theirs)
        pairs = Counter(itertools.product(theirs, repeat=2))
        for head in range(arch.heads[layer]):
            paths = list(ta.score_paths(arch, layer, head))
            assert {side_term(p.query) for p in paths} == set(theirs)
            assert Counter((side_term(p.query), side_term(p.key)) for p in paths) == pairs
            # Each term is its pair under the bilinear mixed product: A_q ⊗ A_k ⊗ W_q^T W_QK W_k.
            w_qk = ta.to_sympy(W_QK((layer, head)))
            wanted = Counter(
                KroneckerProduct(q.args[0], k.args[0], q.args[1].T * w_qk * k.args[1]).doit()
                for q, k in pairs
            )
            assert Counter(ta.to_sympy(p.expr).doit() for p in paths) == wanted


def test_the_pairing_detects_a_wrong_pairing():
    arch = ta.Architecture((1, 1))
    theirs = residual_terms(arch, 1)
    ours = Counter(ta.to_sympy(p.expr).doit() for p in ta.score_paths(arch, 1, 0))
    w_qk = ta.to_sympy(W_QK((1, 0)))
    pairs = list(itertools.product(theirs, repeat=2))

    def paired(pattern, weights):
        return Counter(KroneckerProduct(*pattern(q, k), weights(q, k)).doit() for q, k in pairs)

    def right_weights(q, k):
        return q.args[1].T * w_qk * k.args[1]

    assert ours == paired(lambda q, k: (q.args[0], k.args[0]), right_weights)
    # Each side's pattern with the other side's weights; W_QK transposed.
    assert ours != paired(lambda q, k: (k.args[0], q.args[0]), right_weights)
    assert ours != paired(
        lambda q, k: (q.args[0], k.args[0]), lambda q, k: q.args[1].T * w_qk.T * k.args[1]
    )


# --- (c) the dense evaluator ----------------------------------------------------------------

DENSE = {"n_ctx": 3, "d_model": 2, "d_vocab": 4, "d_head": 1}  # distinct sizes, distinct axes


@pytest.mark.parametrize("heads", HEADS, ids=str)
def test_dense_scores_equal_their_dense_expansion(heads):
    arch = ta.Architecture(heads)
    values = RandomValues(DENSE, seed=sum(heads))
    for layer, head in heads_of(arch):
        factored = ta.scores(arch, layer, head)
        np.testing.assert_allclose(
            to_dense(factored, values),
            to_dense(ta.expand(factored), values),
            rtol=1e-12,
            atol=1e-12,
        )


def test_dense_scores_with_positions_are_refused():
    scores = ta.scores(ta.Architecture((1, 1), "standard"), 1, 0)
    with pytest.raises(TensorAlgebraError, match="split the sources"):
        to_dense(scores, RandomValues(DENSE))


@pytest.mark.parametrize(("heads", "layer", "head"), [((2, 1), 1, 0), ((1, 1, 1), 2, 0)])
def test_dense_realignment_gives_the_explicit_scores(heads, layer, head):
    """``S[i, j] = Σ T[(i, j, s), (a, b, t)] X[a, s] X[b, t]`` for the dense matrix ``T`` of the
    factored scores and every sequence of one-hot tokens ``X``, exactly (small integers)."""
    arch = ta.Architecture(heads)
    n, v = DENSE["n_ctx"], DENSE["d_vocab"]
    m = integer_matrices(arch, DENSE, seed=layer)
    by_symbol = {
        s: np.array(m[s.name, None if s.index is None else (s.index.layer, s.index.head)].to_list())
        for s in symbols(ta.scores(arch, layer, head))
    }
    assert all(dim(s.rows, DENSE) == len(a) for s, a in by_symbol.items())
    values = {s: a.astype(float) for s, a in by_symbol.items()}
    t = to_dense(ta.scores(arch, layer, head), values, sizes=DENSE).reshape(n, n, v, n, n, v)
    transposed_differs = 0
    for tokens in itertools.product(range(v), repeat=n):
        x = np.eye(v, dtype=int)[list(tokens)]
        m["X", None] = DomainMatrix.from_list(x.tolist(), sympy.ZZ)
        s = np.array(explicit_scores(arch, layer, head, m).to_list(), dtype=float)
        assert np.array_equal(np.einsum("ijsabt,as,bt->ij", t, x, x), s), tokens
        # The other reading, query and key exchanged, gives S^T: the check can fail.
        transposed_differs += not np.array_equal(np.einsum("ijsabt,as,bt->ji", t, x, x), s)
    assert transposed_differs
