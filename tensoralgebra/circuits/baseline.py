"""The random baseline of composition scores: what matrices of the same shapes score by chance.

A composition score compares an earlier (virtual) head's ``W_OV`` [d_model, d_model], of rank
≤ d_head, with a later head's ``W_QK^T``, ``W_QK`` or ``W_OV``, also a product of a
[d_model, d_head] and a [d_head, d_model] matrix. The baseline draws every factor with i.i.d.
Gaussian entries, as :meth:`~tensoralgebra.Weights.random` initialises them (read matrices of
variance ``1/d_model``, write matrices ``1/d_head``). A score does not change when a factor is
scaled, so the variances do not matter, and Q-, K- and V-composition have the same baseline: it
depends on ``d_model``, ``d_head`` and the depth of the earlier path only.

Analytic (docs/composition.md): the earlier ``W_OV = W_O (...)`` has a Gaussian left factor,
so its distribution is unchanged by ``W ↦ U W`` for any orthogonal ``U``; writing ``W = U W'``
with ``U`` Haar-distributed and independent,
``E_U ||M U W'||_F^2 = ||M||_F^2 ||W'||_F^2 / d_model``, hence ``E[score^2] = 1/d_model``
exactly, at every depth and ``d_head``: the root mean square is ``1/sqrt(d_model)``, and the
mean is at most that (Jensen). The mean and spread themselves are
estimated by Monte Carlo from a seed.

>>> b = random_baseline(16, 4, samples=2000, seed=0)
>>> b.rms, round(b.mean, 2), round(b.std, 2), b.mean <= b.rms
(0.25, 0.24, 0.05, True)
>>> bool(abs(b.mean_square - b.rms**2) < 3 * b.mean_square_error)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits import scoring
from tensoralgebra.errors import ExpansionLimitError

#: Most Monte Carlo samples one baseline draws.
MAX_SAMPLES = 100_000
#: Bytes of the Gaussian factors drawn at once (a block of samples).
BLOCK_BYTES = 2**26
#: Largest ``samples × (depth + 1) × d_model × d_head``: the work one baseline may take.
MAX_WORK = 2 * 10**9


@dataclass(frozen=True)
class Baseline:
    """The composition score of random factors of the given shapes: Monte Carlo ``mean``,
    ``std`` (the spread of single scores) and ``mean_square`` with its standard error, and the
    analytic ``rms = 1/sqrt(d_model)``."""

    d_model: int
    d_head: int
    depth: int
    samples: int
    seed: int
    mean: float
    std: float
    mean_square: float
    mean_square_error: float

    @property
    def rms(self) -> float:
        """``sqrt(E[score^2]) = 1/sqrt(d_model)``, exactly (the module's docstring)."""
        return self.d_model**-0.5

    def __str__(self) -> str:
        return (
            f"random baseline (d_model={self.d_model}, d_head={self.d_head}, depth "
            f"{self.depth}): mean {self.mean:.4f} ± {self.std:.4f} (Monte Carlo, {self.samples} "
            f"samples, seed {self.seed}); rms 1/sqrt(d_model) = {self.rms:.4f}"
        )


def random_baseline(
    d_model: int, d_head: int, *, depth: int = 1, samples: int = 1000, seed: int = 0
) -> Baseline:
    """The composition scores of ``samples`` random pairs: an earlier path of ``depth`` heads
    (its ``W_OV`` [d_model, d_model] a product of ``2 depth`` Gaussian factors) read by a
    later head's Gaussian ``X Y``. Refused: work over :data:`MAX_WORK`."""
    d_model = validation.positive_integer(d_model, "d_model")
    d_head = validation.positive_integer(d_head, "d_head")
    depth = validation.positive_integer(depth, "depth")
    samples = validation.positive_integer(samples, "samples", maximum=MAX_SAMPLES)
    seed = validation.seed(seed)
    work = samples * (depth + 1) * d_model * d_head
    if work > MAX_WORK:
        fits = MAX_WORK // ((depth + 1) * d_model * d_head)
        raise ExpansionLimitError(
            f"a baseline of {samples:,} samples of depth {depth} with d_model={d_model} and "
            f"d_head={d_head} would take {work:,} multiply-adds per step, over {MAX_WORK:,}",
            option="samples" if fits else None,
            value=fits or None,
        )
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_BYTES // (8 * 2 * (depth + 1) * d_model * d_head))
    scores = np.concatenate(
        [_draw(rng, min(block, samples - start), d_model, d_head, depth)
         for start in range(0, samples, block)]
    )  # fmt: skip
    squares, ddof = scores**2, int(samples > 1)  # one sample: no spread to estimate
    spread = float(scores.std(ddof=ddof)), float(squares.std(ddof=ddof) / np.sqrt(samples))
    stats = float(scores.mean()), spread[0], float(squares.mean()), spread[1]
    return Baseline(d_model, d_head, depth, samples, seed, *stats)


def _draw(rng, n: int, d_model: int, d_head: int, depth: int) -> np.ndarray:
    """``n`` scores [n] of freshly drawn factors, with the initialisation's variances."""
    read, write = d_model**-0.5, d_head**-0.5

    def gaussian(rows, cols, scale):
        return rng.standard_normal((n, rows, cols)) * scale

    right = gaussian(d_head, d_model, read)  # W_V of the path's first head
    for _ in range(depth - 1):
        right = gaussian(d_head, d_model, read) @ gaussian(d_model, d_head, write) @ right
    first = scoring.earlier(gaussian(d_model, d_head, write), right)
    second = scoring.later(gaussian(d_model, d_head, read), gaussian(d_head, d_model, read))
    return scoring.combine(first, second)
