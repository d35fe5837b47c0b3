"""The synthetic datasets' ground truth holds of the sequences they generate: Markov samples'
bigrams converge to the chain, induction rows repeat, planted skip-trigrams fire at the stated
rate."""

from __future__ import annotations

import numpy as np
import pytest

from tensoralgebra.training.data import (
    InductionData,
    MarkovData,
    MixtureData,
    SkipTrigramData,
    bigram_counts,
    bigram_table,
)


def binomial_bound(p, n, sigmas=5.0):
    """A bound on |frequency - p| for n Bernoulli(p) draws that fails with odds below 1e-6."""
    return sigmas * np.sqrt(p * (1 - p) / n) + 1.0 / n


def test_markov_bigrams_converge_to_the_transition_matrix():
    data = MarkovData(d_vocab=8, concentration=0.5, seed=4)
    tokens = data.batch_for(seed=1, step=0, batch_size=256, n_ctx=512)
    counts = bigram_counts(tokens, 8)
    n = counts.sum(axis=1, keepdims=True)
    P = data.transition_matrix
    assert (np.abs(counts / n - P) <= binomial_bound(P, n)).all()
    # The bound is tight enough to tell this chain from another one.
    other = MarkovData(d_vocab=8, concentration=0.5, seed=5).transition_matrix
    assert not (np.abs(counts / n - other) <= binomial_bound(other, n)).all()


def test_markov_truth_is_the_log_probability_of_each_transition():
    data = MarkovData(d_vocab=16, seed=2)
    sample = data.sample(np.random.default_rng(0), batch_size=8, n_ctx=64)
    table = bigram_table(data)
    assert table.counts is None and table.alpha == 0
    assert np.allclose(np.exp(table.log_probs), data.transition_matrix)
    expected = np.log(data.transition_matrix[sample.tokens[:, :-1], sample.tokens[:, 1:]])
    assert np.array_equal(sample.truth["log_prob"], expected)
    assert table.loss(sample.tokens) == pytest.approx(-sample.truth["log_prob"].mean())


def test_a_counted_table_of_a_long_markov_sample_approaches_the_true_one():
    data = MarkovData(d_vocab=8, concentration=1.0, seed=0)
    counted = bigram_table(data.batch_for(0, 0, 256, 512), 8, alpha=0.5)
    gap = np.abs(np.exp(counted.log_probs) - data.transition_matrix).max()
    assert gap < 0.02


@pytest.mark.parametrize("repeat_fraction", [1.0, 0.5, 0.0])
def test_induction_rows_repeat_their_prefix(repeat_fraction):
    data = InductionData(d_vocab=30, min_period=3, max_period=12, repeat_fraction=repeat_fraction)
    s = data.sample(np.random.default_rng(7), batch_size=400, n_ctx=40)
    period, predictable = s.truth["period"], s.truth["predictable"]
    repeated = period > 0
    assert ((period[repeated] >= 3) & (period[repeated] <= 12)).all()
    assert abs(repeated.mean() - repeat_fraction) <= binomial_bound(repeat_fraction, 400)
    for b in np.flatnonzero(repeated):
        m = period[b]
        assert (s.tokens[b, m:] == s.tokens[b, :-m]).all()
        assert predictable[b].tolist() == [False] * m + [True] * (40 - m)
    assert not predictable[~repeated].any()


def test_random_rows_of_the_induction_task_are_uniform():
    data = InductionData(d_vocab=10, repeat_fraction=0.0)
    tokens = data.batch_for(0, 0, batch_size=200, n_ctx=50)
    frequency = np.bincount(tokens.ravel(), minlength=10) / tokens.size
    assert (np.abs(frequency - 0.1) <= binomial_bound(0.1, tokens.size)).all()


def test_the_default_longest_period_is_half_the_context():
    s = InductionData(min_period=2).sample(np.random.default_rng(0), batch_size=2000, n_ctx=20)
    assert s.truth["period"].min() == 2 and s.truth["period"].max() == 10


def test_planted_triples_make_c_depend_on_a_not_only_on_b():
    data = SkipTrigramData(d_vocab=40, n_b=3, a_per_b=3, seed=1)
    a, b, c = data.triples.T
    assert len(set(a)) == 9 and len(set(b)) == 3 and len(set(a) & set(b)) == 0
    for token in set(b):
        assert len(set(c[b == token])) == 3  # one B, three A's, three different C's
    assert not set(c) & (set(a) | set(b))
    assert sorted(data.noise) == sorted(set(range(40)) - set(a) - set(b))


