"""Edge weights from numbers: composition scores, and term norms against the numeric backend."""

import numpy as np
import pytest

import tensoralgebra as ta
from tensoralgebra.graph import keys

RNG = np.random.default_rng(0)


def random_weights(arch, d_model=6, d_head=2, d_vocab=5, n_ctx=4):
    """Plain arrays in ta.Weights' layout (no numeric backend needed)."""

    def stack(n, shape):
        return RNG.normal(size=(n, *shape))

    heads = arch.heads
    weights = {
        "W_E": RNG.normal(size=(d_model, d_vocab)),
        "W_U": RNG.normal(size=(d_vocab, d_model)),
        "W_Q": [stack(n, (d_head, d_model)) for n in heads],
        "W_K": [stack(n, (d_head, d_model)) for n in heads],
        "W_V": [stack(n, (d_head, d_model)) for n in heads],
        "W_O": [stack(n, (d_model, d_head)) for n in heads],
    }
    if arch.positional:
        weights["W_pos"] = RNG.normal(size=(d_model, n_ctx))
    return weights


def test_composition_scores_on_head_to_head_edges():
    arch = ta.Architecture(heads=(2, 1))
    w = random_weights(arch)
    ov, qk = ta.graph.circuits(w)
    assert np.allclose(ov[1, 0], w["W_O"][1][0] @ w["W_V"][1][0])
    assert np.allclose(qk[0, 1], w["W_Q"][0][1].T @ w["W_K"][0][1])
    G = ta.graph.add_composition_scores(ta.graph.build(arch), ov, qk)
    scored = {
        (u, v, c): d[keys.COMPOSITION]
        for u, v, c, d in G.edges(keys=True, data=True)
        if keys.COMPOSITION in d
    }
    assert set(scored) == {(f"L0H{h}", "L1H0", c) for h in (0, 1) for c in "QKV"}
    M = {"Q": qk[1, 0].T, "K": qk[1, 0], "V": ov[1, 0]}
    for (u, _, c), score in scored.items():
        h1 = ov[0, int(u[-1])]
        want = np.linalg.norm(M[c] @ h1) / (np.linalg.norm(M[c]) * np.linalg.norm(h1))
        assert score == pytest.approx(want, rel=1e-12) and 0 < score <= 1
    assert ta.graph.composition_score(np.zeros((3, 3)), np.eye(3)) == 0.0
    ranked = ta.graph.heaviest_paths(G, keys.COMPOSITION)
    assert [p.order for _, p in ranked] == [2, 2]  # only virtual paths cross scored edges
    assert ranked[0][0] == max(scored[(u, "L1H0", "V")] for u in ("L0H0", "L0H1"))


def test_a_copying_pair_scores_one():
    # h2 reads exactly the subspace h1 writes: ||M W|| = ||M|| ||W|| for rank-one M, W.
    e = np.zeros((4, 4))
    e[0, 0] = 1.0
    assert ta.graph.composition_score(e, e) == pytest.approx(1.0)


def test_term_norms_from_plain_arrays_match_a_direct_computation():
    arch = ta.Architecture(heads=(1, 1), positional="standard")
    w = random_weights(arch)
    tokens = np.array([[0, 3, 1, 4]])
    patterns = [np.tril(RNG.random((1, 1, 4, 4))) for _ in range(2)]
    G = ta.graph.build(arch)
    norms = ta.graph.term_norms(G, w, {"tokens": tokens, "patterns": patterns})
    assert len(norms) == ta.count_logit_paths(arch) + sum(
        ta.count_score_paths(arch, layer, 0) for layer in range(2)
    )
    X = np.eye(5)[tokens[0]]
    A0, A1 = patterns[0][0, 0], patterns[1][0, 0]
    ov, qk = ta.graph.circuits(w)
    virtual = A1 @ A0 @ X @ (w["W_U"] @ ov[1, 0] @ ov[0, 0] @ w["W_E"]).T
    assert norms[ta.LogitPath(((0, 0), (1, 0)))] == pytest.approx(np.linalg.norm(virtual))
    pos = w["W_pos"]
    score = A0 @ X @ w["W_E"].T @ ov[0, 0].T @ qk[1, 0] @ pos
    term = ta.ScorePath(ta.LogitPath(((0, 0),)), ta.LogitPath((), "position"), ta.Head(1, 0))
    assert norms[term] == pytest.approx(np.linalg.norm(score))
    ta.graph.add_term_norms(G, norms)
    edge = G.edges["L0H0", "L1H0", "Q"]
    through = [n for t, n in norms.items() if ("L0H0", "L1H0", "Q") in ta.graph.term_edges(t)]
    assert edge[keys.TERM_NORM] == max(through)
    assert all(keys.TERM_NORM in d for *_, d in G.edges(keys=True, data=True))


def test_term_norms_agree_with_the_numeric_backend():
    torch = pytest.importorskip("torch")
    del torch
    arch = ta.Architecture(heads=(2, 1), positional="standard")
    weights = ta.Weights.random(arch, d_model=8, d_head=2, d_vocab=7, n_ctx=5, seed=3)
    model = ta.AttentionOnlyTransformer(weights)
    trace = model.run([[0, 3, 5, 1], [2, 2, 6, 0]])
    G = ta.graph.build(arch)
    norms = ta.graph.term_norms(G, weights, trace)
    for term, norm in norms.items():
        value = ta.evaluate(term.expr, model, trace)
        assert norm == pytest.approx(np.linalg.norm(value), rel=1e-12)
    ta.graph.add_composition_scores(G, *ta.graph.circuits(weights))
    assert G.edges["L0H1", "L1H0", "K"][keys.COMPOSITION] > 0
