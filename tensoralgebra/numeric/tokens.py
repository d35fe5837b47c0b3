"""Checking what a model is asked to read: token batches and paths to keep.

>>> import numpy as np
>>> check_tokens([[1, 2, 3]], d_vocab=5, n_ctx=4).shape
(1, 3)
>>> check_tokens([[1, 7]], d_vocab=5, n_ctx=4)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.numeric.tokens.TokensError: tokens[0, 1] is 7: tokens must lie in 0..4 (d_vocab=5)
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.paths import LogitPath


class TokensError(TensorAlgebraError):
    """Tokens a model cannot read: wrong type or shape, outside the vocabulary, too long."""


def check_tokens(tokens: object, d_vocab: int, n_ctx: int) -> np.ndarray:
    """``tokens`` as an int64 numpy array [batch, seq], or a :class:`TokensError` saying why not.

    Accepts integer numpy arrays, torch tensors and nested lists; refuses floats (even whole
    ones: a float token is a bug upstream), empty batches or sequences, ``seq > n_ctx`` and tokens
    outside ``0..d_vocab-1``.
    """
    if type(tokens).__module__.split(".")[0] == "torch":
        tokens = tokens.detach().cpu().numpy()
    array = np.asarray(tokens)
    if array.size == 0:
        # Checked first: an empty list has no integer dtype to speak of.
        raise TokensError(f"tokens has shape {array.shape}: an empty batch has nothing to run")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TokensError(
            f"tokens must be integers, got dtype {array.dtype}; convert explicitly if they are "
            "whole numbers"
        )
    if array.ndim != 2:
        raise TokensError(f"tokens must have shape [batch, seq], got shape {array.shape}")
    seq = array.shape[1]
    if seq > n_ctx:
        raise TokensError(f"sequences of length {seq} are longer than n_ctx={n_ctx}")
    bad = np.argwhere((array < 0) | (array >= d_vocab))
    if len(bad):
        i, j = (int(x) for x in bad[0])
        raise TokensError(
            f"tokens[{i}, {j}] is {array[i, j]}: tokens must lie in 0..{d_vocab - 1} "
            f"(d_vocab={d_vocab})"
        )
    return array.astype(np.int64)


def check_keep(keep: object, arch: Architecture) -> tuple[tuple[tuple[int, int], ...], tuple]:
    """The heads and the sources of a path to keep.

    ``keep`` is a :class:`~tensoralgebra.LogitPath` (its heads, from its one source) or a
    sequence of ``(layer, head)`` pairs with strictly increasing layers (from every source).
    """
    if isinstance(keep, LogitPath):
        heads, sources = keep.heads, (keep.source,)
        if keep.source not in arch.sources:
            raise TensorAlgebraError(
                f"keep={keep} starts from the {keep.source} source, which {arch!r} lacks"
            )
    else:
        heads, sources = keep, arch.sources
    try:
        heads = tuple((int(layer), int(head)) for layer, head in heads)
    except (TypeError, ValueError):
        raise TensorAlgebraError(
            f"keep={keep!r}: expected a LogitPath or (layer, head) pairs"
        ) from None
    layers = [layer for layer, _ in heads]
    if layers != sorted(set(layers)):
        raise TensorAlgebraError(f"keep={keep!r}: a path's layers must strictly increase")
    for layer, head in heads:
        if not (0 <= layer < arch.n_layers and 0 <= head < arch.heads[layer]):
            raise TensorAlgebraError(
                f"keep={keep!r}: head ({layer}, {head}) does not exist in {arch!r}"
            )
    return heads, sources
