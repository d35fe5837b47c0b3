"""Order-by-order ablation: the loss with only the paths of order ≤ k, for k = 0 … n_layers.

The logits are a sum over paths (docs/conventions.md §2): the direct path ``W_U W_E`` (order 0),
one term per head (order 1) and one per virtual head, a chain of heads in increasing layers
(order 2 and more). As in the paper, the expansion is taken with the *full* model's attention
patterns (and LayerNorm scales, docs/conventions.md §7): every restricted pass reads the
patterns of the unrestricted pass on the same tokens (``model.run(tokens, frozen=trace,
keep_order=k)``), so the order-``n_layers`` loss is the model's own. Constants (biases, the
LayerNorms' biases) are order 0, where they join.

The table holds the mean next-token cross-entropy (nats) of each order, their marginal
reductions (order ``k`` lowers the loss by ``loss[k-1] - loss[k]``), the same split by layer
(the paths whose last head is in layer ``l``), and the contribution of each term kind: the
direct path against a uniform prediction (``log d_vocab``), the heads against the direct path,
the virtual heads against the heads. The marginal reductions sum to ``loss[0] - loss[n_layers]``
by construction; order 0 is also computed independently (:func:`direct_logits`, from the
weights alone), which tests compare.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture(heads=(2, 2)), d_model=8, d_head=4, d_vocab=9, n_ctx=6)
>>> table = order_ablation(ta.AttentionOnlyTransformer(w), [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]])
>>> len(table.losses), abs(table.losses[-1] - table.full) < 1e-12
(3, True)
>>> abs(sum(table.marginal) - (table.losses[0] - table.full)) < 1e-12
True

A shipped model reads its own held-out text by default:

>>> order_ablation("two-layer-induction").tokens_shape
(64, 32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tensoralgebra.circuits import shipped
from tensoralgebra.circuits.passes import check_dataset, chunks, next_token_losses
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.budget import MEMORY_BUDGET
from tensoralgebra.numeric.trace import Trace
from tensoralgebra.numeric.weights import Weights

#: The term kinds of the logits, in order of their order: 0, 1, 2 and more.
TERM_KINDS = ("direct", "head", "virtual")


def layer_constants(w: Weights) -> np.ndarray:
    """What each layer adds whatever its input [n_layers, d_model]: its heads' output on its
    LayerNorm's bias alone with every bias, ``Σ_h W_O^h (W_V^h ln_b + b_V^h) + b_O`` (patterns'
    rows sum to 1, so no pattern enters); zeros without biases."""
    rows = []
    for layer in range(w.architecture.n_layers):
        value = np.zeros(w.W_V[layer].shape[:2], dtype=w.dtype)  # [n_heads, d_head]
        if w.ln_b is not None:
            value = value + w.W_V[layer] @ w.ln_b[layer]
        if w.b_V is not None:
            value = value + w.b_V[layer]
        out = np.einsum("hmd,hd->m", w.W_O[layer], value)
        rows.append(out if w.b_O is None else out + w.b_O[layer])
    return np.array(rows, dtype=w.dtype).reshape(len(rows), w.d_model)


def unembed(w: Weights, stream: np.ndarray, sigma: np.ndarray | None) -> np.ndarray:
    """The logits [batch, seq, d_vocab] of a residual stream [batch, seq, d_model] read through
    the final LayerNorm with the frozen scale ``sigma`` [batch, seq] (none without LayerNorm)."""
    x = stream
    if w.normalization is not None:
        x = (x - x.mean(-1, keepdims=True)) / sigma[..., None]
        x = x if w.ln_final_w is None else x * w.ln_final_w + w.ln_final_b
    logits = x @ w.W_U.T
    return logits if w.b_U is None else logits + w.b_U


def direct_logits(w: Weights, tokens: np.ndarray, sigma: np.ndarray | None) -> np.ndarray:
    """The order-0 logits [batch, seq, d_vocab] from the weights alone: the embedding (with
    standard positions) plus every layer's constant, unembedded with the final LayerNorm's frozen
    scale ``sigma`` [batch, seq]."""
    stream = w.W_E.T[tokens]
    if w.positional == "standard":
        stream = stream + w.W_pos.T[: tokens.shape[1]]
    return unembed(w, stream + layer_constants(w).sum(0), sigma)


def layer_logits(w: Weights, trace: Trace) -> list[np.ndarray]:
    """For ``l = 0 … n_layers``, the logits of the paths whose last head is in a layer before
    ``l`` and every constant: ``residual[l]`` plus the constants of layers ``l`` and after."""
    constants = layer_constants(w)
    later = np.cumsum(constants[::-1], axis=0)[::-1]  # later[l] = Σ_{l' ≥ l} constants[l']
    out = []
    for layer, stream in enumerate(trace.residual):
        add = later[layer] if layer < len(constants) else 0.0
        out.append(unembed(w, stream + add, trace.ln_final_scale))
    return out


@dataclass(frozen=True)
class OrderAblation:
    """The order-by-order ablation of a model on a dataset (losses in nats, means over every
    next-token prediction of ``tokens_shape``).

    ``losses[k]``: only paths of order ≤ k (k = 0 … n_layers), patterns frozen from the full
    pass; ``full``: the unrestricted model; ``direct``: order 0 computed from the weights alone;
    ``by_layer[l]``: the paths whose last head is in a layer before ``l`` (``by_layer[0]`` is the
    direct path, ``by_layer[n_layers]`` the full model); ``uniform``: ``log d_vocab``.
    """

    losses: tuple[float, ...]
    full: float
    direct: float
    by_layer: tuple[float, ...]
    uniform: float
    tokens_shape: tuple[int, int]

    @property
    def marginal(self) -> tuple[float, ...]:
        """How much each order k = 1 … n_layers lowers the loss: ``losses[k-1] - losses[k]``."""
        return tuple(a - b for a, b in zip(self.losses, self.losses[1:]))

    @property
    def layer_reductions(self) -> tuple[float, ...]:
        """How much the paths ending in each layer lower the loss: ``by_layer[l] -
        by_layer[l+1]``."""
        return tuple(a - b for a, b in zip(self.by_layer, self.by_layer[1:]))

    @property
    def kinds(self) -> dict[str, float]:
        """Each term kind's loss reduction: the direct path against ``uniform``, the heads
        against the direct path, the virtual heads against the heads."""
        last = self.losses[-1]
        head = self.losses[0] - self.losses[min(1, len(self.losses) - 1)]
        virtual = self.losses[min(1, len(self.losses) - 1)] - last
        return {"direct": self.uniform - self.losses[0], "head": head, "virtual": virtual}

    def to_dict(self) -> dict:
        """A JSON-ready dict of every figure."""
        return {
            "tokens_shape": list(self.tokens_shape),
            "uniform": self.uniform,
            "losses": list(self.losses),
            "marginal": list(self.marginal),
            "full": self.full,
            "direct": self.direct,
            "by_layer": list(self.by_layer),
            "layer_reductions": list(self.layer_reductions),
            "kinds": self.kinds,
        }

    def __str__(self) -> str:
        lines = [
            f"order-by-order ablation on tokens of shape {self.tokens_shape} (nats; uniform "
            f"prediction {self.uniform:.4f}, full model {self.full:.4f})",
            "  order  loss      reduction",
        ]
        for k, loss in enumerate(self.losses):
            reduction = self.uniform - loss if k == 0 else self.marginal[k - 1]
            lines.append(f"  ≤ {k:<4} {loss:<9.4f} {reduction:+.4f}")
        lines.append("  layer  reduction (paths whose last head is in the layer)")
        lines += [f"  L{layer:<5} {r:+.4f}" for layer, r in enumerate(self.layer_reductions)]
        lines.append("  term kind  reduction")
        lines += [f"  {kind:<10} {r:+.4f}" for kind, r in self.kinds.items()]
        return "\n".join(lines)


def order_ablation(
    model: object,
    tokens: object = None,
    *,
    full_context: bool = False,
    max_bytes: int = MEMORY_BUDGET,
) -> OrderAblation:
    """The :class:`OrderAblation` of ``model`` (or the shipped model it names) on ``tokens``
    [n, seq] (``seq ≥ 2``; with ``full_context``, ``seq`` must be the model's ``n_ctx``), in
    chunks of rows within ``max_bytes``. Without ``tokens``: a shipped model's own held-out
    sequences (the first :data:`~tensoralgebra.circuits.shipped.SEQUENCES` of its ``dataset``);
    another model is refused."""
    model = shipped.resolve(model)
    if tokens is None:
        tokens = shipped.held_out(model)
        if tokens is None:
            raise TensorAlgebraError(
                "order_ablation needs tokens [n, seq]: the model does not know its data (a "
                "shipped model, ta.models.load(NAME), reads its held-out text by default)"
            )
    model, array = check_dataset(
        model, tokens, "order_ablation", min_seq=2, full_context=full_context
    )
    w, top = model.weights, len(model.layers)
    sums = np.zeros(top + 1)
    full = direct = 0.0
    by_layer = np.zeros(top + 1)
    parts = chunks(model, array, "order ablation", streams=top + 1, max_bytes=max_bytes)
    for part in parts:
        trace = model.run(part)
        full += next_token_losses(trace.logits, part).sum()
        direct += next_token_losses(direct_logits(w, part, trace.ln_final_scale), part).sum()
        for k in range(top + 1):
            logits = model.run(part, frozen=trace, keep_order=k).logits
            sums[k] += next_token_losses(logits, part).sum()
        by_layer += [next_token_losses(x, part).sum() for x in layer_logits(w, trace)]
    n = array.shape[0] * (array.shape[1] - 1)
    return OrderAblation(
        losses=tuple(float(s / n) for s in sums),
        full=float(full / n),
        direct=float(direct / n),
        by_layer=tuple(float(s / n) for s in by_layer),
        uniform=math.log(w.d_vocab),
        tokens_shape=tuple(array.shape),
    )
