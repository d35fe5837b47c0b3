"""What each kind of term contributes: to a logit difference, and to one head's attention scores.

A logit difference is linear in the logits, so it splits exactly over the logit terms: the
direct path (order 0, with every constant), each head (order 1: every path through that head
alone) and the virtual heads (order 2 and more) add up to the full model's value, patterns
frozen from the full pass. A head's scores split the same way over its score terms
(:func:`~tensoralgebra.score_paths`) by kind: ``none`` (both sides direct), ``Q`` and ``K``
(one side through earlier heads) and ``QK`` (both), computed with the numeric stacks
(:func:`~tensoralgebra.numeric.stacks.score_terms`).

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture(heads=(1, 1)), d_model=8, d_head=4, d_vocab=9, n_ctx=6)
>>> model = ta.AttentionOnlyTransformer(w)
>>> split = logit_difference_contributions(model, [[1, 2, 3], [3, 2, 1]], [4, 5], [6, 7])
>>> abs(sum(split.kinds.values()) - split.full) < 1e-12
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits.detectors import DETECTORS, targets
from tensoralgebra.circuits.passes import check_dataset, chunks
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.budget import MEMORY_BUDGET
from tensoralgebra.numeric.stacks import score_terms
from tensoralgebra.scores import SCORE_KINDS


@dataclass(frozen=True)
class LogitDifference:
    """The mean logit difference ``logit[answer] - logit[distractor]`` at the last position,
    ``full`` for the model and its split: ``kinds`` (direct, head, virtual) and ``heads`` (each
    head's order-1 terms; they sum to ``kinds["head"]``)."""

    full: float
    kinds: dict[str, float]
    heads: dict[tuple[int, int], float]

    def to_dict(self) -> dict:
        heads = {f"L{layer}H{head}": v for (layer, head), v in self.heads.items()}
        return {"full": self.full, "kinds": self.kinds, "heads": heads}


def _answers(values: object, name: str, n: int, d_vocab: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer):
        raise TensorAlgebraError(
            f"{name} must be {n} integer tokens (one per sequence), got {array.dtype} of shape "
            f"{array.shape}"
        )
    bad = np.flatnonzero((array < 0) | (array >= d_vocab))
    if len(bad):
        raise TensorAlgebraError(
            f"{name}[{bad[0]}] is {array[bad[0]]}: tokens must lie in 0..{d_vocab - 1}"
        )
    return array.astype(np.int64)


def logit_difference_contributions(
    model: object, tokens: object, answers: object, distractors: object, *, max_bytes=MEMORY_BUDGET
) -> LogitDifference:
    """The :class:`LogitDifference` of ``answers`` over ``distractors`` [n] at the last position
    of ``tokens`` [n, seq]."""
    model, array = check_dataset(model, tokens, "logit_difference_contributions")
    d_vocab, top = model.W_E.shape[1], len(model.layers)
    right = _answers(answers, "answers", len(array), d_vocab)
    wrong = _answers(distractors, "distractors", len(array), d_vocab)
    heads = [(layer, h) for layer, n in enumerate(model.architecture.heads) for h in range(n)]
    orders, per_head, full, start = np.zeros(top + 1), np.zeros(len(heads)), 0.0, 0
    for part in chunks(model, array, "logit differences", streams=top + 1, max_bytes=max_bytes):
        rows = np.arange(start, start + len(part))
        start += len(part)

        def diff(logits, rows=rows):
            last = logits[:, -1]
            return float(
                (
                    last[np.arange(len(rows)), right[rows]]
                    - last[np.arange(len(rows)), wrong[rows]]
                ).sum()
            )

        trace = model.run(part)
        full += diff(trace.logits)
        orders += [diff(model.run(part, frozen=trace, keep_order=k).logits) for k in range(top + 1)]
        per_head += [diff(model.run(part, frozen=trace, keep=[head]).logits) for head in heads]
    n = len(array)
    one = min(1, top)
    kinds = {
        "direct": float(orders[0] / n),
        "head": float((orders[one] - orders[0]) / n),
        "virtual": float((orders[top] - orders[one]) / n),
    }
    return LogitDifference(full / n, kinds, dict(zip(heads, (per_head / n).tolist())))


@dataclass(frozen=True)
class ScoreKinds:
    """One head's attention scores (unscaled, pre-mask, as :class:`~tensoralgebra.Trace` records
    them) split by score-term kind. ``rms[kind]``: the root mean square of the kind's part over
    causal entries (key ≤ query); ``advantage[kind]`` (with a ``target`` detector): the kind's
    mean part on the detector's targets minus on the other causal keys of the same queries, which
    sums over kinds to the full scores' advantage ``advantage["total"]``; ``error``: the largest
    difference between the kinds' sum and the traced scores."""

    layer: int
    head: int
    rms: dict[str, float]
    advantage: dict[str, float] | None
    target: str | None
    error: float

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "head": self.head,
            "rms": self.rms,
            "advantage": self.advantage,
            "target": self.target,
            "error": self.error,
        }


