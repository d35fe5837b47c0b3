"""What a forward pass recorded: logits, every head's scores and pattern, the residual stream.

A :class:`Trace` is made by :meth:`AttentionOnlyTransformer.run
<tensoralgebra.numeric.model.AttentionOnlyTransformer.run>`; its arrays are read-only numpy arrays
in the model's dtype. The convention for scores: ``scores`` are the *unscaled*, pre-mask bilinear
form ``R W_QK^h R^T`` with ``W_QK^h = W_Q^{hT} W_K^h`` (the symbol ``W_QK`` of the expansion), and
``patterns`` are ``softmax_rows(causal_mask(scores / sqrt(d_head)))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.arrays import first_nonfinite


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Trace:
    """One forward pass over a batch of token sequences.

    ==================  =======================================  ===================================
    field               shape                                    what
    ==================  =======================================  ===================================
    ``tokens``          [batch, seq]                             the input tokens (int64)
    ``logits``          [batch, seq, d_vocab]                    the output
    ``patterns[l]``     [batch, n_heads_l, seq, seq]             ``A^{l,h}``: row = query, col = key
    ``scores[l]``       [batch, n_heads_l, seq, seq]             unscaled pre-mask ``R W_QK^h R^T``
    ``residual[l]``     [batch, seq, d_model]                    the stream layer ``l`` reads;
                                                                 ``residual[n_layers]`` is the last
    ``attention[l]``    [batch, seq, d_model]                    what layer ``l``'s heads add
    ``ln_scale[l]``     [batch, seq]                             ``σ`` of layer ``l``'s ``ln1``
    ``ln_final_scale``  [batch, seq]                             ``σ`` of the final LayerNorm
    ==================  =======================================  ===================================

    ``ln_scale`` and ``ln_final_scale`` are ``None`` for a model without LayerNorm; otherwise
    ``σ = sqrt(var + eps)`` of each position of the stream the LayerNorm reads (TransformerLens's
    ``hook_scale``), so the frozen scale of docs/conventions.md §7 is ``N = diag(1/σ)``. With
    LayerNorm ``residual[l]`` is the stream before ``ln1``; with biases ``attention[l]``
    includes ``b_O``; with shortformer positions ``scores`` include them. ``keep`` and
    ``keep_order`` say what the pass was restricted to (``None``: the whole model).
    """

    tokens: np.ndarray
    logits: np.ndarray
    patterns: tuple[np.ndarray, ...]
    scores: tuple[np.ndarray, ...]
    residual: tuple[np.ndarray, ...]
    attention: tuple[np.ndarray, ...]
    keep: object = None
    keep_order: int | None = None
    ln_scale: tuple[np.ndarray, ...] | None = None
    ln_final_scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("tokens", "logits", "ln_final_scale"):
            if getattr(self, name) is not None:
                set_(self, name, _readonly(getattr(self, name)))
        for name in ("patterns", "scores", "residual", "attention", "ln_scale"):
            if getattr(self, name) is not None:
                set_(self, name, tuple(_readonly(a) for a in getattr(self, name)))

    def nonfinite(self) -> str | None:
        """Where the first value that is NaN or ±inf is (``'scores[0][0, 1, 2, 0] is inf'``:
        field, layer, index), or ``None`` if every value is finite."""
        fields = ("logits", "ln_final_scale", "scores", "patterns", "residual", "attention")
        for name in (*fields, "ln_scale"):
            arrays = getattr(self, name)
            if arrays is None:
                continue
            single = name in ("logits", "ln_final_scale")
            for layer, array in [(None, arrays)] if single else enumerate(arrays):
                where = first_nonfinite(array)
                if where:
                    return name + ("" if layer is None else f"[{layer}]") + where
        return None

    @property
    def batch(self) -> int:
        return self.tokens.shape[0]

    @property
    def seq(self) -> int:
        return self.tokens.shape[1]

    @property
    def n_layers(self) -> int:
        return len(self.patterns)

    def _head(self, arrays: tuple[np.ndarray, ...], layer: int, head: int, what: str):
        if not (0 <= layer < len(arrays)) or not (0 <= head < arrays[layer].shape[1]):
            heads = [a.shape[1] for a in arrays]
            raise TensorAlgebraError(
                f"no {what} for head ({layer}, {head}): the traced model has heads {tuple(heads)}"
            )
        return arrays[layer][:, head]

    def pattern(self, layer: int, head: int) -> np.ndarray:
        """``A^{layer,head}`` [batch, seq, seq], rows summing to 1, zero above the diagonal."""
        return self._head(self.patterns, layer, head, "pattern")

    def head_scores(self, layer: int, head: int) -> np.ndarray:
        """The unscaled pre-mask scores ``R W_QK R^T`` of one head [batch, seq, seq]."""
        return self._head(self.scores, layer, head, "scores")


class Recorder:
    """Collects a forward pass layer by layer (torch tensors) and makes its :class:`Trace`."""

    def __init__(self):
        self.residual, self.scores, self.patterns, self.attention = [], [], [], []
        self.scales = []

    def layer(self, x, scores, pattern, scale=None) -> None:
        """The stream ``x`` a layer reads, its heads' scores and patterns, ``ln1``'s scale."""
        self.residual.append(x)
        self.scores.append(scores)
        self.patterns.append(pattern)
        self.scales.append(scale)

    def trace(self, tokens, final, unembedded, **restriction) -> Trace:
        """The :class:`Trace`, from the final stream and ``(logits, ln_final's scale)``."""

        def numpy(tensors):
            return tuple(t.cpu().numpy() for t in tensors)

        logits, final_scale = unembedded
        normalized = final_scale is not None
        return Trace(
            tokens=tokens,
            logits=logits.cpu().numpy(),
            patterns=numpy(self.patterns),
            scores=numpy(self.scores),
            residual=numpy([*self.residual, final]),
            attention=numpy(self.attention),
            ln_scale=numpy(self.scales) if normalized else None,
            ln_final_scale=final_scale.cpu().numpy() if normalized else None,
            **restriction,
        )
