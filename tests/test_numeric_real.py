"""Real architectures in the numeric model: biases, LayerNorm (LN, LNPre), shortformer positions.

The conventional pass is checked against ``reference`` below, a plain numpy model written in
TransformerLens's row-vector convention (``W_E_TL = W_E^T`` [d_vocab, d_model], ``W_Q_TL``
[n_heads, d_model, d_head], ...), independently of the torch model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.numeric.bind import Bindings

NORMALIZATIONS = (None, "LN", "LNPre")
POSITIONALS = (None, "standard", "shortformer")
REL = 1e-10


def rel_error(got, want) -> float:
    got, want = np.asarray(got), np.asarray(want)
    return float(np.abs(got - want).max(initial=0) / max(np.abs(want).max(initial=0), 1e-300))


def tl_layout(w: ta.Weights) -> dict:
    """The weights in TransformerLens's row-vector layout, zeros for absent biases."""
    t = {"W_E": w.W_E.T, "W_U": w.W_U.T, "W_pos": None if w.W_pos is None else w.W_pos.T}
    t["W_Q"], t["W_K"], t["W_V"] = (
        [W.transpose(0, 2, 1) for W in getattr(w, n)] for n in ("W_Q", "W_K", "W_V")
    )
    t["W_O"] = [W.transpose(0, 2, 1) for W in w.W_O]  # [n_heads, d_head, d_model]
    for name in ("b_Q", "b_K", "b_V"):
        t[name] = getattr(w, name) or [np.zeros((q.shape[0], w.d_head)) for q in w.W_Q]
    t["b_O"] = w.b_O or [np.zeros(w.d_model) for _ in w.W_Q]
    t["b_U"] = np.zeros(w.d_vocab) if w.b_U is None else w.b_U
    return t


def reference_ln(x, kind, w, b, eps):
    if kind is None:
        return x, None
    x = x - x.mean(-1, keepdims=True)
    scale = np.sqrt((x**2).mean(-1, keepdims=True) + eps)
    x = x / scale
    return (x if kind == "LNPre" else x * w + b), scale[..., 0]


def reference(weights: ta.Weights, tokens: np.ndarray) -> dict:
    """Logits, unscaled scores, patterns and LayerNorm scales, TransformerLens's way."""
    t, kind, eps = tl_layout(weights), weights.normalization, weights.eps
    seq = tokens.shape[1]
    resid = t["W_E"][tokens]
    pos = None if t["W_pos"] is None else t["W_pos"][:seq]
    if weights.positional == "standard":
        resid = resid + pos
    out = {"scores": [], "patterns": [], "scales": []}
    for layer in range(len(t["W_Q"])):
        ln_w = None if weights.ln_w is None else weights.ln_w[layer]
        ln_b = None if weights.ln_b is None else weights.ln_b[layer]
        normed, scale = reference_ln(resid, kind, ln_w, ln_b, eps)
        qk_in = normed + pos if weights.positional == "shortformer" else normed
        q = np.einsum("bpm,hmd->bphd", qk_in, t["W_Q"][layer]) + t["b_Q"][layer]
        k = np.einsum("bpm,hmd->bphd", qk_in, t["W_K"][layer]) + t["b_K"][layer]
        v = np.einsum("bpm,hmd->bphd", normed, t["W_V"][layer]) + t["b_V"][layer]
        scores = np.einsum("bqhd,bkhd->bhqk", q, k)
        masked = np.where(
            np.tril(np.ones((seq, seq), bool)), scores / np.sqrt(q.shape[-1]), -np.inf
        )
        pattern = np.exp(masked - masked.max(-1, keepdims=True))
        pattern = pattern / pattern.sum(-1, keepdims=True)
        z = np.einsum("bhqk,bkhd->bqhd", pattern, v)
        resid = resid + np.einsum("bqhd,hdm->bqm", z, t["W_O"][layer]) + t["b_O"][layer]
        out["scores"].append(scores)
        out["patterns"].append(pattern)
        out["scales"].append(scale)
    final_w, final_b = weights.ln_final_w, weights.ln_final_b
    normed, out["final_scale"] = reference_ln(resid, kind, final_w, final_b, eps)
    out["logits"] = normed @ t["W_U"] + t["b_U"]
    return out