def score_kind_contributions(
    model: object,
    tokens: object,
    layer: int,
    head: int,
    *,
    target: str | None = None,
    max_bytes: int = MEMORY_BUDGET,
) -> ScoreKinds:
    """Head ``(layer, head)``'s scores on ``tokens`` [n, seq] split into the none/Q/K/QK
    composition kinds (sides of every order), with ``target`` one of the detectors
    (``"previous_token"``, ``"duplicate_token"``, ``"induction"``) or ``None``."""
    model, array = check_dataset(model, tokens, "score_kind_contributions")
    arch = model.architecture
    layer = validation.index(layer, "layer", arch.n_layers, context=f"the model has {arch!r}")
    head = validation.index(
        head, "head", arch.heads[layer], context=f"layer {layer} has {arch.heads[layer]} heads"
    )
    if target is not None:
        validation.choice(target, "target", DETECTORS)
    causal = np.tril(np.ones((array.shape[1],) * 2, dtype=bool))
    square, on, off = dict.fromkeys(SCORE_KINDS, 0.0), {}, {}
    error, counts = 0.0, np.zeros(2)
    for part in chunks(model, array, "score kinds", max_bytes=max_bytes):
        trace = model.run(part)
        parts = _by_kind(Bindings(model, trace), layer, head, part.shape)
        error = max(
            error, float(np.abs(sum(parts.values()) - trace.head_scores(layer, head)).max())
        )
        hit = targets(part, target) if target else None
        rows = None if hit is None else hit.any(-1, keepdims=True) & causal & ~hit
        for kind, value in {**parts, "total": trace.head_scores(layer, head)}.items():
            if kind != "total":
                square[kind] += float((value[:, causal] ** 2).sum())
            if hit is not None:
                on[kind] = on.get(kind, 0.0) + float(value[hit].sum())
                off[kind] = off.get(kind, 0.0) + float(value[rows].sum())
        if hit is not None:
            counts += (hit.sum(), rows.sum())
    rms = {k: float(np.sqrt(v / (len(array) * causal.sum()))) for k, v in square.items()}
    advantage = None
    if target is not None:
        if counts.min() == 0:
            raise TensorAlgebraError(
                f"no query of these tokens has both a {target} target and another key: the "
                "advantage is undefined (give longer sequences with repeated tokens)"
            )
        advantage = {k: float(on[k] / counts[0] - off[k] / counts[1]) for k in on}
    return ScoreKinds(layer, head, rms, advantage, target, error)


def _by_kind(b: Bindings, layer: int, head: int, shape) -> dict[str, np.ndarray]:
    """The head's score terms summed by kind, each [batch, seq, seq]."""
    out = {kind: np.zeros((shape[0], shape[1], shape[1])) for kind in SCORE_KINDS}
    for q_paths, k_paths, values in score_terms(b, layer, head):
        q_composed = np.array([len(p.heads) > 0 for p in q_paths])
        k_composed = np.array([len(p.heads) > 0 for p in k_paths])
        for kind_index, kind in enumerate(SCORE_KINDS):
            q_sel = q_composed == bool(kind_index & 1)
            k_sel = k_composed == bool(kind_index & 2)
            if q_sel.any() and k_sel.any():
                out[kind] += values[q_sel][:, k_sel].sum((0, 1))
    return out
