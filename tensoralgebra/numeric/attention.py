"""One attention layer of the conventional forward pass, in torch: per-layer Q/K/V projections of
the concatenated heads (with biases when the model has them), scores, the causal softmax, and the
heads' output through ``W_O``; and LayerNorm as TransformerLens computes it. Shapes: a stream is
[batch, seq, d_model]; scores and patterns are [batch, n_heads, seq, seq].
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def param(array: np.ndarray | None) -> nn.Parameter | None:
    if array is None:
        return None
    return nn.Parameter(torch.from_numpy(np.array(array)), requires_grad=False)


def layer_norm(x: torch.Tensor, w, b, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(normalized, scale)``: ``x`` [..., d_model] centred and divided by
    ``scale = sqrt(var + eps)`` [...] (``var`` the biased variance over d_model), then times ``w``
    plus ``b`` [d_model] when given (LayerNorm; without them LNPre)."""
    centred = x - x.mean(-1, keepdim=True)
    scale = (centred.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    normalized = centred / scale
    if w is not None:
        normalized = normalized * w + b
    return normalized, scale[..., 0]


class AttentionLayer(nn.Module):
    """One layer of attention heads; ``W_Q``, ``W_K``, ``W_V`` [n_heads, d_head, d_model],
    ``W_O`` [n_heads, d_model, d_head]; optionally the biases ``b_Q``, ``b_K``, ``b_V``
    [n_heads, d_head] and ``b_O`` [d_model], and the LayerNorm ``ln_w``, ``ln_b`` [d_model]
    (``None``: absent)."""

    def __init__(self, W_Q, W_K, W_V, W_O, b_Q=None, b_K=None, b_V=None, b_O=None, **ln):
        super().__init__()
        self.W_Q, self.W_K, self.W_V, self.W_O = map(param, (W_Q, W_K, W_V, W_O))
        self.b_Q, self.b_K, self.b_V, self.b_O = map(param, (b_Q, b_K, b_V, b_O))
        self.ln_w, self.ln_b = param(ln.get("ln_w")), param(ln.get("ln_b"))
        self.n_heads, self.d_head = W_Q.shape[0], W_Q.shape[1]

    def _project(self, x: torch.Tensor, W: torch.Tensor, b=None) -> torch.Tensor:
        """``x`` [..., seq, d_model] through the heads' stacked read matrices, split by head,
        plus the bias ``b`` [n_heads, d_head] if given: [..., n_heads, seq, d_head]."""
        stacked = W.reshape(self.n_heads * self.d_head, x.shape[-1])  # head 0's rows, head 1's...
        out = x @ stacked.T
        out = out.reshape(*x.shape[:-1], self.n_heads, self.d_head).transpose(-3, -2)
        return out if b is None else out + b[:, None, :]

    def scores(self, query: torch.Tensor, key: torch.Tensor, biases: bool = True) -> torch.Tensor:
        """Unscaled scores ``q k^T`` [..., n_heads, seq, seq] of the query stream ``query`` and
        the key stream ``key`` (each [..., seq, d_model]): ``R_q W_QK^h R_k^T`` (with biases,
        unless ``biases=False``: ``q = R_q W_Q^T + b_Q`` and ``k = R_k W_K^T + b_K``)."""
        q = self._project(query, self.W_Q, self.b_Q if biases else None)
        return q @ self._project(key, self.W_K, self.b_K if biases else None).transpose(-1, -2)

    def head_scores(
        self, query: torch.Tensor, key: torch.Tensor, head: int, biases=(True, True)
    ) -> torch.Tensor:
        """One head's unscaled scores [..., seq, seq]: :meth:`scores` without the others';
        ``biases`` says whether the queries and the keys get their bias."""
        q = query @ self.W_Q[head].T  # [..., seq, d_head]
        k = key @ self.W_K[head].T
        if self.b_Q is not None:
            q = q + self.b_Q[head] if biases[0] else q
            k = k + self.b_K[head] if biases[1] else k
        return q @ k.transpose(-1, -2)

    def pattern(self, scores: torch.Tensor) -> torch.Tensor:
        """``softmax(causal_mask(scores / sqrt(d_head)))`` over keys, [..., seq, seq]."""
        seq = scores.shape[-1]
        causal = torch.ones(seq, seq, dtype=torch.bool, device=scores.device).tril()
        scaled = (scores / math.sqrt(self.d_head)).masked_fill(~causal, float("-inf"))
        return torch.softmax(scaled, dim=-1)

    def output(
        self, x: torch.Tensor, pattern: torch.Tensor, only: int | None = None, biases: bool = True
    ) -> torch.Tensor:
        """What the heads write: ``concat_h(A^h (x W_V^{hT} + b_V^h)) W_O^T + b_O``
        [..., seq, d_model] (the biases if the layer has them, unless ``biases=False``).

        ``pattern`` [..., n_heads, seq, seq]; ``only``: keep that head's output alone (the
        others' outputs are zeroed before ``W_O``, the usual way to ablate heads; ``b_O``, no
        head's, is then left out).
        """
        b_V = self.b_V if biases else None
        z = pattern @ self._project(x, self.W_V, b_V)  # [..., n_heads, seq, d_head]
        if only is not None:
            mask = torch.zeros(self.n_heads, 1, 1, dtype=z.dtype, device=z.device)
            mask[only] = 1
            z = z * mask
        concat = z.transpose(-3, -2).reshape(*x.shape[:-1], self.n_heads * self.d_head)
        W_O = self.W_O.permute(1, 0, 2).reshape(x.shape[-1], -1)  # [W_O^0 W_O^1 ...]
        out = concat @ W_O.T
        return out if self.b_O is None or only is not None or not biases else out + self.b_O
