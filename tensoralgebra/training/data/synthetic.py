"""Synthetic token data with a known ground truth: repeated random sequences (the induction task)
and planted skip-trigrams on a noise background.

Every generator is vectorised numpy and draws only from the generator it is handed, so a batch is
a function of ``(seed, step)`` alone (see :mod:`tensoralgebra.training.data.base`). Each dataset's
:meth:`~SyntheticData.sample` returns the tokens together with their ground truth; ``batch`` is
its tokens. A dataset's own ``seed`` (the *data seed*) fixes what the data is (the planted
triples, the Markov chain) and its held-out set; the run's seed only picks which batches are seen.

>>> import numpy as np
>>> data = InductionData(d_vocab=10, min_period=3, max_period=3)
>>> s = data.sample(np.random.default_rng(0), batch_size=1, n_ctx=8)
>>> s.tokens
array([[8, 6, 5, 8, 6, 5, 8, 6]])
>>> s.truth["predictable"].astype(int)
array([[0, 0, 0, 1, 1, 1, 1, 1]])
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.training.data.base import TokenData, batch_shape
from tensoralgebra.validation import fraction, integer, optional_integer, positive_integer, seed

__all__ = ["InductionData", "Sample", "SkipTrigramData", "SyntheticData"]

#: The largest vocabulary a synthetic dataset draws from.
MAX_SYNTHETIC_VOCAB = 2**16
#: Mixed into the data seed for the held-out set, so it is no run's training stream.
HELD_OUT_STREAM = 0x48454C44


@dataclass(frozen=True)
class Sample:
    """Token sequences ``tokens`` [batch, n_ctx] (int64) and their ground truth: arrays named
    by each dataset's :meth:`SyntheticData.sample`, with a leading batch axis."""

    tokens: np.ndarray
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def vocabulary_size(d_vocab: object, low: int = 2) -> int:
    """``d_vocab`` checked to lie in ``low .. MAX_SYNTHETIC_VOCAB``."""
    return integer(
        d_vocab,
        "d_vocab",
        low=low,
        high=MAX_SYNTHETIC_VOCAB + 1,
        context=f"expected {low}..{MAX_SYNTHETIC_VOCAB} tokens",
    )


def seed_value(value: object) -> int:
    """A data seed (0 .. 2**32 - 1)."""
    return seed(value, "seed")


