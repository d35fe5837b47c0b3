"""Tiny datasets for the training tests: tasks a small model learns in a few dozen steps, and
datasets that misbehave."""

from __future__ import annotations

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.training.data.base import TokenData


class Counting(TokenData):
    """``t[i+1] = t[i] + 1 mod d_vocab`` from a random start: the direct path W_U W_E learns it."""

    name = "counting"

    def __init__(self, d_vocab: int = 7):
        self.d_vocab = d_vocab

    def batch(self, rng, batch_size, n_ctx):
        start = rng.integers(0, self.d_vocab, size=(batch_size, 1))
        return (start + np.arange(n_ctx)) % self.d_vocab

    def held_out(self, n_ctx, n_sequences):
        starts = np.arange(min(n_sequences, self.d_vocab))[:, None]
        return (starts + np.arange(n_ctx)) % self.d_vocab

    def definition(self):
        return {"rule": f"t[i+1] = t[i] + 1 mod {self.d_vocab}"}


class FirstToken(TokenData):
    """Every even position repeats the first token, odd positions are uniform noise: the even
    positions are predictable only by attending back (the noise token says nothing), so a
    model without layers is stuck near ``log d_vocab`` there."""

    name = "first-token"

    def __init__(self, d_vocab: int = 8):
        self.d_vocab = d_vocab

    def batch(self, rng, batch_size, n_ctx):
        tokens = rng.integers(0, self.d_vocab, size=(batch_size, n_ctx))
        tokens[:, 0::2] = tokens[:, :1]
        return tokens

    def held_out(self, n_ctx, n_sequences):
        return self.batch(np.random.default_rng(12345), n_sequences, n_ctx)

    def definition(self):
        return {"rule": "t[2i] = t[0], t[2i+1] uniform", "d_vocab": self.d_vocab}


class Documents(Counting):
    """Counting in documents of ``length`` tokens: longer sequences are refused, as a corpus
    refuses an n_ctx longer than its documents."""

    name = "documents"

    def __init__(self, length: int = 10):
        super().__init__()
        self.length = length

    def batch(self, rng, batch_size, n_ctx):
        self._check(n_ctx)
        return super().batch(rng, batch_size, n_ctx)

    def held_out(self, n_ctx, n_sequences):
        self._check(n_ctx)
        return super().held_out(n_ctx, n_sequences)

    def _check(self, n_ctx):
        if n_ctx > self.length:
            raise TensorAlgebraError(
                f"n_ctx {n_ctx} is longer than the documents of {self.name!r} ({self.length} "
                "tokens)"
            )


class Broken(Counting):
    """Gives batches that are not token sequences of the asked shape: ``kind`` says how."""

    name = "broken"

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def batch(self, rng, batch_size, n_ctx):
        tokens = super().batch(rng, batch_size, n_ctx)
        if self.kind == "short":
            return tokens[:, :-1]
        if self.kind == "floats":
            return tokens.astype(float)
        if self.kind == "range":
            return tokens + self.d_vocab
        raise ValueError(f"no batch of kind {self.kind!r}")
