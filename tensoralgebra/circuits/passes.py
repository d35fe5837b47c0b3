"""Forward passes over a dataset of token sequences, in chunks of rows that fit a memory budget.

The head detectors and the order-by-order ablation read a model's traces on a dataset
``tokens`` [n, seq]. A trace of ``rows`` sequences holds every head's scores and pattern
[rows, n_heads, seq, seq], the residual streams [rows, seq, d_model] and the logits
[rows, seq, d_vocab]; :func:`chunks` cuts the dataset into slices whose passes stay under the
budget (by default :data:`~tensoralgebra.numeric.budget.MEMORY_BUDGET`) and shows a progress bar
when the dataset takes several chunks. Losses are next-token cross-entropies in nats.

>>> import numpy as np
>>> next_token_losses(np.zeros((1, 3, 4)), np.array([[0, 1, 2]])).round(4)
array([[1.3863, 1.3863]])
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tensoralgebra import validation
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.numeric.budget import MEMORY_BUDGET
from tensoralgebra.numeric.model import AttentionOnlyTransformer, check_model
from tensoralgebra.progress import progress


def check_dataset(
    model: object, tokens: object, caller: str, *, min_seq: int = 1, full_context: bool = False
) -> tuple[AttentionOnlyTransformer, np.ndarray]:
    """``(model, tokens)`` checked: an :class:`AttentionOnlyTransformer` and int64 tokens
    [n, seq] in its vocabulary with ``min_seq ≤ seq ≤ n_ctx`` (``seq == n_ctx`` if
    ``full_context``)."""
    model = check_model(model, caller)
    array = model.tokens(tokens)
    seq = array.shape[1]
    if seq < min_seq:
        raise TensorAlgebraError(
            f"{caller} needs sequences of at least {min_seq} tokens, got tokens of shape "
            f"{array.shape}"
        )
    if validation.flag(full_context, "full_context") and seq != model.n_ctx:
        raise TensorAlgebraError(
            f"{caller}: the tokens have sequences of length {seq}, shorter than the model's "
            f"n_ctx={model.n_ctx}; the loss is measured over the full context (pass "
            "full_context=False to measure shorter sequences)"
        )
    return model, array


def row_bytes(model: AttentionOnlyTransformer, seq: int, streams: int = 1) -> int:
    """The bytes one sequence's passes hold at once, at most: two traces (the full pass and a
    restricted one: scores and patterns of every head, the residual streams, the logits and
    their log-probabilities) and ``streams`` residual streams carried side by side."""
    w = model.weights
    heads = sum(w.architecture.heads)
    trace = 2 * heads * seq * seq + (2 * len(model.layers) + 2) * seq * w.d_model
    trace += 2 * seq * w.d_vocab
    return w.dtype.itemsize * (2 * trace + streams * seq * w.d_model)


def chunks(
    model: AttentionOnlyTransformer,
    tokens: np.ndarray,
    description: str,
    *,
    streams: int = 1,
    max_bytes: int = MEMORY_BUDGET,
) -> Iterator[np.ndarray]:
    """Slices of ``tokens`` [n, seq] of as many rows as fit ``max_bytes``, in order; refuses
    up front (:class:`ExpansionLimitError`) when not even one row fits."""
    max_bytes = validation.positive_integer(max_bytes, "max_bytes")
    n, seq = tokens.shape
    per_row = row_bytes(model, seq, streams)
    if per_row > max_bytes:
        raise ExpansionLimitError(
            f"{description}: one sequence of {seq} tokens would take {per_row:,} bytes, over the "
            f"memory budget of {max_bytes:,} bytes (shorter sequences need less)"
        )
    rows = max_bytes // per_row
    with progress(total=n, description=description, unit="seq", enabled=None) as bar:
        for start in range(0, n, rows):
            yield tokens[start : start + rows]
            bar.update(min(rows, n - start))


def next_token_losses(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """The cross-entropy (nats) of predicting ``tokens[:, i + 1]`` from ``logits[:, i]``
    [batch, seq, d_vocab], for ``i`` in ``0 .. seq - 2``: [batch, seq - 1]."""
    x = np.asarray(logits)[:, :-1]
    top = x.max(-1, keepdims=True)
    log_z = top[..., 0] + np.log(np.exp(x - top).sum(-1))
    picked = np.take_along_axis(x, tokens[:, 1:, None], axis=-1)[..., 0]
    return log_z - picked
