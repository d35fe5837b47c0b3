"""``verify``'s memory and its symbolic checks' cost: the estimate it refuses runs with against
what it holds, the weights drawn without float64 copies, the helpers that keep large arrays
out of whole temporaries, and the printed expressions not evaluated twice (with the same
failures when a term's expression is broken), and everything freed by reference counting."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import tensoralgebra as ta
from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.numeric import budget, comparison, evaluation, score_check, term_sample
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.expression_checks import ExpressionChecks
from tensoralgebra.paths import LogitPath
from tensoralgebra.scores import ScorePath

TOKENS = [[1, 2, 3, 4], [4, 3, 2, 1]]


def small_model(heads, seed=0, dtype="float64"):
    weights = ta.Weights.random(
        ta.Architecture(heads), d_model=6, d_head=3, d_vocab=7, n_ctx=5, seed=seed, dtype=dtype
    )
    return ta.AttentionOnlyTransformer(weights)


# --- freed as soon as unused ------------------------------------------------------------------


def test_verify_and_expand_leave_no_reference_cycles():
    # A cycle would hold what it reaches (an expansion's memo, a run's bindings and forward
    # pass) until the cyclic collector ran, and each collection walks every object alive.
    model = small_model((2, 2))
    arch = ta.Architecture((2, 1), normalization="LN", biases=True, positional="shortformer")
    real = ta.AttentionOnlyTransformer(
        ta.Weights.random(arch, d_model=6, d_head=3, d_vocab=7, n_ctx=5, seed=0)
    )
    gc.collect()
    gc.disable()
    try:
        assert ta.verify(model, TOKENS).ok
        assert ta.verify(model, TOKENS, term_budget=4, expansion_limit=8, expr_limit=2).ok
        assert ta.verify(real, TOKENS).ok
        ta.expand(ta.scores(model.architecture, 1, 0))
        ta.evaluate(ta.logits(model.architecture), model, model.run(np.array(TOKENS)))
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable == 0


def test_the_resident_set_is_read():
    assert budget._resident() is None or budget._resident() > 2**20


# --- weights ------------------------------------------------------------------------------------


def test_float32_weights_are_the_float64_draw_rounded():
    arch = ta.Architecture((2, 1))
    sizes = {"d_model": 8, "d_head": 2, "d_vocab": 11, "n_ctx": 4, "seed": 3}
    wide = ta.Weights.random(arch, **sizes)
    narrow = ta.Weights.random(arch, **sizes, dtype="float32")
    for name in ("W_E", "W_U"):
        assert np.array_equal(getattr(wide, name).astype(np.float32), getattr(narrow, name))
    for a, b in zip(wide.W_O, narrow.W_O):
        assert np.array_equal(a.astype(np.float32), b)
    # float64 as it always was: W_E is the first draw of the seed
    expected = np.random.default_rng(3).standard_normal((8, 11))
    assert np.array_equal(wide.W_E, expected)


def test_float32_weights_pass_through_no_float64_copy():
    arch = ta.Architecture((1,))
    sizes = {"d_model": 64, "d_head": 8, "d_vocab": 40_000, "n_ctx": 4}
    nbytes = budget.weights_bytes(arch, sizes, np.dtype(np.float32))
    tracemalloc.start()
    try:
        ta.Weights.random(arch, **sizes, dtype="float32")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # drawn once and copied once by the (frozen) constructor, plus a block of float64 draws;
    # a whole float64 draw of W_E and its scaled copy would add 4 times W_E's float32 bytes
    assert peak <= 2 * nbytes + 3 * 8 * 2**20, (peak, nbytes)


# --- the estimate against what a run holds -----------------------------------------------------


@pytest.mark.parametrize(
    ("heads", "options"),
    [
        ((2, 2, 2), {}),
        ((2, 2, 2), {"term_budget": 20, "expansion_limit": 0}),
        ((3, 3, 3), {"term_budget": 100, "expansion_limit": 0}),
    ],
)
def test_the_estimate_of_held_sides_bounds_what_is_held(monkeypatch, heads, options):
    held = []
    walk = score_check.LayerSides.walk

    def spy(self):
        walk(self)
        conventional = 0 if self.conventional is None else self.conventional.nbytes
        held.append(self.stack.nbytes + conventional)

    monkeypatch.setattr(score_check.LayerSides, "walk", spy)
    model = small_model(heads)
    assert ta.verify(model, TOKENS, **options).ok
    arch = model.architecture
    sizes = {"d_model": 6, "d_head": 3, "d_vocab": 7, "n_ctx": 5, "batch": 2, "seq": 4}
    sizes |= {"itemsize": 8, "max_bytes": budget.MEMORY_BUDGET}
    limits = {"expr_limit": 256, "expansion_limit": options.get("expansion_limit", 4096)}
    parts = budget.verify_parts(
        arch, None, True, sizes, options.get("term_budget", budget.TERM_BUDGET), limits
    )
    # the estimate counts the head's query sides too when every pair is checked (3 streams)
    assert max(held) <= parts["sides"] <= 3 * max(held), (held, parts)


def test_a_refusal_names_a_term_budget_the_same_estimate_lets_through():
    arch = ta.Architecture((4, 4, 4))
    weights = ta.Weights.random(arch, d_model=64, d_head=8, d_vocab=50, n_ctx=32)
    model = ta.AttentionOnlyTransformer(weights)
    tokens = np.zeros((2, 32), dtype=np.int64)
    sizes = {"d_model": 64, "d_head": 8, "d_vocab": 50, "n_ctx": 32, "batch": 2, "seq": 32}
    sizes |= {"itemsize": 8, "on_host": True}
    limit = 5 * 2**20
    with pytest.raises(ExpansionLimitError) as info:
        ta.verify(model, tokens, max_bytes=limit, expansion_limit=0)
    assert info.value.option == "term_budget"
    fits = info.value.value
    limits = {"expr_limit": 256, "expansion_limit": 0}
    sizes["max_bytes"] = limit
    assert budget.verify_bytes(arch, None, True, sizes, fits, limits) <= limit
    assert budget.verify_bytes(arch, None, True, sizes, fits + 1, limits) > limit
    report = ta.verify(model, tokens, max_bytes=limit, expansion_limit=0, term_budget=fits)
    assert report.ok, report.table()


# --- helpers that avoid whole temporaries ------------------------------------------------------


def test_the_spectral_norm_of_a_tall_matrix_by_its_gram_matrix(monkeypatch):
    m = np.random.default_rng(0).standard_normal((300, 7)).astype(np.float32)
    exact = float(np.linalg.norm(m.astype(np.float64), 2))
    monkeypatch.setattr(comparison, "GRAM", 64)
    assert comparison.norm2(m) == pytest.approx(exact, rel=1e-12)
    assert comparison.norm2(m.T) == pytest.approx(exact, rel=1e-12)
    m[200, 3] = np.inf
    assert comparison.norm2(m) == np.inf


def test_errors_and_scales_by_blocks_equal_the_whole(monkeypatch):
    rng = np.random.default_rng(1)
    got, want = rng.standard_normal((2, 5, 9)), rng.standard_normal((2, 5, 9))
    whole = comparison.errors(got, want, 2.0), comparison.scale(got, want, 0.5)
    monkeypatch.setattr(comparison, "BLOCK", 10)
    assert (comparison.errors(got, want, 2.0), comparison.scale(got, want, 0.5)) == whole
    got[1, 4, 8] = np.nan
    assert np.isnan(comparison.errors(got, want, 1.0)[0])
    assert np.isnan(comparison.scale(got, want))


def test_a_mask_and_a_set_of_pair_codes_draw_the_same_sample(monkeypatch):
    arch = ta.Architecture((3, 3, 3))
    q = term_sample.score_sides(arch, 2, "query", None)
    k = term_sample.score_sides(arch, 2, "key", None)
    masked = term_sample.pick_pairs(q, k, 150, 7)
    monkeypatch.setattr(term_sample, "MASKED", 0)
    assert np.array_equal(term_sample.pick_pairs(q, k, 150, 7), masked)
    assert len(masked) == 150 and np.all(np.diff(masked) > 0)


def test_cached_sides_give_the_values_computed_afresh_within_their_bytes():
    model = small_model((2, 2, 2))
    arch = model.architecture
    b = Bindings(model, model.record(TOKENS))
    terms = [t.expr for t in ta.score_paths(arch, 2, 1)]
    fresh = [evaluation.Evaluator(b).value(t) for t in terms]
    cached = evaluation.Evaluator(b, cache_bytes=10 * 2 * 4 * 6 * 8)  # ten sides of [2, 4, 6]
    assert all(np.array_equal(cached.value(t), v) for t, v in zip(terms, fresh))
    assert 0 < cached.cached <= cached.cache_bytes and len(cached.cache) <= 10
    cached.clear()
    assert cached.cached == 0 and not cached.cache


# --- printed expressions not evaluated twice ----------------------------------------------------


def broken_expression(monkeypatch, cls, broken, instead):
    """``cls.expr`` of the term ``broken`` replaced by the expression of ``instead``."""
    original = cls.expr

    def expr(self):
        return original.fget(instead) if self == broken else original.fget(self)

    monkeypatch.setattr(cls, "expr", property(expr))


def test_a_printed_expression_is_evaluated_once(monkeypatch):
    model = small_model((2, 2))
    calls = []
    one, many = ExpressionChecks.evaluate, ExpressionChecks.evaluate_many
    monkeypatch.setattr(ExpressionChecks, "evaluate", lambda s, e: calls.append(e) or one(s, e))
    monkeypatch.setattr(
        ExpressionChecks, "evaluate_many", lambda s, es: calls.extend(es) or many(s, es)
    )
    report = ta.verify(model, TOKENS)
    assert report.ok
    expanded = sum(c.expanded or 0 for c in report.checks)
    assert all(c.exprs == c.expanded for c in report.checks if c.expanded)
    assert len(calls) == expanded  # each printed expression is one of ta.expand's terms


@pytest.mark.parametrize("which", ["score", "logit"])
def test_a_broken_expression_fails_the_same_checks_with_or_without_the_expansion(
    monkeypatch, which
):
    model = small_model((2, 2), seed=4)
    arch = model.architecture
    if which == "score":
        paths = list(ta.score_paths(arch, 1, 0))
        cls, name = ScorePath, "scores L1H0"
    else:
        paths = list(ta.logit_paths(arch))
        cls, name = LogitPath, "logits"
    broken_expression(monkeypatch, cls, paths[4], paths[7])
    with_rules = ta.verify(model, TOKENS)
    alone = ta.verify(model, TOKENS, expansion_limit=0)
    failed = {c.name for c in with_rules.checks if not c.ok}
    assert failed == {c.name for c in alone.checks if not c.ok} == {name}
    for report in (with_rules, alone):
        check = next(c for c in report.checks if c.name == name)
        assert check.expr_rel > check.tolerance and check.exprs == len(paths)
    check = next(c for c in with_rules.checks if c.name == name)
    assert any("lacks 1 of the" in f for f in check.failures), check.failures
