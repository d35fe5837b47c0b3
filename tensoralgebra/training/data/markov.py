"""Sequences from a random Markov chain: bigram statistics with a known true table.

The chain's transition matrix ``P`` [d_vocab, d_vocab] (``P[i, j]`` = P(next = j | current =
i)) has rows drawn from a symmetric Dirichlet distribution with parameter ``concentration``,
from the data seed: a small concentration makes each row put its mass on few tokens (a model
can learn much), a large one makes rows nearly uniform. A sequence starts at a uniform random
token and follows the chain. The true log-probability of every next token of a sample is part of its
ground truth, so the least loss any model can reach on given sequences is known exactly.

>>> import numpy as np
>>> data = MarkovData(d_vocab=8, concentration=0.5, seed=1)
>>> data.transition_matrix.shape, bool(np.allclose(data.transition_matrix.sum(axis=1), 1))
((8, 8), True)
>>> tokens = data.batch_for(seed=0, step=0, batch_size=2, n_ctx=6)
>>> bool((data.transition_matrix[tokens[:, :-1], tokens[:, 1:]] > 0).all())
True
"""

from __future__ import annotations

import hashlib

import numpy as np

from tensoralgebra.training.data.base import batch_shape
from tensoralgebra.training.data.synthetic import Sample, SyntheticData, seed_value
from tensoralgebra.validation import integer, positive_number

__all__ = ["MAX_MARKOV_VOCAB", "MarkovData"]

#: The largest chain: its matrix of 2048**2 float64 is 32 MiB.
MAX_MARKOV_VOCAB = 2048


class MarkovData(SyntheticData):
    """A random Markov chain over ``d_vocab`` tokens (Dirichlet(``concentration``) rows, from
    ``seed``). Ground truth: :attr:`transition_matrix` [d_vocab, d_vocab] and
    :meth:`true_bigram_table` (its log-probabilities); from :meth:`sample`, ``log_prob``
    [batch, n_ctx - 1], the true log-probability of each next token (minus its mean is the
    true chain's loss)."""

    name = "markov"

    def __init__(self, d_vocab: int = 64, concentration: float = 0.3, seed: int = 0):
        self.d_vocab = integer(
            d_vocab,
            "d_vocab",
            low=2,
            high=MAX_MARKOV_VOCAB + 1,
            context=f"expected 2..{MAX_MARKOV_VOCAB} tokens",
        )
        self.concentration = positive_number(concentration, "concentration")
        self.seed = seed_value(seed)
        rng = np.random.default_rng(self.seed)
        alpha = np.full(self.d_vocab, self.concentration)
        self.transition_matrix = rng.dirichlet(alpha, size=self.d_vocab)
        self.transition_matrix /= self.transition_matrix.sum(axis=1, keepdims=True)
        cdf = np.cumsum(self.transition_matrix, axis=1)
        cdf[:, -1] = 1.0
        # Row r of the chain occupies (r, r + 1] in the flattened, offset CDF, so one
        # searchsorted of current + u draws every row's next token at once.
        self._offset_cdf = (cdf + np.arange(self.d_vocab)[:, None]).ravel()

    def sample(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> Sample:
        """Sequences [batch_size, n_ctx] and ``log_prob`` [batch_size, n_ctx - 1]."""
        batch_size, n_ctx = batch_shape(batch_size, n_ctx)
        tokens = np.empty((batch_size, n_ctx), dtype=np.int64)
        tokens[:, 0] = rng.integers(0, self.d_vocab, size=batch_size)
        uniform = rng.random((batch_size, n_ctx - 1))
        for i in range(1, n_ctx):
            current = tokens[:, i - 1]
            flat = np.searchsorted(self._offset_cdf, current + uniform[:, i - 1], side="right")
            tokens[:, i] = np.clip(flat - current * self.d_vocab, 0, self.d_vocab - 1)
        log_prob = np.log(self.transition_matrix[tokens[:, :-1], tokens[:, 1:]])
        return Sample(tokens, {"log_prob": log_prob})

    def true_bigram_table(self):
        """The true table: :class:`~tensoralgebra.training.data.bigrams.BigramTable` with
        ``log_probs = log P`` (``-inf`` where a transition has probability 0) and no counts."""
        from tensoralgebra.training.data.bigrams import BigramTable

        with np.errstate(divide="ignore"):
            log_probs = np.log(self.transition_matrix)
        return BigramTable(log_probs=log_probs, counts=None, alpha=0.0, source="markov (true)")

    def definition(self) -> dict:
        return {
            "generator": "a Markov chain with Dirichlet(concentration) rows, started uniformly",
            "concentration": self.concentration,
            "seed": self.seed,
            "transition_sha256": hashlib.sha256(self.transition_matrix.tobytes()).hexdigest(),
        }
