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

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.arrays import as_numpy, is_torch
from tensoralgebra.paths import UNEMBEDDING_BIAS, LogitPath, bias_layer, path_sources


class TokensError(TensorAlgebraError):
    """Tokens a model cannot read: wrong type or shape, outside the vocabulary, too long."""


def check_tokens(tokens: object, d_vocab: int, n_ctx: int) -> np.ndarray:
    """``tokens`` as an int64 numpy array [batch, seq], or a :class:`TokensError` saying why not.

    Accepts integer numpy arrays, torch tensors and nested lists, and masked arrays with nothing
    masked; refuses floats (even whole ones: a float token is a bug upstream), masked entries,
    ragged batches, empty batches or sequences, ``seq > n_ctx`` and tokens outside
    ``0..d_vocab-1``.
    """
    if is_torch(tokens) and (tokens.dtype.is_floating_point or tokens.dtype.is_complex):
        raise TokensError(
            f"tokens must be integers, got dtype {tokens.dtype}; convert explicitly if they are "
            "whole numbers"
        )
    tokens = as_numpy(tokens, "tokens", TokensError)
    try:
        array = np.asarray(tokens)
    except ValueError:
        raise TokensError(f"tokens is ragged: {_ragged(tokens)}") from None
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
    sequence of ``(layer, head)`` pairs with strictly increasing layers (from every source such
    a path has: :func:`~tensoralgebra.paths.path_sources`). A constant source ``"bias L<l>"`` is
    carried only by heads of layers after ``l``, and the ``"unembedding bias"`` by no head.
    """
    given = keep.heads if isinstance(keep, LogitPath) else keep
    heads = _pairs(keep, given)
    layers = tuple(layer for layer, _ in heads)
    if list(layers) != sorted(set(layers)):
        raise TensorAlgebraError(f"keep={keep!r}: a path's layers must strictly increase")
    for layer, head in heads:
        if not (0 <= layer < arch.n_layers and 0 <= head < arch.heads[layer]):
            raise TensorAlgebraError(
                f"keep={keep!r}: head ({layer}, {head}) does not exist in {arch!r}"
            )
    sources = path_sources(arch, layers)
    if not isinstance(keep, LogitPath):
        return heads, sources
    if keep.source not in sources:
        raise TensorAlgebraError(f"keep={keep} starts from {_lacking(keep, arch, layers)}")
    return heads, (keep.source,)


def _lacking(keep: LogitPath, arch: Architecture, layers: tuple[int, ...]) -> str:
    """Why ``keep``'s source cannot start a path through ``layers`` of ``arch``."""
    layer = bias_layer(keep.source)
    if layer is not None and arch.biases and layer < arch.n_layers:
        return (
            f"{keep.source}, which joins the stream after layer {layer}: only heads of later "
            "layers carry it"
        )
    if keep.source == UNEMBEDDING_BIAS and arch.biases:
        return f"the {keep.source}, which no head carries: it joins the logits only"
    return f"the {keep.source} source, which {arch!r} lacks"


def _pairs(keep: object, heads: object) -> tuple[tuple[int, int], ...]:
    """``heads`` as ``(layer, head)`` pairs of plain ints (no bools, floats or strings)."""
    if isinstance(heads, (str, bytes)) or not hasattr(heads, "__iter__"):
        raise TensorAlgebraError(f"keep={keep!r}: expected a LogitPath or (layer, head) pairs")
    pairs = []
    for i, pair in enumerate(heads):
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise TensorAlgebraError(
                f"keep={keep!r}: keep[{i}] is {pair!r}, expected a (layer, head) pair"
            )
        pairs.append(
            tuple(
                validation.integer(value, f"the {what} of keep[{i}]")
                for what, value in zip(("layer", "head"), pair)
            )
        )
    return tuple(pairs)


def _ragged(tokens: object) -> str:
    try:
        lengths = sorted({len(row) for row in tokens})
    except TypeError:
        return "its sequences are not all lists of one length"
    shown = ", ".join(map(str, lengths[:5])) + (", ..." if len(lengths) > 5 else "")
    return (
        f"sequences of lengths {shown}; a batch holds sequences of one length (run sequences of "
        "other lengths as batches of their own)"
    )
