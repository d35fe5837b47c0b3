"""What the trainer needs of a dataset: batches drawn from a seed, a fixed held-out set, and a
record of what the data was.

A dataset is a source of token sequences over a vocabulary of ``d_vocab`` tokens. Training draws
batch ``step`` from ``np.random.default_rng([seed, step])`` (through :meth:`TokenData.batch`), so a
run resumed at step ``s`` sees exactly the batches an uninterrupted run would, with no generator
state to save. The held-out set depends on nothing but the dataset and ``n_ctx``, so losses of
different runs are comparable. :meth:`TokenData.metadata` is written into every saved model:
its ``fingerprint`` (a SHA-256 of everything that defines the data) tells whether two models saw
the same data.

>>> import numpy as np
>>> class Counting(TokenData):
...     name, d_vocab = "counting", 5
...     def batch(self, rng, batch_size, n_ctx):
...         start = rng.integers(0, self.d_vocab, size=(batch_size, 1))
...         return (start + np.arange(n_ctx)) % self.d_vocab
...     def held_out(self, n_ctx, n_sequences):
...         return (np.arange(n_sequences)[:, None] + np.arange(n_ctx)) % self.d_vocab
...     def definition(self):
...         return {"rule": "t[i+1] = t[i] + 1 mod 5"}
>>> data = Counting()
>>> data.batch_for(seed=0, step=3, batch_size=2, n_ctx=4).shape
(2, 4)
>>> (data.batch_for(0, 3, 2, 4) == data.batch_for(0, 3, 2, 4)).all()
np.True_
>>> sorted(data.metadata())
['data', 'data_definition', 'data_fingerprint']
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod

import numpy as np

#: The most tokens a batch or a held-out set may hold (128 MiB as int64); more is refused.
MAX_TOKENS = 2**24
#: The longest context a dataset serves.
MAX_N_CTX = 2**16


class TokenData(ABC):
    """A source of token sequences over ``range(d_vocab)``."""

    #: The name the dataset is registered under (``--data NAME``).
    name: str
    #: The vocabulary size: every token is in ``0..d_vocab - 1``.
    d_vocab: int

    @abstractmethod
    def batch(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> np.ndarray:
        """Training sequences [batch_size, n_ctx] (integers in ``0..d_vocab - 1``) drawn with
        ``rng``, and only with it."""

    @abstractmethod
    def held_out(self, n_ctx: int, n_sequences: int) -> np.ndarray:
        """Held-out sequences [n, n_ctx], ``n ≤ n_sequences``, the same on every call: never
        seen in training (for text, from files kept out of training)."""

    @abstractmethod
    def definition(self) -> dict:
        """Everything that defines the data, JSON-serialisable (generator parameters and seed;
        for a corpus its files' names, sizes and hash): what the fingerprint is taken of."""

    def decode(self, tokens) -> str:
        """``tokens`` [n] as text, for datasets of text; others refuse."""
        from tensoralgebra.errors import TensorAlgebraError

        raise TensorAlgebraError(f"the dataset {self.name!r} has no text to decode tokens to")

    def batch_for(self, seed: int, step: int, batch_size: int, n_ctx: int) -> np.ndarray:
        """Batch ``step`` of a run seeded ``seed``: the same whether or not the run was
        resumed."""
        from tensoralgebra.validation import integer
        from tensoralgebra.validation import seed as checked_seed

        seed, step = checked_seed(seed), integer(step, "step", low=0)
        return self.batch(np.random.default_rng([seed, step]), batch_size, n_ctx)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the dataset's name, vocabulary and :meth:`definition`."""
        text = json.dumps(
            {"name": self.name, "d_vocab": self.d_vocab, **self.definition()}, sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def metadata(self) -> dict[str, str]:
        """String metadata for a saved model: ``data`` (the name), ``data_fingerprint`` and
        ``data_definition`` (the definition as JSON)."""
        return {
            "data": self.name,
            "data_fingerprint": self.fingerprint(),
            "data_definition": json.dumps(self.definition(), sort_keys=True),
        }


def batch_shape(batch_size: object, n_ctx: object, *, rows: str = "batch_size") -> tuple[int, int]:
    """``(batch_size, n_ctx)`` checked as sizes whose product is at most :data:`MAX_TOKENS`;
    ``rows`` names the first in messages (``n_sequences`` for held-out sets).

    >>> batch_shape(64, 256)
    (64, 256)
    >>> batch_shape(2**20, 256)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.ExpansionLimitError: a batch of 1048576 x 256 tokens ...=65536 fits
    """
    from tensoralgebra.errors import ExpansionLimitError
    from tensoralgebra.validation import positive_integer

    n_ctx = positive_integer(n_ctx, "n_ctx", maximum=MAX_N_CTX)
    batch_size = positive_integer(batch_size, rows)
    if batch_size * n_ctx > MAX_TOKENS:
        raise ExpansionLimitError(
            f"a batch of {batch_size} x {n_ctx} tokens is over the limit of {MAX_TOKENS} tokens",
            option=rows,
            value=MAX_TOKENS // n_ctx,
        )
    return batch_size, n_ctx
