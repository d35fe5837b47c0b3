"""Rewrite a model's weights into a simpler model that computes the same logits and patterns
(docs/conventions.md §7): LayerNorm's weight and bias folded into what reads the stream, writing
weights centred, value biases folded into the output bias.

In the paper's convention (column vectors), with a layer's LayerNorm
``LN(r) = w ⊙ C r / σ + b`` (``C`` the centring projection), a head reads
``W_Q LN(r) + b_Q = (W_Q diag(w)) C r / σ + (W_Q b + b_Q)``: after :func:`fold_ln` the model has
LNPre (centre and scale only) and the folded matrices and biases. Each function returns new
:class:`~tensoralgebra.Weights` and leaves its argument alone.

>>> import numpy as np, tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture((2,)), d_model=8, d_head=4, d_vocab=11, n_ctx=5,
...                       normalization="LN", biases=True)
>>> folded = ta.fold_value_biases(ta.center_writing_weights(ta.fold_ln(w)))
>>> folded.normalization, folded.ln_w, float(abs(folded.b_V[0]).max())
('LNPre', None, 0.0)
>>> tokens = [[1, 2, 3, 4]]
>>> before, after = (ta.AttentionOnlyTransformer(x).run(tokens) for x in (w, folded))
>>> bool(np.allclose(before.logits, after.logits, rtol=0, atol=1e-12))
True
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tensoralgebra.numeric.weights import Weights, WeightsError


class FoldingError(WeightsError):
    """Weights a folding does not apply to; the message says what it needs."""


def _check(weights: object, caller: str) -> Weights:
    if not isinstance(weights, Weights):
        raise FoldingError(f"{caller} needs ta.Weights, got {type(weights).__name__}")
    return weights


def _biases(weights: Weights) -> dict:
    """The biases, zeros where the model has none: [n_heads, d_head] and [d_model] per layer."""
    if weights.has_biases:
        return {n: list(getattr(weights, n)) for n in ("b_Q", "b_K", "b_V", "b_O", "b_U")}
    zeros = np.zeros
    dtype, d_head, d_model = weights.dtype, weights.d_head, weights.d_model
    per_head = [zeros((q.shape[0], d_head), dtype) for q in weights.W_Q]
    return {
        "b_Q": per_head,
        "b_K": per_head,
        "b_V": per_head,
        "b_O": [zeros(d_model, dtype) for _ in weights.W_Q],
        "b_U": zeros(weights.d_vocab, dtype),
    }


def fold_ln(weights: Weights) -> Weights:
    """``weights`` with every LayerNorm's weight ``w`` and bias ``b`` [d_model] folded into the
    matrices and biases that read its output; normalization ``"LN"`` becomes ``"LNPre"``.

    Per head ``W_Q ← W_Q diag(w)``, ``b_Q ← b_Q + W_Q b`` [n_heads, d_head] (and ``K``, ``V``
    alike), with layer ``l``'s ``ln1``; ``W_U ← W_U diag(w_f)``, ``b_U ← b_U + W_U b_f``
    [d_vocab] with the final LayerNorm. A model without biases gains them. Refused: a model
    without normalization ``"LN"``, and one with shortformer positions (they join after ``ln1``,
    so folding ``w`` would need a different ``W_pos`` for every layer).
    """
    weights = _check(weights, "fold_ln")
    if weights.normalization != "LN":
        raise FoldingError(
            f"fold_ln needs a model with LayerNorm weights (normalization 'LN'); this one has "
            f"normalization {weights.normalization!r}"
        )
    if weights.positional == "shortformer":
        raise FoldingError(
            "fold_ln cannot fold LayerNorm into a model with shortformer positions: they are "
            "added after ln1, so each layer's LayerNorm weight would need its own W_pos"
        )
    biases = _biases(weights)
    folded = {}
    for name in ("Q", "K", "V"):
        reading = getattr(weights, f"W_{name}")
        folded[f"W_{name}"] = [W * w for W, w in zip(reading, weights.ln_w)]
        pairs = zip(reading, biases[f"b_{name}"], weights.ln_b)
        folded[f"b_{name}"] = [bias + W @ b for W, bias, b in pairs]
    folded["W_U"] = weights.W_U * weights.ln_final_w
    folded["b_U"] = biases["b_U"] + weights.W_U @ weights.ln_final_b
    none = dict.fromkeys(("ln_w", "ln_b", "ln_final_w", "ln_final_b"))
    return dataclasses.replace(weights, **folded, b_O=biases["b_O"], **none, normalization="LNPre")


def center_writing_weights(weights: Weights) -> Weights:
    """``weights`` with the mean over d_model taken out of everything that writes to the
    residual stream: each column of ``W_E`` [d_model, d_vocab] and of a standard ``W_pos``
    [d_model, n_ctx], each head's ``W_O`` [d_model, d_head] column by column, ``b_O`` [d_model].

    Exact only because every reader of the stream centres it first: refused for a model without
    LayerNorm. Shortformer positions are not written to the stream and are left as they are.
    """
    weights = _check(weights, "center_writing_weights")
    if weights.normalization is None:
        raise FoldingError(
            "center_writing_weights needs a model with LayerNorm (normalization 'LN' or "
            "'LNPre'): without it the heads and the unembedding read the stream's mean, and "
            "taking it out would change the model"
        )
    changes = {
        "W_E": weights.W_E - weights.W_E.mean(0, keepdims=True),
        "W_O": [W - W.mean(1, keepdims=True) for W in weights.W_O],
    }
    if weights.positional == "standard":
        changes["W_pos"] = weights.W_pos - weights.W_pos.mean(0, keepdims=True)
    if weights.has_biases:
        changes["b_O"] = [b - b.mean() for b in weights.b_O]
    return dataclasses.replace(weights, **changes)


def fold_value_biases(weights: Weights) -> Weights:
    """``weights`` with each head's value bias moved into its layer's output bias:
    ``b_O ← b_O + Σ_h W_O^h b_V^h`` [d_model], ``b_V ← 0``.

    Exact because a pattern's rows sum to 1, so ``A (1 b_V^T) = 1 b_V^T``: a head passes its
    value bias on unchanged at every position. Refused for a model without biases.
    """
    weights = _check(weights, "fold_value_biases")
    if not weights.has_biases:
        raise FoldingError("fold_value_biases needs a model with biases; this one has none")
    b_O = [
        b + np.einsum("hmd,hd->m", W_O, b_V)
        for b, W_O, b_V in zip(weights.b_O, weights.W_O, weights.b_V)
    ]
    b_V = [np.zeros_like(b) for b in weights.b_V]
    return dataclasses.replace(weights, b_O=b_O, b_V=b_V)
