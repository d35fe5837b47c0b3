"""``ta.top_paths``: the top k equal the enumerated top k, contributions are exact, the bounds and
the certificate are upper bounds, ties are broken in enumeration order, bad input is refused."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.cli import main
from tensoralgebra.numeric.path_search import Search, sort_key, target_vector

SMALL = ta.Architecture(heads=(2, 2))


def small_model(arch=SMALL, seed=0, gain=1.0, **sizes):
    """A random model; ``gain`` > 1 scales every W_O up, so that longer paths dominate."""
    sizes = {"d_model": 8, "d_head": 3, "d_vocab": 11, "n_ctx": 8, **sizes}
    weights = ta.Weights.random(arch, **sizes, seed=seed)
    weights = dataclasses.replace(weights, W_O=tuple(gain * w for w in weights.W_O))
    return ta.AttentionOnlyTransformer(weights)


def enumerated(model, tokens, position, g, batch=0):
    """Every path's contribution, by ta.evaluate of its term: {path: value}."""
    trace = model.run(tokens)
    return {
        p: float(ta.evaluate(p.expr, model, trace)[batch, position] @ g)
        for p in ta.logit_paths(model.architecture)
    }


cases = st.tuples(
    st.lists(st.integers(0, 3), min_size=1, max_size=3),  # heads per layer
    st.sampled_from([None, "standard"]),
    st.integers(0, 2**16),  # seed
    st.integers(1, 6),  # k
    st.integers(1, 6),  # seq
    st.sampled_from(["token", "pair", "direction"]),
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(case=cases)
def test_top_k_equal_the_enumerated_top_k_and_the_certificate_bounds_the_rest(case):
    heads, positional, seed, k, seq, kind = case
    model = small_model(ta.Architecture(tuple(heads), positional=positional), seed)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 11, size=(2, seq))
    position, batch = int(rng.integers(0, seq)), int(rng.integers(0, 2))
    target = {"token": 3, "pair": (3, 7), "direction": rng.standard_normal(11)}[kind]
    g = target_vector(target, 11)
    values = enumerated(model, tokens, position, g, batch)
    top = ta.top_paths(model, tokens, k, target=target, position=position, batch=batch)
    scale = max(1.0, max(abs(v) for v in values.values()))
    for path, c in zip(top.paths, top.contributions):
        assert abs(c - values[path]) <= 1e-10 * scale
    assert abs(top.total - sum(values.values())) <= 1e-10 * scale
    ranked = sorted(
        values.items(), key=lambda pv: (-abs(pv[1]), sort_key(pv[0], ("token", "position")))
    )
    want = [abs(v) for _, v in ranked[:k]]
    assert top.exact  # the default budget suffices for models this small
    np.testing.assert_allclose(
        [abs(c) for c in top.contributions], want, rtol=0, atol=1e-10 * scale
    )
    gap = abs(ranked[k - 1][1]) - abs(ranked[k][1]) if len(ranked) > k else np.inf
    if gap > 1e-9 * scale:  # no near-tie at the boundary: the set is determined
        assert set(top.paths) == {p for p, _ in ranked[:k]}
    rest = sum(abs(v) for p, v in values.items() if p not in top.paths)
    assert rest <= top.certificate * (1 + 1e-12) + 1e-12


@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=cases, gain=st.sampled_from([1.0, 4.0]))
def test_each_prefix_bound_is_at_least_the_sum_and_the_largest_of_its_completions(case, gain):
    heads, positional, seed, _, seq, kind = case
    model = small_model(ta.Architecture(tuple(heads), positional=positional), seed, gain)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 11, size=(1, seq))
    position = int(rng.integers(0, seq))
    target = {"token": 3, "pair": (3, 7), "direction": rng.standard_normal(11)}[kind]
    g = target_vector(target, 11)
    values = enumerated(model, tokens, position, g)
    search = Search(model, model.run(tokens[:, : position + 1]), g)
    trace = model.run(tokens[:, : position + 1])
    for prefix in values:
        stream = _stream(model, trace, prefix)
        start = prefix.heads[-1][0] + 1 if prefix.heads else 0
        completions = [
            abs(v)
            for p, v in values.items()
            if p.source == prefix.source
            and p.heads[: prefix.order] == prefix.heads
            and all(layer >= start for layer, _ in p.heads[prefix.order :])
        ]
        total, largest = search.bounds(stream, start)
        assert sum(completions) <= total
        assert max(completions) <= largest <= total


