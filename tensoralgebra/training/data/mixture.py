"""A mixture of the induction task and a Markov chain: some rows repeat a random prefix, the
others follow a Markov chain, so a model must learn both in-context copying and bigrams.

>>> import numpy as np
>>> data = MixtureData(d_vocab=16, induction_fraction=0.5, seed=2)
>>> s = data.sample(np.random.default_rng(0), batch_size=6, n_ctx=20)
>>> s.tokens.shape, s.truth["source"].tolist()
((6, 20), [1, 0, 0, 0, 1, 1])
>>> bool(s.truth["predictable"][s.truth["source"] == 1].any())
False
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.training.data.base import batch_shape
from tensoralgebra.training.data.markov import MAX_MARKOV_VOCAB, MarkovData
from tensoralgebra.training.data.synthetic import InductionData, Sample, SyntheticData, seed_value
from tensoralgebra.validation import fraction, integer

__all__ = ["MixtureData"]


class MixtureData(SyntheticData):
    """Each row is, with probability ``induction_fraction``, a row of :class:`InductionData`
    (every row repeated: periods ``min_period .. max_period``), and otherwise a row of
    :class:`MarkovData` (``concentration``, the chain drawn from ``seed``), over the same
    ``d_vocab`` tokens.

    Ground truth of :meth:`sample`: ``source`` [batch] (0: induction, 1: Markov), ``period``
    [batch] and ``predictable`` [batch, n_ctx] as for :class:`InductionData` (0 and false on
    Markov rows), ``log_prob`` [batch, n_ctx - 1] as for :class:`MarkovData` (NaN on induction
    rows); the chain's :attr:`markov` and its :meth:`MarkovData.true_bigram_table`.
    """

    name = "synthetic-mixture"

    def __init__(
        self,
        d_vocab: int = 64,
        induction_fraction: float = 0.5,
        min_period: int = 4,
        max_period: int | None = None,
        concentration: float = 0.3,
        seed: int = 0,
    ):
        d_vocab = integer(
            d_vocab,
            "d_vocab",
            low=2,
            high=MAX_MARKOV_VOCAB + 1,
            context=f"expected 2..{MAX_MARKOV_VOCAB} tokens",
        )
        self.seed = seed_value(seed)
        self.induction_fraction = fraction(induction_fraction, "induction_fraction")
        self.induction = InductionData(d_vocab, min_period, max_period, 1.0, self.seed)
        self.markov = MarkovData(d_vocab, concentration, self.seed)
        self.d_vocab = d_vocab

    def sample(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> Sample:
        """Sequences [batch_size, n_ctx] with ``source``, ``period``, ``predictable`` and
        ``log_prob``."""
        batch_size, n_ctx = batch_shape(batch_size, n_ctx)
        source = (rng.random(batch_size) >= self.induction_fraction).astype(np.int64)
        # Both components draw a full batch, so the stream does not depend on the split.
        induction = self.induction.sample(rng, batch_size, n_ctx)
        markov = self.markov.sample(rng, batch_size, n_ctx)
        is_markov = source.astype(bool)
        tokens = np.where(is_markov[:, None], markov.tokens, induction.tokens)
        truth = {
            "source": source,
            "period": np.where(is_markov, 0, induction.truth["period"]),
            "predictable": induction.truth["predictable"] & ~is_markov[:, None],
            "log_prob": np.where(is_markov[:, None], markov.truth["log_prob"], np.nan),
        }
        return Sample(tokens, truth)

    def true_bigram_table(self):
        """The Markov component's true table (:meth:`MarkovData.true_bigram_table`)."""
        return self.markov.true_bigram_table()

    def definition(self) -> dict:
        return {
            "generator": "rows of synthetic-induction or, otherwise, of markov",
            "induction_fraction": self.induction_fraction,
            "induction": self.induction.definition(),
            "markov": self.markov.definition(),
            "seed": self.seed,
        }
