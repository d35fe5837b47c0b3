"""``verify``'s term budget: a stratified sample that covers every stratum, reports its exact
count, and fails exactly where the full check fails when terms are broken on purpose."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.cli import main
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric import logit_check, quantities, score_check
from tensoralgebra.numeric.term_sample import pick_pairs, pick_paths, score_sides, side_paths

TOKENS = [[1, 2, 3, 4], [4, 3, 2, 1]]


def small_model(heads, seed, **kinds):
    weights = ta.Weights.random(
        ta.Architecture(heads, **kinds), d_model=6, d_head=3, d_vocab=7, n_ctx=5, seed=seed
    )
    return ta.AttentionOnlyTransformer(weights)


def broken_streams(original, broken):
    """``final_streams`` with ``0, 1/(d-1), ..., 1`` added to the restricted stream of every path
    in ``broken`` (not a constant: a LayerNorm centres that away): the per-term reference of those
    terms made wrong, nothing else."""

    def wrong(model, frozen, paths, before=None):
        streams = original(model, frozen, paths, before).clone()
        rows = [i for i, p in enumerate(paths) if p in broken]
        streams[rows] += torch.linspace(0, 1, streams.shape[-1], dtype=streams.dtype)
        return streams

    return wrong


def failing(report) -> dict:
    return {c.name: c.worst_term for c in report.checks if not c.ok}


@settings(max_examples=20, deadline=None, derandomize=True)
@given(data=st.data())
def test_sampled_and_full_verify_agree_on_which_terms_fail(data):
    heads = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3), label="heads"))
    kinds = data.draw(st.sampled_from([{}, {"normalization": "LN", "biases": True}]))
    model = small_model(heads, data.draw(st.integers(0, 100)), **kinds)
    arch = model.architecture
    paths = side_paths(arch, arch.n_layers, None)
    chosen = data.draw(st.sampled_from(paths), label="broken path")
    if chosen.heads and data.draw(st.booleans(), label="break a head"):
        head = data.draw(st.sampled_from(chosen.heads))
        broken = {p for p in paths if head in p.heads}  # every path through a head
    else:
        stratum = (chosen.source, len(chosen.heads))
        broken = {p for p in paths if (p.source, len(p.heads)) == stratum}
    budget = data.draw(st.integers(1, max(1, len(paths) - 1)), label="term_budget")
    seed = data.draw(st.integers(0, 2**32 - 1), label="sample_seed")
    with pytest.MonkeyPatch.context() as mp:
        for module in (logit_check, score_check):
            mp.setattr(module, "final_streams", broken_streams(module.final_streams, broken))
        full = failing(ta.verify(model, TOKENS))
        sampled = ta.verify(
            model, TOKENS, term_budget=budget, sample_seed=seed, expansion_limit=0
        )  # only the sampled sides held
        sampled = failing(sampled)
    assert "logits" in full
    assert set(sampled) == set(full)
    names = {str(p) for p in broken}
    for worst in [*full.values(), *sampled.values()]:
        assert any(side in names for side in worst.split(" × ")), worst


def _strata(paths, indices):
    strata = {(paths[i].source, len(paths[i].heads)) for i in indices}
    heads = {h for i in indices for h in paths[i].heads}
    return strata, heads


architectures = st.builds(
    lambda heads, kinds: ta.Architecture(tuple(heads), **kinds),
    st.lists(st.integers(0, 3), min_size=1, max_size=4),
    st.sampled_from([{}, {"normalization": "LN", "biases": True}, {"positional": "shortformer"}]),
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(arch=architectures, data=st.data())
def test_the_sample_of_logit_terms_covers_every_order_kind_head_and_source(arch, data):
    paths = side_paths(arch, arch.n_layers, None)
    budget = data.draw(st.integers(1, len(paths)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    picked = pick_paths(paths, budget, seed)
    if budget >= len(paths):
        assert picked is None
        return
    assert picked == sorted(set(picked)) and all(0 <= i < len(paths) for i in picked)
    assert _strata(paths, picked) == _strata(paths, range(len(paths)))
    needed = sum(len(x) for x in _strata(paths, range(len(paths))))
    assert len(picked) == budget if budget >= needed else budget <= len(picked) <= needed
    assert picked == pick_paths(paths, budget, seed)  # drawn from the seed


@settings(max_examples=60, deadline=None, derandomize=True)
@given(arch=architectures, data=st.data())
def test_the_sample_of_score_terms_covers_every_pair_of_strata_and_every_head(arch, data):
    layer = data.draw(st.integers(0, arch.n_layers - 1))
    q, k = score_sides(arch, layer, "query", None), score_sides(arch, layer, "key", None)
    n = len(q) * len(k)
    budget = data.draw(st.integers(1, n))
    codes = pick_pairs(q, k, budget, data.draw(st.integers(0, 2**32 - 1)))
    if budget >= n:
        assert codes is None
        return
    assert list(codes) == sorted(set(codes.tolist())) and codes.min() >= 0 and codes.max() < n
    i, j = codes // len(k), codes % len(k)
    q_strata, q_heads = _strata(q, i)
    k_strata, k_heads = _strata(k, j)
    assert (q_strata, q_heads) == _strata(q, range(len(q)))
    assert (k_strata, k_heads) == _strata(k, range(len(k)))
    pairs = {(q[a].source, len(q[a].heads), k[b].source, len(k[b].heads)) for a, b in zip(i, j)}
    assert pairs == {(*s, *t) for s in _strata(q, range(len(q)))[0] for t in k_strata}
    needed = len(q_strata) * len(k_strata) + len(q_heads) + len(k_heads)
    assert len(codes) == budget if budget >= needed else budget <= len(codes) <= needed


def test_the_report_says_exactly_how_many_terms_were_checked_and_how():
    model = small_model((2, 2), 3)
    full = ta.verify(model, TOKENS)
    for c in full.checks:
        if c.checked is not None:
            assert c.checked == c.terms and c.checked_how == f"all {c.terms:,}"
    sampled = ta.verify(model, TOKENS, term_budget=8, sample_seed=7)
    logits = sampled.checks[0]
    assert logits.name == "logits" and logits.terms == 9 and logits.checked == 8
    assert logits.checked_how == (
        "a stratified sample of 8 of 9 (seed 7): every order, kind, head and source"
    )
    assert "    per-term: a stratified sample of 8 of 9 (seed 7)" in sampled.table()
    first = {c.name: c for c in sampled.checks}["scores L0H0"]
    assert first.terms == 1 and first.checked_how == "all 1"
    assert sampled.ok and sampled.to_dict()["checks"][0]["checked"] == 8


def test_progress_bars_count_the_terms_checked(monkeypatch):
    bars = []
    original = quantities.progress

    def recording(total, description, unit=None):
        bars.append((description, total))
        return original(total, description, unit=unit)

    monkeypatch.setattr(quantities, "progress", recording)
    report = ta.verify(small_model((2, 2), 1), TOKENS, term_budget=4)
    checked = {c.name: c.checked for c in report.checks if c.checked is not None}
    totals = {
        d.replace("score terms ", "scores ").replace("logit terms", "logits"): t for d, t in bars
    }
    assert totals == checked and totals["scores L1H0"] < 9  # a sample of the 9


def test_every_checked_score_term_is_within_its_bound_and_the_bound_is_honest():
    model = small_model((2, 2, 1), 5, normalization="LN", biases=True, positional="shortformer")
    report = ta.verify(model, TOKENS)
    assert report.ok, report.table()
    for c in report.checks:
        if c.name.startswith("scores") and c.checked:
            assert 0 <= c.term_rel <= c.tolerance and any("||q - q'||" in n for n in c.notes)


# --- bad input --------------------------------------------------------------------------------

BAD_API = [
    ({"term_budget": 0}, "term_budget is 0: expected a positive integer"),
    ({"term_budget": -1}, "term_budget is -1: expected a positive integer"),
    ({"term_budget": 1.5}, "term_budget is 1.5: expected an integer"),
    ({"term_budget": True}, "term_budget is True: expected an integer, not a bool"),
    ({"sample_seed": -1}, "sample_seed -1 is out of range: expected 0..4294967295"),
    ({"sample_seed": 2**32}, "sample_seed 4294967296 is out of range: expected 0..4294967295"),
    ({"sample_seed": "x"}, "sample_seed is 'x': expected an integer"),
]


@pytest.mark.parametrize(("options", "fragment"), BAD_API, ids=[str(o) for o, _ in BAD_API])
def test_verify_refuses_a_bad_term_budget_or_sample_seed(options, fragment):
    with pytest.raises(TensorAlgebraError, match=None) as info:
        ta.verify(small_model((1,), 0), TOKENS, **options)
    assert fragment in str(info.value)


BAD_CLI = [
    (["--term-budget", "0"], "--term-budget is 0: expected a positive integer"),
    (["--term-budget", "-1"], "--term-budget is -1: expected a positive integer"),
    (["--term-budget", "1.5"], "argument --term-budget: invalid int value: '1.5'"),
    (["--term-budget", "True"], "argument --term-budget: invalid int value: 'True'"),
    (["--sample-seed", "-1"], "--sample-seed -1 is out of range: expected 0..4294967295"),
    (["--sample-seed", "4294967296"], "--sample-seed 4294967296 is out of range"),
    (["--sample-seed", "x"], "argument --sample-seed: invalid int value: 'x'"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_CLI, ids=[" ".join(a) for a, _ in BAD_CLI])
def test_the_cli_refuses_a_bad_term_budget_or_sample_seed(capsys, argv, fragment):
    code = main(["verify", "--heads", "1", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert fragment in err and "Traceback" not in err


def test_the_cli_prints_how_terms_were_checked(capsys):
    assert main(["verify", "--heads", "2,2", "--term-budget", "8", "--sample-seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "per-term: a stratified sample of 8 of 9 (seed 2)" in out
    assert "per-term: all 1" in out  # the scores of L0's heads: 1 term each, within the budget


def test_a_sample_holds_only_the_sides_it_checks():
    model = small_model((2, 2, 2), 4, normalization="LN", biases=True)
    report = ta.verify(model, TOKENS, term_budget=40, expansion_limit=0, expr_limit=4)
    assert report.ok, report.table()
    last = {c.name: c for c in report.checks}["scores L2H1"]
    assert last.checked < last.terms and last.checked_how.startswith("a stratified sample")
