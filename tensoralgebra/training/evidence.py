"""What a trained model learned, measured as the paper describes it: the bigram table in a
zero-layer model's ``W_U W_E`` (Elhage et al., 2021), and induction heads in a two-layer model
(Olsson et al., 2022). The shipped models' tests assert these figures (docs/training.md).

>>> import tensoralgebra as ta
>>> found = induction_evidence(ta.models.load("two-layer-induction"))
>>> found.formed, found.second_repeat < 0.5 < 3.5 < found.first_repeat
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra.circuits.detectors import (
    THRESHOLD,
    detect_heads,
    in_context_learning_score,
    repeated_random_tokens,
)
from tensoralgebra.circuits.passes import next_token_losses


def direct_path_log_probs(weights) -> np.ndarray:
    """log P(next = j | current = i) [d_vocab, d_vocab] (row ``i``) that the direct path
    ``W_U W_E`` alone predicts: the log-softmax of each token's column of logits."""
    logits = np.asarray(weights.W_U, dtype=np.float64) @ np.asarray(weights.W_E, dtype=np.float64)
    logits = logits - logits.max(axis=0, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=0, keepdims=True))
    return log_probs.T


@dataclass(frozen=True)
class BigramFit:
    """How well a model's direct path matches a bigram ``table``: ``correlation`` of predicted
    and true log P(j | i) over the pairs (i, j) with i among the ``frequent`` most frequent
    tokens and seen at least ``min_count`` times (``pairs`` of them); and the held-out losses
    of the ``model``, the ``bigram`` table and the ``unigram`` frequencies (nats per token)."""

    correlation: float
    pairs: int
    model: float
    bigram: float
    unigram: float


def bigram_fit(model, table, tokens, *, frequent: int = 64, min_count: int = 20) -> BigramFit:
    """Compare ``model``'s direct path with the counted bigram ``table`` (a ``BigramTable``
    with counts), and their losses on ``tokens`` [n, n_ctx] (held-out sequences)."""
    predicted = direct_path_log_probs(model.weights)
    counts = table.counts
    rows = np.argsort(counts.sum(axis=1))[::-1][:frequent]
    seen = counts[rows] >= min_count
    x, y = predicted[rows][seen], table.log_probs[rows][seen]
    frequency = counts.sum(axis=0) + 1.0  # add-one, as the bigram table is smoothed
    unigram = np.log(frequency / frequency.sum())
    return BigramFit(
        correlation=float(np.corrcoef(x, y)[0, 1]),
        pairs=int(seen.sum()),
        model=mean_loss(model, tokens),
        bigram=table.loss(tokens),
        unigram=float(-unigram[np.asarray(tokens)[:, 1:]].mean()),
    )


def mean_loss(model, tokens) -> float:
    """Mean next-token loss (nats) of ``model`` on ``tokens`` [n, n_ctx]."""
    return float(next_token_losses(model.run(np.asarray(tokens)).logits, tokens).mean())


@dataclass(frozen=True)
class InductionEvidence:
    """A two-layer model on repeated random tokens: the mean loss on the ``first_repeat`` and
    ``second_repeat`` halves, the in-context learning score ``icl`` (late minus early token),
    the best layer-0 ``previous_token`` and layer-1 ``induction`` scores with their heads, and
    whether both exceed ``threshold`` (``formed``)."""

    first_repeat: float
    second_repeat: float
    icl: float
    previous_token: float
    previous_head: int
    induction: float
    induction_head: int
    threshold: float

    @property
    def formed(self) -> bool:
        """A previous-token head in layer 0 and an induction head in layer 1."""
        return min(self.previous_token, self.induction) > self.threshold


def induction_evidence(model, *, batch: int = 64, seed: int = 7, threshold: float = THRESHOLD):
    """:class:`InductionEvidence` of ``model`` (two or more layers) on ``batch`` sequences of
    ``n_ctx // 2`` random tokens repeated once, drawn with ``seed``."""
    weights = model.weights
    half = weights.n_ctx // 2
    tokens = repeated_random_tokens(weights.d_vocab, half, batch, seed=seed)
    losses = next_token_losses(model.run(tokens).logits, tokens).mean(axis=0)  # [2 half - 1]
    found = detect_heads(model, tokens, which=("previous_token", "induction"))
    previous, induction = found["previous_token"].scores[0], found["induction"].scores[1]
    return InductionEvidence(
        first_repeat=float(losses[: half - 1].mean()),
        second_repeat=float(losses[half:].mean()),
        icl=in_context_learning_score(model, tokens).score,
        previous_token=float(previous.max()),
        previous_head=int(previous.argmax()),
        induction=float(induction.max()),
        induction_head=int(induction.argmax()),
        threshold=threshold,
    )
