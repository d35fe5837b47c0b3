"""The sides of a real architecture's score terms computed conventionally, for ``verify``'s
term-by-term check: each side's queries or keys of one head, from the pass restricted to its
path (docs/conventions.md §7).

A side from a stream path reads that restricted pass's residual stream through the layer's frozen
LayerNorm without its bias, then the head's ``W_Q`` (or ``W_K``) without its bias; shortformer
positions are ``W_pos^T`` read by ``W_Q`` alone; the head's own constant is its projection, with
its bias, of the LayerNorm's bias alone (``1 (W_Q b^l + b_Q)^T``). None of this is built from
the expansion's symbols.
"""

from __future__ import annotations

import numpy as np
import torch

from tensoralgebra.scores import KEY_BIAS, QUERY_BIAS


def head_sides(model, paths, residuals: dict, frozen, layer: int, head: int, side: str):
    """``[len(paths), batch, seq, d_head]``: the queries (``side="query"``) or keys of head
    ``(layer, head)`` each side in ``paths`` contributes; ``residuals[p]`` are the residual
    streams of the pass restricted to ``p`` (for sides from the stream)."""
    attention = model.layers[layer]
    W, b = (attention.W_Q, attention.b_Q) if side == "query" else (attention.W_K, attention.b_K)
    batch, seq = frozen.tokens.shape
    d_model = W.shape[-1]
    scale = model.frozen_scale(frozen, layer)
    with torch.no_grad():
        values = []
        for path in paths:
            if path.source in (QUERY_BIAS, KEY_BIAS):
                x = torch.zeros(batch, seq, d_model, dtype=W.dtype)
                x = x if attention.ln_b is None else x + attention.ln_b
                values.append(x @ W[head].T if b is None else x @ W[head].T + b[head])
            elif path.source == "position" and model.positional == "shortformer":
                x = model.W_pos.T[:seq].expand(batch, seq, d_model)
                values.append(x @ W[head].T)
            else:
                stream = torch.from_numpy(np.array(residuals[path][layer]))
                values.append(model.read_frozen(stream, attention.ln_w, scale) @ W[head].T)
        return torch.stack(values)


def restricted_scores(model, q_paths, k_paths, residuals, frozen, layer, head) -> np.ndarray:
    """Head ``(layer, head)``'s unscaled scores of every pair of a query side and a key side,
    [nq, nk, batch, seq, seq]."""
    queries = head_sides(model, q_paths, residuals, frozen, layer, head, "query")
    keys = head_sides(model, k_paths, residuals, frozen, layer, head, "key")
    return (queries[:, None] @ keys[None].transpose(-1, -2)).numpy()
