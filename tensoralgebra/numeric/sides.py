"""The sides of a head's score terms computed conventionally, for ``verify``'s term-by-term check:
each side's queries or keys of one head, from the pass restricted to its path (docs/conventions.md
§7), many sides at once.

A side from a stream path reads that restricted pass's residual stream
(:func:`~tensoralgebra.numeric.restricted.final_streams` into the head's layer) through the
layer's frozen LayerNorm without its bias, then the head's ``W_Q`` (or ``W_K``) without its bias;
shortformer positions are ``W_pos^T`` read by ``W_Q`` alone; the head's own constant is its
projection, with its bias, of the LayerNorm's bias alone (``1 (W_Q b^l + b_Q)^T``). None of this
is built from the expansion's symbols.
"""

from __future__ import annotations

import torch

from tensoralgebra.numeric.restricted import final_streams
from tensoralgebra.scores import KEY_BIAS, QUERY_BIAS


def head_sides(model, frozen, paths, streams, layer: int, head: int, side: str) -> torch.Tensor:
    """``[len(paths), batch, seq, d_head]``: the queries (``side="query"``) or keys of head
    ``(layer, head)`` each side in ``paths`` contributes; ``streams`` [n, batch, seq, d_model]
    are the restricted passes' streams into ``layer`` of the paths with a stream, in order
    (:func:`~tensoralgebra.numeric.restricted.final_streams`; ``None``: computed here)."""
    attention = model.layers[layer]
    W, b = (attention.W_Q, attention.b_Q) if side == "query" else (attention.W_K, attention.b_K)
    batch, seq = frozen.tokens.shape
    d_model = W.shape[-1]
    own = (QUERY_BIAS, KEY_BIAS)
    stream = [i for i, p in enumerate(paths) if p.source not in own and not _positions(model, p)]
    with torch.no_grad():
        out = torch.empty((len(paths), batch, seq, W.shape[1]), dtype=W.dtype)
        if stream:
            if streams is None:
                streams = final_streams(model, frozen, [paths[i] for i in stream], layer)
            scale = model.frozen_scale(frozen, layer)
            for start in range(0, len(stream), _ROWS):  # the read streams [.., d_model] by parts
                rows = stream[start : start + _ROWS]
                read = model.read_frozen(streams[start : start + _ROWS], attention.ln_w, scale)
                out[rows] = read @ W[head].T
        for i, path in enumerate(paths):
            if path.source in own:
                x = torch.zeros(batch, seq, d_model, dtype=W.dtype)
                x = x if attention.ln_b is None else x + attention.ln_b
                out[i] = x @ W[head].T if b is None else x @ W[head].T + b[head]
            elif _positions(model, path):
                out[i] = model.W_pos.T[:seq].expand(batch, seq, d_model) @ W[head].T
        return out


#: Streams read through the LayerNorm at once (the read copies are d_model wide, the sides d_head).
_ROWS = 256


def _positions(model, path) -> bool:
    return path.source == "position" and model.positional == "shortformer"