def _stream(model, trace, path):
    """The path's stream [rows, d_model], computed here the plain way: A r W_OV^T per head."""
    w = model.weights
    tokens = trace.tokens[0]
    r = w.W_E[:, tokens].T if path.source == "token" else w.W_pos[:, : len(tokens)].T
    for layer, head in path.heads:
        r = trace.pattern(layer, head)[0] @ r @ (w.W_O[layer][head] @ w.W_V[layer][head]).T
    return torch.from_numpy(np.ascontiguousarray(r))


def test_ties_are_broken_in_enumeration_order():
    model = small_model(ta.Architecture((2, 1)))
    with torch.no_grad():  # the heads of layer 0 write nothing: 4 paths contribute exactly 0
        model.layers[0].W_O.zero_()
    top = ta.top_paths(model, [[1, 2, 3, 4]], 4, target=5)
    assert [str(p) for p in top.paths[:2]] == ["direct", "L1H0"] or top.contributions[1] != 0
    zeros = [str(p) for p, c in zip(top.paths, top.contributions) if c == 0]
    assert zeros == ["L0H0", "L0H1"][: len(zeros)] and zeros
    assert ta.top_paths(model, [[1, 2, 3, 4]], 4, target=5) == top


def test_a_small_budget_is_best_effort_with_an_honest_certificate():
    model = small_model(ta.Architecture((3, 3, 3)), seed=4)
    tokens = [[1, 2, 3, 4, 5, 6]]
    top = ta.top_paths(model, tokens, 5, target=(2, 9), max_expansions=3)
    assert top.expansions == 3 and not top.exact and top.frontier > 0
    values = enumerated(model, tokens, 5, target_vector((2, 9), 11))
    assert sum(abs(v) for p, v in values.items() if p not in top.paths) <= top.certificate
    assert "best effort" in top.table() and "max_expansions" in top.table()


def real_model():
    w = ta.Weights.random(SMALL, d_model=8, d_head=3, d_vocab=11, n_ctx=8, normalization="LN")
    return ta.AttentionOnlyTransformer(w)


BAD = [
    (dict(k=0), "k is 0"),
    (dict(k=2.5), "k is 2.5"),
    (dict(k=True), "k is True"),
    (dict(target=11), "target 11 does not exist: the vocabulary has tokens 0..10"),
    (dict(target=-1), "target -1 does not exist"),
    (dict(target=True), "target is True"),
    (dict(target="3"), "target is '3'"),
    (dict(target=(3, 3)), "needs two different tokens"),
    (dict(target=(3, 11)), "target token 11 does not exist"),
    (dict(target=(3, 1.5)), "must be two integers"),
    (dict(target=np.zeros(11)), "target direction is zero"),
    (dict(target=np.ones(10)), "target direction has shape (10,): expected (11,)"),
    (dict(target=np.full(11, np.nan)), "not finite"),
    (dict(target=torch.ones(3, 11)), "shape (3, 11)"),
    (dict(position=4), "position 4 does not exist: the tokens have positions 0..3"),
    (dict(position=-1), "position -1 does not exist"),
    (dict(batch=1), "batch 1 does not exist"),
    (dict(max_expansions=0), "max_expansions is 0"),
    (dict(max_bytes=0), "max_bytes is 0"),
    (dict(max_bytes=10_000), "over the memory budget of 10,000 bytes"),
    (dict(model=real_model()), "top_paths is not yet supported for models with LayerNorm"),
    (dict(model="model"), "top_paths needs an AttentionOnlyTransformer"),
    (dict(tokens=[[1, 2, 11]]), "11"),
]


@pytest.mark.parametrize(("change", "fragment"), BAD, ids=[f for _, f in BAD])
def test_bad_input_is_refused(change, fragment):
    call = {"model": small_model(), "tokens": [[1, 2, 3, 4]], "k": 3, "target": 3, **change}
    with pytest.raises(ta.TensorAlgebraError) as error:
        ta.top_paths(call.pop("model"), call.pop("tokens"), call.pop("k"), **call)
    assert fragment in str(error.value)