@st.composite
def real_models(draw, normalization=..., biases=..., positional=...):
    """Random real weights: up to 3 layers of up to 3 heads (zero-head layers too); each kind
    given, or drawn when left ``...``."""
    heads = tuple(draw(st.lists(st.integers(0, 3), min_size=0, max_size=3)))
    given = {"normalization": normalization, "biases": biases, "positional": positional}
    options = {"normalization": NORMALIZATIONS, "biases": (False, True), "positional": POSITIONALS}
    kinds = {
        name: draw(st.sampled_from(options[name])) if value is ... else value
        for name, value in given.items()
    }
    sizes = {n: draw(st.integers(1, m)) for n, m in (("d_model", 8), ("d_head", 4), ("d_vocab", 9))}
    n_ctx = draw(st.integers(1, 6))
    weights = ta.Weights.random(
        ta.Architecture(heads), **sizes, n_ctx=n_ctx, seed=draw(st.integers(0, 2**16)), **kinds
    )
    batch, seq = draw(st.integers(1, 3)), draw(st.integers(1, n_ctx))
    tokens = np.asarray(
        draw(
            st.lists(
                st.lists(st.integers(0, sizes["d_vocab"] - 1), min_size=seq, max_size=seq),
                min_size=batch,
                max_size=batch,
            )
        )
    )
    return weights, tokens


def assert_agree(trace: ta.Trace, want: dict, rel: float = REL) -> None:
    assert rel_error(trace.logits, want["logits"]) <= rel
    for got_s, want_s, got_p, want_p in zip(
        trace.scores, want["scores"], trace.patterns, want["patterns"]
    ):
        assert rel_error(got_s, want_s) <= rel
        assert rel_error(got_p, want_p) <= rel


@settings(max_examples=150, deadline=None)
@given(data=real_models())
def test_the_conventional_pass_is_transformer_lens_s(data):
    """Logits, unscaled scores, patterns and LayerNorm scales against the numpy reference,
    over normalization × biases × positional kind."""
    weights, tokens = data
    trace = ta.AttentionOnlyTransformer(weights).run(tokens)
    want = reference(weights, tokens)
    assert_agree(trace, want)
    if weights.normalization is None:
        assert trace.ln_scale is None and trace.ln_final_scale is None
    else:
        assert rel_error(trace.ln_final_scale, want["final_scale"]) <= REL
        for got, expected in zip(trace.ln_scale, want["scales"]):
            assert got.shape == tokens.shape and rel_error(got, expected) <= REL


def test_every_combination_is_drawn_and_agrees():
    """The Hypothesis test above samples the kinds; here each of the 18 combinations once."""
    worst = 0.0
    for normalization in NORMALIZATIONS:
        for biases in (False, True):
            for positional in POSITIONALS:
                w = ta.Weights.random(
                    ta.Architecture((2, 0, 3)),
                    d_model=8,
                    d_head=4,
                    d_vocab=11,
                    n_ctx=6,
                    normalization=normalization,
                    biases=biases,
                    positional=positional,
                    seed=3,
                )
                tokens = np.array([[1, 2, 3, 4, 5, 6], [6, 0, 10, 2, 2, 1]])
                trace, want = ta.AttentionOnlyTransformer(w).run(tokens), reference(w, tokens)
                assert_agree(trace, want)
                worst = max(worst, rel_error(trace.logits, want["logits"]))
    assert worst <= REL


def test_shortformer_positions_reach_only_queries_and_keys():
    w = ta.Weights.random(
        ta.Architecture((2,)), d_model=8, d_head=4, d_vocab=11, n_ctx=5, positional="shortformer"
    )
    trace = ta.AttentionOnlyTransformer(w).run([[1, 2, 3]])
    np.testing.assert_array_equal(trace.residual[0], w.W_E.T[[[1, 2, 3]]])  # no W_pos
    assert w.architecture == ta.Architecture((2,), positional="shortformer")


