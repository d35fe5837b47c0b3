"""Head detectors: previous-token, duplicate-token and induction scores from attention patterns.

Each detector names, for every query position ``i`` of a token sequence ``t``, the key positions
``j`` it looks for (its *targets*):

===================  ==========================================================================
detector             targets of query ``i``
===================  ==========================================================================
``previous_token``   ``j = i - 1``
``duplicate_token``  ``j < i`` with ``t_j = t_i``: earlier occurrences of the same token
``induction``        ``j < i`` with ``t_{j-1} = t_i``: the token after an earlier occurrence
                     (Olsson et al., 2022)
===================  ==========================================================================

A head's score is the attention its pattern ``A^h`` [batch, seq, seq] puts on the targets,
``Σ_j A^h[i, j]`` over the targets of ``i``, averaged over every query (of every sequence) that
has a target. The *baseline* is that score for uniform causal attention (``A[i, j] = 1/(i+1)``) on
the same tokens: what a head that ignores the tokens scores. Heads scoring above the threshold
(:data:`THRESHOLD`, 0.4: docs/detectors.md says why) are flagged.

By default the tokens are :func:`repeated_random_tokens`: a random sequence of ``n_ctx // 2``
tokens, then the same sequence again, where an induction head's targets are unambiguous.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture(heads=(2, 1)), d_model=8, d_head=4, d_vocab=20, n_ctx=10)
>>> found = induction_scores(ta.AttentionOnlyTransformer(w))
>>> found.scores[1].shape, round(found.baseline, 4), found.threshold
((1,), 0.1714, 0.4)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits.passes import check_dataset, chunks, next_token_losses
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.budget import MEMORY_BUDGET

#: The detectors, in the order :func:`detect_heads` runs them.
DETECTORS = ("previous_token", "duplicate_token", "induction")
#: Default score above which a head is flagged (docs/detectors.md: the choice of 0.4).
THRESHOLD = 0.4
#: Default number of repeated random sequences the detectors read.
BATCH = 16


def repeated_random_tokens(d_vocab: int, length: int, batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` sequences [batch, 2·length] (int64): ``length`` tokens drawn uniformly from
    ``0..d_vocab - 1`` with numpy's generator seeded by ``seed``, then the same tokens again.

    >>> repeated_random_tokens(10, 3, 2, seed=1)
    array([[4, 5, 7, 4, 5, 7],
           [9, 0, 1, 9, 0, 1]])
    """
    d_vocab = validation.positive_integer(d_vocab, "d_vocab")
    length = validation.positive_integer(length, "length")
    batch = validation.positive_integer(batch, "batch")
    first = np.random.default_rng(validation.seed(seed)).integers(0, d_vocab, (batch, length))
    return np.concatenate([first, first], axis=1).astype(np.int64)


def targets(tokens: np.ndarray, detector: str) -> np.ndarray:
    """The detector's targets [batch, seq, seq] (bool; row = query, column = key)."""
    validation.choice(detector, "detector", DETECTORS)
    t = np.asarray(tokens)
    seq = t.shape[1]
    earlier = np.tril(np.ones((seq, seq), dtype=bool), -1)  # j < i
    if detector == "previous_token":
        return np.broadcast_to(np.eye(seq, k=-1, dtype=bool), (len(t), seq, seq))
    if detector == "duplicate_token":
        return (t[:, :, None] == t[:, None, :]) & earlier
    before = np.concatenate([np.full((len(t), 1), -1), t[:, :-1]], axis=1)  # t_{j-1}; none at 0
    return (t[:, :, None] == before[:, None, :]) & earlier


def uniform_pattern(seq: int) -> np.ndarray:
    """Uniform causal attention [seq, seq]: ``1/(i+1)`` on ``j ≤ i``, zero above."""
    return np.tril(np.ones((seq, seq))) / np.arange(1, seq + 1)[:, None]


@dataclass(frozen=True)
class HeadScores:
    """One detector's score for every head.

    ``scores[l]`` [n_heads_l] holds layer ``l``'s heads' scores; ``baseline`` is uniform
    attention's score on the same tokens; ``queries`` the number of queries averaged over (those
    with a target); ``flagged`` the heads scoring above ``threshold``, highest first.
    """

    detector: str
    scores: tuple[np.ndarray, ...]
    baseline: float
    threshold: float
    queries: int
    tokens_shape: tuple[int, int]

    @property
    def flagged(self) -> list[tuple[int, int]]:
        heads = [
            (s, (layer, h)) for layer, row in enumerate(self.scores) for h, s in enumerate(row)
        ]
        return [head for s, head in sorted(heads, key=lambda x: -x[0]) if s > self.threshold]

    def score(self, layer: int, head: int) -> float:
        """The score of head ``(layer, head)``."""
        layer = validation.index(layer, "layer", len(self.scores))
        head = validation.index(
            head,
            "head",
            len(self.scores[layer]),
            context=f"layer {layer} has {len(self.scores[layer])} heads",
        )
        return float(self.scores[layer][head])

    def to_dict(self) -> dict:
        """A JSON-ready dict: every head's score, the baseline, threshold and flagged heads."""
        return {
            "detector": self.detector,
            "scores": [[float(s) for s in row] for row in self.scores],
            "baseline": self.baseline,
            "threshold": self.threshold,
            "flagged": [list(h) for h in self.flagged],
            "queries": self.queries,
            "tokens_shape": list(self.tokens_shape),
        }

    def __str__(self) -> str:
        lines = [
            f"{self.detector} scores on tokens of shape {self.tokens_shape} "
            f"(uniform baseline {self.baseline:.3f}, flagged above {self.threshold:g})"
        ]
        for layer, row in enumerate(self.scores):
            for h, s in enumerate(row):
                mark = "  *" if s > self.threshold else ""
                lines.append(f"  L{layer}H{h}  {s:.3f}{mark}")
        return "\n".join(lines)


