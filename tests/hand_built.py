"""Hand-built models whose heads do known things: a previous-token head, a duplicate-token head,
a uniform head (layer 0) and an induction head (layer 1) that copies the predicted token.

The residual stream has four slots of one-hot directions: the current token (``d_vocab``), the
position (``n_ctx``), the previous token (written by the previous-token head) and the output
(written by the induction head, read by the unembedding). Scores are ``SHARP`` on a match, so
patterns are nearly one-hot.
"""

import numpy as np

import tensoralgebra as ta

SHARP = 40.0


def induction_model(
    d_vocab: int = 12, n_ctx: int = 16, copy: float = 8.0
) -> ta.AttentionOnlyTransformer:
    """``copy``: the logit the induction head gives the token it copies."""
    tok, pos, prev, out = 0, d_vocab, d_vocab + n_ctx, 2 * d_vocab + n_ctx
    d_model, d_head = 3 * d_vocab + n_ctx, d_vocab + n_ctx
    beta = SHARP * np.sqrt(d_head)
    W_E = np.zeros((d_model, d_vocab))
    W_E[tok + np.arange(d_vocab), np.arange(d_vocab)] = 1
    W_pos = np.zeros((d_model, n_ctx))
    W_pos[pos + np.arange(n_ctx), np.arange(n_ctx)] = 1
    W_U = np.zeros((d_vocab, d_model))
    W_U[np.arange(d_vocab), out + np.arange(d_vocab)] = copy
    q, k, v = (np.zeros((3, d_head, d_model)) for _ in range(3))
    o = np.zeros((3, d_model, d_head))
    for i in range(1, n_ctx):  # head 0: query at i matches key at i - 1
        q[0, i, pos + i], k[0, i, pos + i - 1] = beta, 1
    for t in range(d_vocab):  # head 0 copies the token into the previous-token slot
        v[0, t, tok + t], o[0, prev + t, t] = 1, 1
        q[1, t, tok + t], k[1, t, tok + t] = beta, 1  # head 1: same token ...
    for i in range(n_ctx):  # ... but not the same position
        q[1, d_vocab + i, pos + i], k[1, d_vocab + i, pos + i] = -2 * beta, 1
    q1, k1, v1 = (np.zeros((1, d_head, d_model)) for _ in range(3))
    o1 = np.zeros((1, d_model, d_head))
    for t in range(d_vocab):  # the query's token matches the key's previous token; copy the key
        q1[0, t, tok + t], k1[0, t, prev + t] = beta, 1
        v1[0, t, tok + t], o1[0, out + t, t] = 1, 1
    weights = ta.Weights(
        W_E=W_E, W_U=W_U, W_Q=[q, q1], W_K=[k, k1], W_V=[v, v1], W_O=[o, o1], W_pos=W_pos
    )
    return ta.AttentionOnlyTransformer(weights)