class SyntheticData(TokenData):
    """A generated dataset: subclasses define :meth:`sample`; batches and the held-out set are
    its tokens (the held-out set drawn from the data seed alone)."""

    seed: int

    @abstractmethod
    def sample(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> Sample:
        """Sequences [batch_size, n_ctx] and their ground truth, drawn with ``rng`` only."""

    def batch(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> np.ndarray:
        """``sample(rng, batch_size, n_ctx).tokens`` [batch_size, n_ctx]."""
        return self.sample(rng, batch_size, n_ctx).tokens

    def held_out(self, n_ctx: int, n_sequences: int) -> np.ndarray:
        """``n_sequences`` sequences [n_sequences, n_ctx] drawn from the data seed and ``n_ctx``
        alone: the same on every call, and from no run's stream of batches."""
        return self.held_out_sample(n_ctx, n_sequences).tokens

    def held_out_sample(self, n_ctx: int, n_sequences: int) -> Sample:
        """The held-out sequences with their ground truth."""
        n_sequences, n_ctx = batch_shape(n_sequences, n_ctx, rows="n_sequences")
        rng = np.random.default_rng([self.seed, n_ctx, HELD_OUT_STREAM])
        return self.sample(rng, n_sequences, n_ctx)


class InductionData(SyntheticData):
    """Repeated random token sequences, the induction task of Olsson et al. (2022): a row is a
    prefix of ``m`` uniform random tokens repeated until ``n_ctx`` is filled, ``m`` uniform in
    ``min_period .. max_period`` per row (``max_period`` ``None``: ``n_ctx // 2``, so every row
    repeats at least once). A fraction ``1 - repeat_fraction`` of the rows are plain uniform
    random tokens instead.

    Ground truth of :meth:`sample`: ``period`` [batch] (``m``, 0 for a random row) and
    ``predictable`` [batch, n_ctx] (bool), true at the positions ``i >= m`` of a repeated row,
    whose token is a copy of the token ``m`` positions back: predicting it from the context up to
    ``i - 1`` is what an induction head does (find the earlier occurrence of token ``i - 1``,
    copy the token that followed it).

    >>> import numpy as np
    >>> data = InductionData(d_vocab=50, min_period=5, max_period=9)
    >>> s = data.sample(np.random.default_rng(1), batch_size=3, n_ctx=32)
    >>> m = s.truth["period"]
    >>> all((s.tokens[b, m[b]:] == s.tokens[b, :32 - m[b]]).all() for b in range(3))
    True
    """

    name = "synthetic-induction"

    def __init__(
        self,
        d_vocab: int = 64,
        min_period: int = 4,
        max_period: int | None = None,
        repeat_fraction: float = 1.0,
        seed: int = 0,
    ):
        self.d_vocab = vocabulary_size(d_vocab)
        self.min_period = positive_integer(min_period, "min_period")
        self.max_period = optional_integer(
            max_period,
            "max_period",
            low=self.min_period,
            context=f"expected at least min_period ({self.min_period})",
        )
        self.repeat_fraction = fraction(repeat_fraction, "repeat_fraction")
        self.seed = seed_value(seed)

    def periods(self, n_ctx: int) -> tuple[int, int]:
        """The range of periods ``(low, high)`` used at context length ``n_ctx``."""
        high = n_ctx // 2 if self.max_period is None else self.max_period
        if high < self.min_period or 2 * high > n_ctx:
            longest = self.min_period if self.max_period is None else self.max_period
            raise TensorAlgebraError(
                f"n_ctx {n_ctx} is too short for periods up to {longest} to repeat once: "
                f"expected n_ctx >= {2 * longest}"
            )
        return self.min_period, high

    def sample(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> Sample:
        """Sequences [batch_size, n_ctx] with ``period`` [batch_size] and ``predictable``
        [batch_size, n_ctx]."""
        batch_size, n_ctx = batch_shape(batch_size, n_ctx)
        low, high = self.periods(n_ctx)
        raw = rng.integers(0, self.d_vocab, size=(batch_size, n_ctx))
        period = rng.integers(low, high + 1, size=batch_size)
        period[rng.random(batch_size) >= self.repeat_fraction] = 0
        position = np.arange(n_ctx)
        # Row b reads raw[b, i mod m]; a random row (m = 0) reads raw[b, i].
        source = np.where(period[:, None] > 0, position % np.maximum(period, 1)[:, None], position)
        tokens = np.take_along_axis(raw, source, axis=1)
        predictable = (period[:, None] > 0) & (position >= period[:, None])
        return Sample(tokens, {"period": period, "predictable": predictable})

    def definition(self) -> dict:
        return {
            "generator": "a random prefix of period m repeated; m uniform per row",
            "min_period": self.min_period,
            "max_period": self.max_period,
            "max_period_default": "n_ctx // 2",
            "repeat_fraction": self.repeat_fraction,
            "seed": self.seed,
        }


class SkipTrigramData(SyntheticData):
    """Planted skip-trigrams ``[A] … [B] → [C]`` on a background of uniform noise.

    The vocabulary is split, from the data seed, into ``n_b`` *B* tokens, ``n_b * a_per_b``
    *A* tokens (``a_per_b`` for each B) and the noise tokens; each triple ``(A, B, C)`` maps an
    A and its B to a C drawn from the noise tokens, the ``a_per_b`` triples of one B having
    distinct C's, so that predicting C needs A (a skip-trigram, not a bigram). A row is uniform
    noise cut into ``plants`` (``None``: ``n_b``) equal segments; each segment holds one
    planted triple: A at some position, its B later, and after B the token C with probability
    ``fire_rate`` (noise otherwise). A row's plants have distinct B's, and A and B tokens occur
    nowhere else, so every B is preceded by exactly one of its A's.

    Ground truth: :attr:`triples` [n_b * a_per_b, 3] (A, B, C); from :meth:`sample`
    ``trigger`` [batch, n_ctx] (bool, the positions holding a B), ``fired`` [batch, n_ctx] (bool,
    the triggers whose next token is the plant's C) and ``triple`` [batch, n_ctx] (the index
    into :attr:`triples` at triggers, -1 elsewhere). After a trigger the next token is C with
    probability :meth:`rule_probability` (the plant fires, or the noise happens to be C).

    >>> import numpy as np
    >>> data = SkipTrigramData(d_vocab=20, n_b=2, a_per_b=2, plants=2, seed=3)
    >>> s = data.sample(np.random.default_rng(0), batch_size=4, n_ctx=16)
    >>> s.truth["trigger"].sum(axis=1)
    array([2, 2, 2, 2])
    >>> b, i = np.nonzero(s.truth["trigger"])
    >>> bool((s.tokens[b, i] == data.triples[s.truth["triple"][b, i], 1]).all())
    True
    """

    name = "skip-trigrams"

    def __init__(
        self,
        d_vocab: int = 64,
        n_b: int = 4,
        a_per_b: int = 2,
        plants: int | None = None,
        fire_rate: float = 1.0,
        seed: int = 0,
    ):
        self.d_vocab = vocabulary_size(d_vocab, low=4)
        self.n_b = positive_integer(n_b, "n_b")
        self.a_per_b = positive_integer(a_per_b, "a_per_b")
        self.plants = integer(
            self.n_b if plants is None else plants,
            "plants",
            low=1,
            high=self.n_b + 1,
            context=f"expected 1..n_b ({self.n_b})",
        )
        self.fire_rate = fraction(fire_rate, "fire_rate")
        self.seed = seed_value(seed)
        n_reserved = self.n_b * (self.a_per_b + 1)
        if self.d_vocab - n_reserved < max(2, self.a_per_b):
            raise TensorAlgebraError(
                f"d_vocab {self.d_vocab} is too small for {self.n_b} B tokens with "
                f"{self.a_per_b} A tokens each: expected d_vocab >= "
                f"{n_reserved + max(2, self.a_per_b)}"
            )
        self.triples, self.noise = self._plant(np.random.default_rng(self.seed))

    def _plant(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        order = rng.permutation(self.d_vocab)
        n_a = self.n_b * self.a_per_b
        b_tokens, a_tokens = order[: self.n_b], order[self.n_b : self.n_b + n_a]
        noise = np.sort(order[self.n_b + n_a :])
        # Each B's a_per_b C's are distinct noise tokens: argsort of random keys per B.
        picks = np.argsort(rng.random((self.n_b, len(noise))), axis=1)[:, : self.a_per_b]
        triples = np.stack(
            [a_tokens, np.repeat(b_tokens, self.a_per_b), noise[picks].ravel()], axis=1
        )
        return triples, noise

    def rule_probability(self) -> float:
        """P(next token = C | a trigger of the triple (A, B, C)): the fire rate, plus the chance
        that noise drawn in its place is C."""
        return self.fire_rate + (1 - self.fire_rate) / len(self.noise)

    def sample(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> Sample:
        """Sequences [batch_size, n_ctx] with ``trigger``, ``fired`` and ``triple``
        [batch_size, n_ctx]."""
        batch_size, n_ctx = batch_shape(batch_size, n_ctx)
        segment = n_ctx // self.plants
        if segment < 3:
            raise TensorAlgebraError(
                f"n_ctx {n_ctx} is too short for {self.plants} planted skip-trigrams: expected "
                f"n_ctx >= {3 * self.plants}"
            )
        tokens = self.noise[rng.integers(0, len(self.noise), size=(batch_size, n_ctx))]
        shape = (batch_size, self.plants)
        b_index = np.argsort(rng.random((batch_size, self.n_b)), axis=1)[:, : self.plants]
        triple = b_index * self.a_per_b + rng.integers(0, self.a_per_b, size=shape)
        start = np.arange(self.plants) * segment
        pos_a = rng.integers(0, segment - 2, size=shape)
        pos_b = rng.integers(pos_a + 1, segment - 1)
        fired = rng.random(shape) < self.fire_rate
        rows = np.arange(batch_size)[:, None]
        tokens[rows, start + pos_a] = self.triples[triple, 0]
        tokens[rows, start + pos_b] = self.triples[triple, 1]
        row, plant = np.nonzero(fired)
        tokens[row, (start + pos_b + 1)[row, plant]] = self.triples[triple[row, plant], 2]
        truth = {
            "trigger": np.zeros((batch_size, n_ctx), dtype=bool),
            "fired": np.zeros((batch_size, n_ctx), dtype=bool),
            "triple": np.full((batch_size, n_ctx), -1),
        }
        truth["trigger"][rows, start + pos_b] = True
        truth["fired"][rows, start + pos_b] = fired
        truth["triple"][rows, start + pos_b] = triple
        return Sample(tokens, truth)

    def definition(self) -> dict:
        return {
            "generator": "uniform noise with planted skip-trigrams [A] ... [B] -> [C]",
            "n_b": self.n_b,
            "a_per_b": self.a_per_b,
            "plants": self.plants,
            "fire_rate": self.fire_rate,
            "triples": self.triples.tolist(),
            "seed": self.seed,
        }