def detect_heads(
    model: object,
    tokens: object = None,
    *,
    length: int | None = None,
    batch: int = BATCH,
    seed: int = 0,
    threshold: float = THRESHOLD,
    max_bytes: int = MEMORY_BUDGET,
    which: tuple[str, ...] = DETECTORS,
) -> dict[str, HeadScores]:
    """Every detector's :class:`HeadScores`, from one pass over ``tokens`` [n, seq] (default:
    ``repeated_random_tokens(d_vocab, length, batch, seed)``, ``length`` default
    ``n_ctx // 2``); ``which`` names the detectors to run."""
    threshold = validation.positive_number(threshold, "threshold")
    which = tuple(validation.choice(d, "each of which", DETECTORS) for d in which)
    model, array = _tokens(model, tokens, length, batch, seed)
    totals = {d: [np.zeros(len(layer.W_Q)) for layer in model.layers] for d in which}
    counts, base = dict.fromkeys(which, 0), dict.fromkeys(which, 0.0)
    uniform = uniform_pattern(array.shape[1])
    for part in chunks(model, array, "detecting heads", max_bytes=max_bytes):
        patterns = model.run(part).patterns
        for detector in which:
            mask = targets(part, detector)
            counts[detector] += int(mask.any(-1).sum())
            base[detector] += float((uniform * mask).sum())
            for layer, pattern in enumerate(patterns):
                totals[detector][layer] += (pattern * mask[:, None]).sum((0, 2, 3))
    return {d: _result(d, totals[d], counts[d], base[d], threshold, array.shape) for d in which}


def _result(detector, totals, count, base, threshold, shape) -> HeadScores:
    if count == 0:
        raise TensorAlgebraError(
            f"the {detector} score is undefined on these tokens of shape {shape}: no query has a "
            "target (give sequences with repeated tokens, e.g. repeated_random_tokens)"
        )
    scores = tuple(t / count for t in totals)
    return HeadScores(detector, scores, base / count, threshold, count, tuple(shape))


def _tokens(model, tokens, length, batch, seed):
    """The model checked, and ``tokens`` or the default repeated random sequences."""
    from tensoralgebra.numeric.model import check_model

    model = check_model(model, "the head detectors")
    if tokens is None:
        half = model.n_ctx // 2 if length is None else length
        length = validation.positive_integer(half, "length")
        if 2 * length > model.n_ctx:
            raise TensorAlgebraError(
                f"length {length} is too long: repeated sequences of 2·{length} tokens exceed the "
                f"model's n_ctx={model.n_ctx} (use length ≤ {model.n_ctx // 2})"
            )
        tokens = repeated_random_tokens(model.W_E.shape[1], length, batch, seed)
    elif length is not None:
        raise TensorAlgebraError("give tokens or length, not both")
    return check_dataset(model, tokens, "the head detectors", min_seq=2)


def previous_token_scores(model: object, tokens: object = None, **options) -> HeadScores:
    """Every head's previous-token score (options as for :func:`detect_heads`)."""
    return detect_heads(model, tokens, which=("previous_token",), **options)["previous_token"]


def duplicate_token_scores(model: object, tokens: object = None, **options) -> HeadScores:
    """Every head's duplicate-token score (options as for :func:`detect_heads`)."""
    return detect_heads(model, tokens, which=("duplicate_token",), **options)["duplicate_token"]


def induction_scores(model: object, tokens: object = None, **options) -> HeadScores:
    """Every head's induction score (options as for :func:`detect_heads`)."""
    return detect_heads(model, tokens, which=("induction",), **options)["induction"]


@dataclass(frozen=True)
class InContextLearning:
    """The in-context learning score: mean loss (nats) at token ``late`` minus at ``early``;
    ``losses`` [seq - 1] is the mean loss at each position (predicting token ``i + 1``)."""

    score: float
    early: int
    late: int
    losses: np.ndarray

    def to_dict(self) -> dict:
        return {
            "score": self.score,
            "early": self.early,
            "late": self.late,
            "losses": [float(x) for x in self.losses],
        }


def in_context_learning_score(
    model: object,
    tokens: object,
    *,
    early: int | None = None,
    late: int | None = None,
    max_bytes: int = MEMORY_BUDGET,
) -> InContextLearning:
    """Mean next-token loss at position ``late`` minus at ``early`` over ``tokens`` [n, seq]
    (Olsson et al. use tokens 500 and 50): negative when later tokens, having more context, are
    predicted better. Defaults: ``early = (seq - 1) // 10``, ``late = seq - 2`` (the last
    position that predicts a token)."""
    model, array = check_dataset(model, tokens, "in_context_learning_score", min_seq=3)
    last = array.shape[1] - 2
    early = validation.integer(
        early if early is not None else (last + 1) // 10,
        "early",
        low=0,
        high=last + 1,
        context=f"expected a position in 0..{last}",
    )
    late = validation.integer(
        late if late is not None else last,
        "late",
        low=early + 1,
        high=last + 1,
        context=f"expected a position in {early + 1}..{last}",
    )
    total = np.zeros(last + 1)
    for part in chunks(model, array, "in-context loss", max_bytes=max_bytes):
        total += next_token_losses(model.run(part).logits, part).sum(0)
    losses = total / len(array)
    return InContextLearning(float(losses[late] - losses[early]), early, late, losses)