def test_a_memory_refusal_names_a_budget_that_fits():
    model = small_model()
    with pytest.raises(ta.ExpansionLimitError) as error:
        ta.top_paths(model, [[1, 2, 3, 4]], 3, target=3, max_expansions=10**6, max_bytes=10**7)
    assert error.value.option == "max_expansions"
    ta.top_paths(
        model, [[1, 2, 3, 4]], 3, target=3, max_expansions=error.value.value, max_bytes=10**7
    )


CLI_BAD = [
    (["-k", "0"], "-k is 0"),
    (["--target", "50"], "target 50 does not exist"),
    (["--target", "3,3"], "two different tokens"),
    (["--target", "x"], "--target 'x'"),
    (["--target", "1,2,3"], "--target '1,2,3'"),
    (["--position", "16"], "position 16 does not exist: the tokens have positions 0..15"),
    (["--position", "-1"], "position -1 does not exist"),
    (["--max-expansions", "0"], "--max-expansions is 0"),
    (["--normalization", "LN"], "LayerNorm"),
    (["--seed", "-1"], "--seed -1 is out of range"),
    (["--d-vocab", "0"], "--d-vocab is 0"),
    (["--init", "normal"], "invalid choice: 'normal'"),
]


@pytest.mark.parametrize(("extra", "fragment"), CLI_BAD, ids=[f for _, f in CLI_BAD])
def test_bad_command_lines_exit_2_with_one_line(extra, fragment, capsys):
    argv = ["top-paths", "--heads", "2,2", "--target", "3", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err


def test_the_command_prints_the_table(capsys):
    assert (
        main(
            [
                "top-paths",
                "--heads",
                "2,2",
                "--seed",
                "0",
                "--position",
                "5",
                "--target",
                "3",
                "-k",
                "10",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "the top 9 logit paths for the logit of token 3 at position 5" in out
    assert "exact: the top 9 are certain" in out


def test_the_command_searches_a_model_at_gpt2s_initial_scales(capsys):
    argv = ["top-paths", "--heads", "3,3,3", "--d-model", "64", "--init", "gpt2", "--target", "3"]
    assert main([*argv, "-k", "4", "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    weights = ta.Weights.random(
        ta.Architecture((3, 3, 3)), d_model=64, d_head=8, d_vocab=50, n_ctx=16, init="gpt2"
    )
    tokens = np.random.default_rng([0, 1]).integers(0, 50, size=(1, 16))
    top = ta.top_paths(ta.AttentionOnlyTransformer(weights), tokens, 4, target=3)
    assert found["exact"] and top.exact
    assert found["contributions"] == pytest.approx(list(top.contributions), rel=1e-12)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=cases, gain=st.sampled_from([1.0, 4.0]))
def test_each_child_bound_is_at_least_the_sum_and_the_largest_of_the_childs_completions(case, gain):
    heads, positional, seed, _, seq, kind = case
    model = small_model(ta.Architecture(tuple(heads), positional=positional), seed, gain)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 11, size=(1, seq))
    position = int(rng.integers(0, seq))
    target = {"token": 3, "pair": (3, 7), "direction": rng.standard_normal(11)}[kind]
    _check_child_bounds(model, tokens[:, : position + 1], target_vector(target, 11))


@pytest.mark.parametrize("seed", range(12))
def test_child_bounds_hold_where_paths_of_three_heads_dominate(seed):
    """Three layers and W_O scaled up: a child's largest completion is often two heads further,
    the case the bound prices at ||W_OV||_2 before the last two heads."""
    model = small_model(ta.Architecture((2, 2, 2)), seed, gain=4.0)
    tokens = np.random.default_rng(seed).integers(0, 11, size=(1, 5))
    _check_child_bounds(model, tokens, target_vector(3, 11))


def _check_child_bounds(model, tokens, g):
    """Every child's bounds, from each prefix's stream, against its completions' |c| one by one
    (the query is the last position of ``tokens``)."""
    values = enumerated(model, tokens, tokens.shape[1] - 1, g)
    trace = model.run(tokens)
    search = Search(model, trace, g)
    for prefix in values:
        start = prefix.heads[-1][0] + 1 if prefix.heads else 0
        for m, h, total, largest in search.child_bounds(_stream(model, trace, prefix), start):
            child = (*prefix.heads, (m, h))
            completions = [
                abs(v)
                for p, v in values.items()
                if p.source == prefix.source and p.heads[: len(child)] == child
            ]
            assert sum(completions) <= total
            assert max(completions) <= largest