def test_random_draws_the_matrices_as_before_and_the_parameters_as_documented():
    arch = ta.Architecture((2, 1), positional="standard")
    plain = ta.Weights.random(arch, d_model=8, d_head=4, d_vocab=11, n_ctx=5)
    real = ta.Weights.random(
        arch, d_model=8, d_head=4, d_vocab=11, n_ctx=5, normalization="LN", biases=True
    )
    for name in ("W_E", "W_U", "W_pos"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(real, name))
    assert plain.is_idealised and not plain.has_biases and plain.normalization is None
    assert real.has_biases and real.normalization == "LN" and real.eps == 1e-5
    assert all(np.all(b != 0) for b in (*real.b_Q, *real.b_O, real.b_U))
    assert all(abs(w - 1).max() < 0.6 for w in (*real.ln_w, real.ln_final_w))
    assert [b.shape for b in real.b_K] == [(2, 4), (1, 4)]
    assert "biases=True" in repr(real) and "normalization='LN'" in repr(real)


def test_gpt2_init_draws_the_same_normals_at_gpt2s_scales():
    arch = ta.Architecture((2, 1, 3), positional="standard")
    sizes = dict(d_model=64, d_head=16, d_vocab=200, n_ctx=40, seed=3)
    fan_in = ta.Weights.random(arch, **sizes)
    gpt2 = ta.Weights.random(arch, **sizes, init="gpt2")
    write = 0.02 / np.sqrt(2 * 3)
    pairs = [("W_E", 0.02, 1.0), ("W_U", 0.02, 64**-0.5), ("W_pos", 0.01, 1.0)]
    for name, scale, was in pairs:
        np.testing.assert_allclose(getattr(gpt2, name), getattr(fan_in, name) * scale / was)
    for layer in range(3):
        np.testing.assert_allclose(gpt2.W_V[layer], fan_in.W_V[layer] * 0.02 / 64**-0.5)
        np.testing.assert_allclose(gpt2.W_O[layer], fan_in.W_O[layer] * write / 16**-0.5)
    assert abs(gpt2.W_U.std() - 0.02) < 0.002 and abs(gpt2.W_E.std() - 0.02) < 0.002


def test_the_model_gives_back_its_weights():
    for kinds in (
        {"normalization": "LN", "biases": True},
        {"normalization": "LNPre"},
        {"positional": "shortformer", "biases": True},
    ):
        for heads in ((), (1, 2)):
            w = ta.Weights.random(
                ta.Architecture(heads), d_model=4, d_head=2, d_vocab=5, n_ctx=3, **kinds
            )
            back = ta.AttentionOnlyTransformer(w).weights
            assert (back.normalization, back.has_biases, back.positional) == (
                w.normalization,
                w.has_biases,
                w.positional,
            )
            if w.has_biases:
                np.testing.assert_array_equal(back.b_U, w.b_U)


def test_the_weights_view_shares_the_parameters_and_the_weights_are_a_copy():
    w = ta.Weights.random(
        ta.Architecture((2, 1), positional="standard"), d_model=8, d_head=4, d_vocab=11, n_ctx=5
    )
    model = ta.AttentionOnlyTransformer(w)
    view, copy = model.weights_view(), model.weights
    for name in ("W_E", "W_U", "W_pos"):
        parameter = getattr(model, name).detach().numpy()
        assert np.shares_memory(getattr(view, name), parameter)
        assert not np.shares_memory(getattr(copy, name), parameter)
        assert not getattr(view, name).flags.writeable
        np.testing.assert_array_equal(getattr(view, name), getattr(copy, name))
    assert np.shares_memory(view.W_V[1], model.layers[1].W_V.detach().numpy())
    with torch.no_grad():
        model.W_U.mul_(2.0)
    np.testing.assert_array_equal(copy.W_U, w.W_U)  # the copy stays
    np.testing.assert_array_equal(view.W_U, 2.0 * w.W_U)  # the view follows
    bound = Bindings(model, model.run([[1, 2, 3]]))
    assert np.shares_memory(bound.weights.W_E, model.W_E.detach().numpy())
    with pytest.raises(ta.WeightsError, match=re_escape("weights must be finite")):
        with torch.no_grad():
            model.W_E[0, 0] = float("nan")
        model.weights_view()  # checked as the copy is


# --- folding -------------------------------------------------------------------------------


def fold_all(w: ta.Weights) -> ta.Weights:
    return ta.fold_value_biases(ta.center_writing_weights(ta.fold_ln(w)))


FOLDINGS = {
    "fold_ln": (ta.fold_ln, {"normalization": "LN"}),
    "center_writing_weights": (ta.center_writing_weights, {"normalization": "LN"}),
    "fold_value_biases": (ta.fold_value_biases, {"biases": True}),
    "all three": (fold_all, {"normalization": "LN", "biases": True}),
}


