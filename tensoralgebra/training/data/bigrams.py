"""Bigram tables: what a zero-layer model's ``W_U W_E`` can at best learn.

A zero-layer transformer predicts the next token from the current one alone, so the best it can
do is the table of log P(next = j | current = i). :func:`bigram_table` counts it from tokens, or
from a text dataset's training files (pairs never straddle two files), with add-α smoothing:

    P(j | i) = (count(i, j) + α) / (count(i) + α · d_vocab),

and gives a Markov dataset's true table (no counts, no smoothing).

>>> import numpy as np
>>> table = bigram_table(np.array([[0, 1, 0, 1], [1, 1, 0, 0]]), d_vocab=2, alpha=1.0)
>>> table.counts
array([[1., 2.],
       [2., 1.]])
>>> np.exp(table.log_probs)  # row 0: (1 + 1) / (3 + 2), (2 + 1) / (3 + 2)
array([[0.4, 0.6],
       [0.6, 0.4]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.training.data.base import TokenData
from tensoralgebra.validation import integer, positive_number

__all__ = ["MAX_BIGRAM_VOCAB", "BigramTable", "bigram_counts", "bigram_table"]

#: The largest vocabulary counted: a table of 4096**2 float64 is 128 MiB.
MAX_BIGRAM_VOCAB = 4096


@dataclass(frozen=True)
class BigramTable:
    """``log_probs`` [d_vocab, d_vocab]: log P(next = column | current = row); ``counts``
    [d_vocab, d_vocab] the pair counts it was estimated from (``None`` for a true table),
    ``alpha`` the add-α smoothing (0 for a true table), ``source`` where it came from."""

    log_probs: np.ndarray
    counts: np.ndarray | None
    alpha: float
    source: str

    @property
    def d_vocab(self) -> int:
        """The vocabulary size."""
        return self.log_probs.shape[0]

    def loss(self, tokens) -> float:
        """The mean cross-entropy (nats) of predicting each next token of ``tokens``
        [batch, n] by this table: the zero-layer model's loss if it learned the table exactly.

        >>> t = bigram_table(np.array([[0, 1, 0, 1]]), d_vocab=2, alpha=1.0)
        >>> np.exp(t.log_probs)[[0, 1], [1, 0]]  # (2 + 1) / (2 + 2), (1 + 1) / (1 + 2)
        array([0.75      , 0.66666667])
        >>> round(t.loss(np.array([[0, 1, 0]])), 4), round(float(-np.log([0.75, 2 / 3]).mean()), 4)
        (0.3466, 0.3466)
        """
        array = _tokens(tokens, self.d_vocab)
        if array.ndim == 1:
            array = array[None]
        return float(-self.log_probs[array[:, :-1], array[:, 1:]].mean())


def bigram_counts(tokens, d_vocab: int) -> np.ndarray:
    """Counts [d_vocab, d_vocab] of the pairs (``t[k]``, ``t[k + 1]``) within each row of
    ``tokens`` ([n], [batch, n], or a list of 1-D arrays such as documents)."""
    d_vocab = integer(
        d_vocab,
        "d_vocab",
        low=1,
        high=MAX_BIGRAM_VOCAB + 1,
        context=f"expected 1..{MAX_BIGRAM_VOCAB} tokens",
    )
    rows = tokens if isinstance(tokens, list) else _tokens(tokens, d_vocab)
    rows = [rows] if isinstance(rows, np.ndarray) and rows.ndim == 1 else rows
    counts = np.zeros(d_vocab * d_vocab, dtype=np.int64)
    for row in rows:
        row = _tokens(row, d_vocab, pairs=False).astype(np.int64)
        counts += np.bincount(row[:-1] * d_vocab + row[1:], minlength=d_vocab * d_vocab)
    return counts.reshape(d_vocab, d_vocab).astype(np.float64)


def bigram_table(source, d_vocab: int | None = None, *, alpha: float = 1.0) -> BigramTable:
    """The bigram table of ``source``: tokens (``d_vocab`` required) or a dataset. A text
    dataset's table is counted on its training files; a Markov dataset (or a mixture with one)
    gives its true table (``alpha`` unused). Counted tables are smoothed by add-``alpha``
    (``alpha > 0``)."""
    alpha = positive_number(alpha, "alpha")
    if isinstance(source, TokenData):
        if d_vocab is not None and d_vocab != source.d_vocab:
            raise TensorAlgebraError(
                f"d_vocab {d_vocab!r} differs from the dataset {source.name!r}'s {source.d_vocab}"
            )
        if hasattr(source, "true_bigram_table"):
            return source.true_bigram_table()
        if not hasattr(source, "training_documents"):
            raise TensorAlgebraError(
                f"the dataset {source.name!r} has no bigram table of its own: pass tokens drawn "
                "from it (its batch_for(...)) with d_vocab to count one"
            )
        documents, d_vocab, name = source.training_documents(), source.d_vocab, source.name
        counts = bigram_counts(documents, d_vocab)
        described = f"{name} (training files)"
    else:
        if d_vocab is None:
            raise TensorAlgebraError("d_vocab is None: counting bigrams of tokens needs d_vocab")
        counts = bigram_counts(source, d_vocab)
        described = "tokens"
    smoothed = counts + alpha
    log_probs = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
    return BigramTable(log_probs=log_probs, counts=counts, alpha=alpha, source=described)


def _tokens(tokens, d_vocab: int, *, pairs: bool = True) -> np.ndarray:
    """``tokens`` as an integer array [n] or [batch, n] in ``0..d_vocab - 1``, of at least two
    columns when ``pairs`` (a document may be shorter: it has no pairs)."""
    array = np.asarray(tokens)
    shapes = (1, 2) if pairs else (1,)
    if array.ndim not in shapes or not np.issubdtype(array.dtype, np.integer):
        expected = "integers [n] or [batch, n]" if pairs else "a document of integers [n]"
        raise TensorAlgebraError(
            f"tokens of shape {array.shape} and dtype {array.dtype}: expected {expected}"
        )
    if pairs and array.shape[-1] < 2:
        raise TensorAlgebraError(f"tokens of shape {array.shape}: a bigram needs 2 tokens a row")
    if array.size and (array.min() < 0 or array.max() >= d_vocab):
        raise TensorAlgebraError(
            f"tokens range over {array.min()}..{array.max()}: expected 0..{d_vocab - 1}"
        )
    return array