def test_planted_skip_trigrams_occur_and_fire_at_the_stated_rate():
    data = SkipTrigramData(d_vocab=30, n_b=4, a_per_b=2, plants=3, fire_rate=0.7, seed=2)
    s = data.sample(np.random.default_rng(3), batch_size=500, n_ctx=36)
    trigger, fired, triple = s.truth["trigger"], s.truth["fired"], s.truth["triple"]
    assert (trigger.sum(axis=1) == 3).all() and (fired <= trigger).all()
    reserved = np.isin(s.tokens, data.triples[:, :2])
    assert (reserved.sum(axis=1) == 6).all()  # A and B occur in plants only
    rows, positions = np.nonzero(trigger)
    A, B, C = data.triples[triple[rows, positions]].T
    assert (s.tokens[rows, positions] == B).all()
    for row, position, a in zip(rows, positions, A):
        assert a in s.tokens[row, :position]
    follows = s.tokens[rows, positions + 1] == C
    assert (follows[fired[rows, positions]]).all()
    rate = data.rule_probability()
    assert rate == pytest.approx(0.7 + 0.3 / len(data.noise))
    assert abs(follows.mean() - rate) <= binomial_bound(rate, len(follows))
    assert abs(fired.sum() / trigger.sum() - 0.7) <= binomial_bound(0.7, trigger.sum())


def test_noise_between_plants_is_uniform_over_the_noise_tokens():
    data = SkipTrigramData(d_vocab=20, n_b=2, a_per_b=1, plants=1, seed=0)
    s = data.sample(np.random.default_rng(0), batch_size=300, n_ctx=64)
    free = ~np.isin(s.tokens, data.triples[:, :2])
    free[:, 1:] &= ~s.truth["fired"][:, :-1]
    counts = np.bincount(s.tokens[free], minlength=20)[data.noise]
    p = 1 / len(data.noise)
    assert (np.abs(counts / free.sum() - p) <= binomial_bound(p, free.sum())).all()


def test_mixture_rows_come_from_their_stated_component():
    data = MixtureData(d_vocab=12, induction_fraction=0.3, min_period=3, seed=1)
    s = data.sample(np.random.default_rng(2), batch_size=400, n_ctx=24)
    source, period = s.truth["source"], s.truth["period"]
    assert abs((source == 0).mean() - 0.3) <= binomial_bound(0.3, 400)
    for b in np.flatnonzero(source == 0):
        assert (s.tokens[b, period[b] :] == s.tokens[b, : -period[b]]).all()
    markov = source == 1
    P = data.markov.transition_matrix
    assert (P[s.tokens[markov, :-1], s.tokens[markov, 1:]] > 0).all()
    assert np.isfinite(s.truth["log_prob"][markov]).all()
    assert np.isnan(s.truth["log_prob"][~markov]).all()
    assert not s.truth["predictable"][markov].any() and (period[markov] == 0).all()
    assert np.array_equal(bigram_table(data).log_probs, bigram_table(data.markov).log_probs)


@pytest.mark.parametrize(
    "data",
    [
        InductionData(),
        MarkovData(),
        SkipTrigramData(),
        MixtureData(),
    ],
    ids=lambda d: d.name,
)
def test_a_batch_of_64_by_256_takes_milliseconds(data):
    import time

    data.batch_for(0, 0, 64, 256)
    start = time.perf_counter()
    data.batch_for(0, 1, 64, 256)
    assert time.perf_counter() - start < 0.25


@pytest.mark.parametrize("cls", [InductionData, MarkovData, SkipTrigramData, MixtureData])
def test_generators_draw_only_from_the_generator_they_are_given(cls):
    data = cls()
    np.random.seed(0)
    first = data.batch(np.random.default_rng(9), 4, 32)
    np.random.seed(1)
    assert (data.batch(np.random.default_rng(9), 4, 32) == first).all()
    held = data.held_out_sample(32, 4)
    assert (held.tokens == data.held_out(32, 4)).all()
    assert not (held.tokens == data.batch_for(0, 0, 4, 32)).all()