@pytest.mark.parametrize("name", FOLDINGS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_folded_model_gives_the_same_logits_and_patterns(name, data):
    fold, needs = FOLDINGS[name]
    positional = data.draw(st.sampled_from((None, "standard")))
    if name in ("center_writing_weights", "fold_value_biases"):
        positional = data.draw(st.sampled_from(POSITIONALS))
    weights, tokens = data.draw(real_models(**{"positional": positional, **needs}))
    original = ta.AttentionOnlyTransformer(weights).run(tokens)
    folded = ta.AttentionOnlyTransformer(fold(weights)).run(tokens)
    assert rel_error(folded.logits, original.logits) <= REL
    for got, want in zip(folded.patterns, original.patterns):
        assert rel_error(got, want) <= REL


def test_folding_gives_the_simpler_model():
    w = ta.Weights.random(
        ta.Architecture((2, 2), positional="standard"),
        d_model=8,
        d_head=4,
        d_vocab=11,
        n_ctx=5,
        normalization="LN",
        biases=True,
    )
    folded = fold_all(w)
    assert folded.normalization == "LNPre" and folded.ln_w is None and folded.ln_final_b is None
    assert all(np.all(b == 0) for b in folded.b_V)
    for array in (folded.W_E, folded.W_pos, *folded.W_O):
        assert abs(array.mean(-2)).max() < 1e-15  # mean over d_model
    assert max(abs(b.mean()) for b in folded.b_O) < 1e-15
    assert w.normalization == "LN" and w.ln_w is not None  # the argument is left alone
    unbiased = ta.Weights.random(
        ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3, normalization="LN"
    )
    assert ta.fold_ln(unbiased).has_biases  # W_Q b and W_U b_f become biases


def test_folding_keeps_float32():
    w = ta.Weights.random(
        ta.Architecture((1,)),
        d_model=4,
        d_head=2,
        d_vocab=5,
        n_ctx=3,
        normalization="LN",
        biases=True,
        dtype="float32",
    )
    assert fold_all(w).dtype == np.float32


# --- refusals ------------------------------------------------------------------------------


def small(**kinds):
    return ta.Weights.random(
        ta.Architecture((2,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3, **kinds
    )


@pytest.mark.parametrize(
    "kinds, call, fragment",
    [
        (
            {},
            ta.fold_ln,
            "fold_ln needs a model with LayerNorm weights (normalization 'LN'); this one has "
            "normalization None",
        ),
        ({"normalization": "LNPre"}, ta.fold_ln, "normalization 'LNPre'"),
        (
            {"normalization": "LN", "positional": "shortformer"},
            ta.fold_ln,
            "each layer's LayerNorm weight would need its own W_pos",
        ),
        (
            {"biases": True},
            ta.center_writing_weights,
            "center_writing_weights needs a model with LayerNorm",
        ),
        (
            {"normalization": "LN"},
            ta.fold_value_biases,
            "fold_value_biases needs a model with biases; this one has none",
        ),
    ],
)
def test_a_folding_refuses_weights_it_does_not_apply_to(kinds, call, fragment):
    with pytest.raises(ta.FoldingError, match=re_escape(fragment)):
        call(small(**kinds))


def test_a_folding_needs_weights():
    with pytest.raises(ta.FoldingError, match=re_escape("fold_ln needs ta.Weights, got dict")):
        ta.fold_ln({})


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_the_conventional_pass_of_a_real_model_runs():
    model = ta.AttentionOnlyTransformer(
        small(normalization="LN", biases=True, positional="shortformer")
    )
    assert model([[1, 2, 3]]).shape == (1, 3, 5)
    assert model.run([[1, 2, 3]]).ln_scale[0].shape == (1, 3)


def _bad(**changes):
    """Keyword arguments for ta.Weights from a valid LN model with biases, then ``changes``."""
    w = small(normalization="LN", biases=True, positional="standard")
    names = (
        "W_E",
        "W_U",
        "W_Q",
        "W_K",
        "W_V",
        "W_O",
        "W_pos",
        "b_Q",
        "b_K",
        "b_V",
        "b_O",
        "b_U",
        "ln_w",
        "ln_b",
        "ln_final_w",
        "ln_final_b",
        "normalization",
        "eps",
    )
    return {**{n: getattr(w, n) for n in names}, **changes}


NAN = np.array([1.0, np.nan, 1.0, 1.0])
BAD = [
    (_bad(ln_w=[np.ones(5)]), "ln_w[0] has shape (5,), expected (4,) = [d_model]"),
    (_bad(ln_final_b=np.ones(3)), "ln_final_b has shape (3,), expected (4,) = [d_model]"),
    (_bad(b_Q=[np.zeros((2, 3))]), "b_Q[0] has shape (2, 3), expected (2, 2) = [n_heads, d_head]"),
    (_bad(b_V=[np.zeros((1, 2))]), "b_V[0] has shape (1, 2), expected (2, 2) = [n_heads, d_head]"),
    (_bad(b_O=[np.zeros(5)]), "b_O[0] has shape (5,), expected (4,) = [d_model]"),
    (_bad(b_U=np.zeros(4)), "b_U has shape (4,), expected (5,) = [d_vocab]"),
    (_bad(b_K=[np.zeros((2, 2)), np.zeros((2, 2))]), "b_K has 2 layers, but W_Q has 1"),
    (_bad(b_O=np.zeros(4)), "b_O must be a sequence with one array per layer"),
    (_bad(ln_w=[NAN]), "ln_w[0][1] is nan: weights must be finite"),
    (_bad(ln_b=[NAN]), "ln_b[0][1] is nan"),
    (_bad(ln_final_w=NAN), "ln_final_w[1] is nan"),
    (_bad(b_O=[NAN]), "b_O[0][1] is nan"),
    (_bad(b_U=np.array([0, 0, np.inf, 0, 0])), "b_U[2] is inf"),
    (_bad(b_Q=[np.array([[0, np.nan], [0, 0]])]), "b_Q[0][0, 1] is nan"),
    (_bad(ln_w=None), "normalization 'LN' needs its weights and biases: ln_w missing"),
    (_bad(ln_final_w=None, ln_final_b=None), "ln_final_w, ln_final_b missing"),
    (
        _bad(normalization="LNPre"),
        "ln_w, ln_b, ln_final_w, ln_final_b given, but normalization is 'LNPre'",
    ),
    (_bad(normalization=None), "given, but normalization is None"),
    (_bad(normalization="RMS"), "normalization is 'RMS': expected one of None, 'LN', 'LNPre'"),
    (_bad(eps=0), "eps is 0: expected a positive, finite number"),
    (_bad(eps=-1e-5), "eps is -1e-05: expected a positive, finite number"),
    (_bad(eps=float("nan")), "eps is nan"),
    (_bad(eps="1e-5"), "eps is '1e-5': expected a positive number"),
    (_bad(b_U=None), "the biases come all together: b_Q, b_K, b_V, b_O given, b_U missing"),
    (_bad(ln_b=[np.ones(4, dtype=np.float32)]), "ln_b[0] has dtype float32, but W_E has float64"),
    (
        _bad(positional="rotary"),
        "positional is 'rotary': expected one of None, 'standard', 'shortformer'",
    ),
    (
        _bad(W_pos=None, positional="shortformer", n_ctx=3),
        "positional is 'shortformer', but there is no W_pos",
    ),
]


@pytest.mark.parametrize("kwargs, fragment", BAD)
def test_bad_parameters_are_refused(kwargs, fragment):
    with pytest.raises(ta.WeightsError, match=re_escape(fragment)):
        ta.Weights(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"normalization": "RMSPre"}, ta.WeightsError, "normalization is 'RMSPre'"),
        ({"biases": 1}, ta.WeightsError, "biases is 1: expected True or False"),
        ({"positional": "rotary"}, ta.WeightsError, "positional is 'rotary'"),
        ({"init": "xavier"}, ta.WeightsError, "init is 'xavier'"),
        ({"init": None}, ta.WeightsError, "init is None"),
    ],
)
def test_bad_random_options_are_refused(kwargs, error, fragment):
    with pytest.raises(error, match=re_escape(fragment)):
        small(**kwargs)


def test_random_positional_must_agree_with_the_architecture():
    arch = ta.Architecture((1,), positional="standard")
    with pytest.raises(
        ta.WeightsError,
        match="positional is 'shortformer', but the architecture has 'standard'",
    ):
        ta.Weights.random(arch, d_model=4, d_head=2, d_vocab=5, n_ctx=3, positional="shortformer")
