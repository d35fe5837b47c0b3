"""The conventional forward pass of an attention-only transformer, in torch.

Written the way such models usually are (per-layer Q/K/V projections of the concatenated heads,
scores scaled by ``1/sqrt(d_head)``, a causal mask of ``-inf``, softmax, heads concatenated and
multiplied by ``W_O``, residual adds, unembedding), and deliberately *not* built from the
path expansion: agreement between the two is then evidence, not a tautology.

Convention: the symbol ``W_QK^h`` of the expansion is the *unscaled* ``W_Q^{hT} W_K^h``. The
scores a :class:`~tensoralgebra.numeric.trace.Trace` records are therefore ``R W_QK^h R^T``
(before the mask), and the patterns are ``softmax(mask(scores / sqrt(d_head)))``.

Real architectures (docs/conventions.md §7) are computed as TransformerLens computes them: a
LayerNorm ``ln1`` before every layer's heads and ``ln_final`` before the unembedding (centre,
divide by ``sqrt(var + eps)`` with the biased variance, then weight and bias for ``"LN"``), the
biases added to queries, keys, values, the layer's output and the logits, and shortformer
positions added after ``ln1`` to what queries and keys read, never to the stream or the values.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture(heads=(2, 2)), d_model=8, d_head=4, d_vocab=11, n_ctx=6)
>>> model = ta.AttentionOnlyTransformer(w)
>>> trace = model.run([[1, 2, 3, 4], [4, 3, 2, 1]])
>>> trace.logits.shape, trace.pattern(1, 0).shape, len(trace.residual)
((2, 4, 11), (2, 4, 4), 3)
>>> bool(abs(trace.pattern(1, 0).sum(-1) - 1).max() < 1e-12)
True
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from tensoralgebra import validation
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.attention import AttentionLayer, layer_norm, param
from tensoralgebra.numeric.checked import sharing
from tensoralgebra.numeric.model_weights import OPTIONAL_PER_LAYER, weights_of
from tensoralgebra.numeric.parameters import real_parts
from tensoralgebra.numeric.tokens import check_keep, check_tokens
from tensoralgebra.numeric.trace import Recorder, Trace
from tensoralgebra.numeric.weights import Weights
from tensoralgebra.paths import UNEMBEDDING_BIAS, bias_source


class AttentionOnlyTransformer(nn.Module):
    """An attention-only transformer with the given :class:`Weights`.

    ``forward(tokens)`` returns the logits [batch, seq, d_vocab] as a tensor; :meth:`run` returns
    a :class:`Trace` of everything, optionally with frozen patterns and restricted to one path or
    to the paths of order ≤ k. The parameters are the module's (``requires_grad=False``); the
    expansion is evaluated with their current values (see :attr:`weights`).

    ``device``: where the parameters live and the forward pass runs (a name such as ``"cpu"``,
    ``"cuda"``, ``"cuda:1"``, or a ``torch.device``; default ``"cpu"``); one that does not exist
    or is not available here is refused naming what is. :meth:`to` moves the model, and
    :attr:`device` says where it is. A :class:`Trace` is always numpy, on the host; the bindings
    (:class:`~tensoralgebra.numeric.bind.Bindings`) and the searches (``ta.top_paths``,
    ``ta.top_score_paths``) compute on the model's device. The dtype is the weights'
    (float32 or float64).
    ``name`` and ``dataset``: the recipe and the ``TokenData`` a shipped model was trained on
    (:func:`tensoralgebra.models.load` sets them; ``None`` otherwise).

    >>> import tensoralgebra as ta
    >>> w = ta.Weights.random(ta.Architecture(heads=(1,)), d_model=4, d_head=2, d_vocab=5,
    ...                       n_ctx=3, dtype="float32")
    >>> model = ta.AttentionOnlyTransformer(w, device="cpu")
    >>> model.device, model.W_E.dtype
    (device(type='cpu'), torch.float32)
    >>> model.to("tpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: device is 'tpu': not a torch device; available: cpu...
    """

    def __init__(self, weights: Weights, device: object = "cpu"):
        super().__init__()
        if not isinstance(weights, Weights):
            raise TensorAlgebraError(f"AttentionOnlyTransformer needs Weights, got {weights!r}")
        self.W_E, self.W_U = param(weights.W_E), param(weights.W_U)
        self.W_pos = param(weights.W_pos)
        self.b_U = param(weights.b_U)
        self.ln_final_w, self.ln_final_b = param(weights.ln_final_w), param(weights.ln_final_b)
        self.layers = nn.ModuleList(
            AttentionLayer(*w, **_layer_extras(weights, index))
            for index, w in enumerate(zip(weights.W_Q, weights.W_K, weights.W_V, weights.W_O))
        )
        self.n_ctx, self.d_head = weights.n_ctx, weights.d_head
        self.normalization, self.eps = weights.normalization, weights.eps
        self.positional = weights.positional
        self.architecture = weights.architecture
        self.real_parts = real_parts(weights)
        # What the model was trained on, when its file says (ta.models.load sets both): the
        # recipe's name and its TokenData, the analyses' default data and decoding.
        self.name: str | None = None
        self.dataset = None
        self.to(device)

    @property
    def device(self):
        """The ``torch.device`` the parameters are on."""
        return self.W_E.device

    def to(self, device: object) -> AttentionOnlyTransformer:
        """Move the parameters to ``device`` (checked: it must exist and be available here);
        returns the model."""
        return super().to(validation.device(device))

    @property
    def weights(self) -> Weights:
        """The current parameter values as :class:`Weights` (validated again: finite, shapes),
        copied: they stay as they are whatever happens to the model later."""
        return weights_of(self)

    def weights_view(self) -> Weights:
        """The current parameter values as :class:`Weights` without a copy where the parameters
        are on the host: read-only numpy views of their storage, validated as :attr:`weights`.
        They follow the parameters, so they are for one computation during which the model is
        not changed (evaluating and verifying bind their symbols to them, which at
        attn-only-4l's shapes saves the 0.2 GB a copy of ``W_E`` and ``W_U`` takes); keep
        :attr:`weights` instead.

        >>> import numpy as np, tensoralgebra as ta
        >>> model = ta.AttentionOnlyTransformer(ta.Weights.random(
        ...     ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3))
        >>> view, copy = model.weights_view(), model.weights
        >>> parameter = model.W_U.detach().numpy()
        >>> np.shares_memory(view.W_U, parameter), np.shares_memory(copy.W_U, parameter)
        (True, False)
        >>> view.W_U.flags.writeable
        False
        """
        with sharing():
            return weights_of(self)

    def tokens(self, tokens: object) -> np.ndarray:
        """``tokens`` checked for this model: int64 [batch, seq], ``seq ≤ n_ctx``."""
        return check_tokens(tokens, self.W_E.shape[1], self.n_ctx)

    def embed(self, tokens: torch.Tensor, sources=("token", "position")) -> torch.Tensor:
        """The residual stream before layer 0, [batch, seq, d_model]: the token embedding plus,
        with standard positions, the positional embedding (only the listed ``sources``)."""
        x = (
            self.W_E.T[tokens]
            if "token" in sources
            else torch.zeros(
                (*tokens.shape, self.W_E.shape[0]), dtype=self.W_E.dtype, device=self.device
            )
        )
        if self.positional == "standard" and "position" in sources:
            x = x + self.W_pos.T[: tokens.shape[1]]
        return x

    def forward(self, tokens: object) -> torch.Tensor:
        """The logits [batch, seq, d_vocab]."""
        return torch.from_numpy(np.array(self.run(tokens).logits)).to(self.device)

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """The logits [batch, seq, d_vocab] of the int64 tensor ``ids`` [batch, seq], unchecked,
        unrecorded and differentiable: the conventional pass for training (parameters made
        trainable with ``requires_grad_(True)``)."""
        x = self.embed(ids)
        for layer in self.layers:
            normed, query_key, _ = self._attention_inputs(x, layer)
            x = x + layer.output(normed, layer.pattern(layer.scores(query_key, query_key)))
        return self._unembed(x)[0]

    def run(
        self,
        tokens: object,
        frozen: Trace | None = None,
        keep: object = None,
        keep_order: int | None = None,
    ) -> Trace:
        """Run the model on ``tokens`` [batch, seq] and record a :class:`Trace`.

        ``frozen``: take every pattern from that trace instead of computing it. ``keep``: only
        the path given (a :class:`~tensoralgebra.LogitPath`, or ``(layer, head)`` pairs from
        every source); at a layer on the path only that head's output is kept, with no skip
        connection, at a layer off it only the skip connection. ``keep_order=k``: only paths of
        order ≤ k, computed by carrying the residual stream split by order. Both need frozen
        patterns; without ``frozen`` they are the patterns of the unrestricted pass.

        A pass that overflows the dtype (values NaN or ±inf) is returned as computed, with a
        ``RuntimeWarning`` saying where the first such value is.

        With LayerNorm, ``frozen`` freezes its scales ``σ`` too (docs/conventions.md §7), and a
        restricted pass reads every LayerNorm without its bias; a ``LogitPath`` may start from a
        constant source ``"bias L<l>"`` (layer ``l``'s output on its LayerNorm's bias alone, with
        every bias of the layer) or be the ``"unembedding bias"``; ``keep_order`` counts each
        constant as order 0 where it joins.
        """
        trace = self.record(tokens, frozen, keep, keep_order)
        problem = trace.nonfinite()
        if problem:
            warnings.warn(
                f"the forward pass is not finite: {problem} (values too large for "
                f"{trace.logits.dtype}?)",
                RuntimeWarning,
                stacklevel=2,
            )
        return trace

    @torch.no_grad()
    def record(self, tokens, frozen=None, keep=None, keep_order=None) -> Trace:
        """:meth:`run` without the warning about values that are not finite (for callers that
        report them themselves, as ``verify`` does)."""
        array = self.tokens(tokens)
        if keep is not None and keep_order is not None:
            raise TensorAlgebraError("give keep or keep_order, not both")
        if keep_order is not None:
            n = len(self.layers)
            keep_order = validation.integer(
                keep_order,
                "keep_order",
                low=0,
                high=n + 1,
                context=f"a path of this {n}-layer model has order 0..{n}",
            )
        path, sources = ({}, ()) if keep is None else self._keep(keep)
        if (keep is not None or keep_order is not None) and frozen is None:
            frozen = self.record(array)
        if frozen is not None:
            self._check_frozen(frozen, array)
        ids = torch.from_numpy(array).to(self.device)
        if keep_order is not None:
            return self._run_by_order(ids, frozen, keep_order)
        if keep is not None:
            return self._run_path(ids, frozen, path, sources, keep)
        return self._run(ids, frozen)

    def _run(self, ids: torch.Tensor, frozen: Trace | None) -> Trace:
        """The conventional pass; with ``frozen``, its patterns and LayerNorm scales."""
        x = self.embed(ids)
        recorder = Recorder()
        for index, layer in enumerate(self.layers):
            scale = self.frozen_scale(frozen, index)
            normed, query_key, scale = self._attention_inputs(x, layer, scale)
            scores = layer.scores(query_key, query_key)
            pattern = layer.pattern(scores) if frozen is None else self._frozen(frozen, index)
            recorder.layer(x, scores, pattern, scale)
            out = layer.output(normed, pattern)
            x = x + out
            recorder.attention.append(out)
        unembedded = self._unembed(x, self.frozen_scale(frozen, None))
        return recorder.trace(array_of(ids), x, unembedded)

    def _run_path(self, ids, frozen: Trace, path: dict, sources: tuple, keep) -> Trace:
        """Only ``path`` from ``sources``, every pattern and LayerNorm scale frozen: at a layer
        on the path only that head's output, read through the frozen LayerNorm without its bias
        and written without biases; at a layer off it the skip connection, plus the layer's
        constant when ``"bias L<l>"`` is a source (its output on its LayerNorm's bias alone, with
        every bias: ``1 c^{Ll}``, as ``A 1 = 1``)."""
        x = self.embed(ids, sources)
        recorder = Recorder()
        for index, layer in enumerate(self.layers):
            scale, pattern = self.frozen_scale(frozen, index), self._frozen(frozen, index)
            read = self.read_frozen(x, layer.ln_w, scale)
            recorder.layer(x, layer.scores(read, read, biases=False), pattern, scale)
            if index in path:
                out = layer.output(read, pattern, only=path[index], biases=False)
                x = out
            elif bias_source(index) in sources:
                out = self._constant_output(layer, pattern, x)
                x = x + out
            else:
                out = torch.zeros_like(x)
            recorder.attention.append(out)
        scale = self.frozen_scale(frozen, None)
        logits = self.read_frozen(x, self.ln_final_w, scale) @ self.W_U.T
        if UNEMBEDDING_BIAS in sources:
            logits = logits + self._constant_logits()
        return recorder.trace(array_of(ids), x, (logits, scale), keep=keep)

    def _constant_output(self, layer: AttentionLayer, pattern, like: torch.Tensor):
        """What ``layer`` writes when its LayerNorm gives only its bias (zeros without one), with
        every bias of the layer: ``1 c^{Ll}`` [..., seq, d_model]."""
        if layer.ln_b is None:
            ln_b = torch.zeros(like.shape[-1], dtype=like.dtype, device=like.device)
        else:
            ln_b = layer.ln_b
        return layer.output(torch.zeros_like(like) + ln_b, pattern)

    def constant_logits(self) -> torch.Tensor:
        """The logits every position gets whatever its stream: the final LayerNorm's bias through
        ``W_U`` plus ``b_U`` (``c_U``), [d_vocab]; zeros in a model without biases.

        >>> import tensoralgebra as ta
        >>> model = ta.AttentionOnlyTransformer(ta.Weights.random(
        ...     ta.Architecture(heads=(1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3))
        >>> model.constant_logits().tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0]
        """
        return self._constant_logits()

    def _constant_logits(self) -> torch.Tensor:
        """The logits of the final LayerNorm's bias alone, plus ``b_U``: ``c_U`` (or ``b_U``)
        [d_vocab]."""
        ln_b = self.ln_final_b
        logits = torch.zeros(self.W_U.shape[0], dtype=self.W_U.dtype, device=self.device)
        logits = logits if ln_b is None else logits + ln_b @ self.W_U.T
        return logits if self.b_U is None else logits + self.b_U

    @property
    def has_constants(self) -> bool:
        """Whether the model adds any constant (a bias, or an ``LN`` LayerNorm's bias)."""
        return self.b_U is not None or self.normalization == "LN"

    def _norm(self, x: torch.Tensor, w, b, scale=None):
        """``(normalized, scale)``: LayerNorm (``scale`` given: with that frozen ``σ``
        [batch, seq]); ``x`` itself and ``None`` without normalization."""
        if self.normalization is None:
            return x, None
        if scale is None:
            return layer_norm(x, w, b, self.eps)
        normalized = self.read_frozen(x, w, scale)
        return (normalized if b is None else normalized + b), scale

    def read_frozen(self, x: torch.Tensor, w, scale) -> torch.Tensor:
        """``x`` [..., batch, seq, d_model] through a frozen LayerNorm without its bias: centred,
        divided by the frozen ``σ`` [batch, seq], times ``w`` (``N x W̃^T``); ``x`` without
        normalization."""
        if self.normalization is None:
            return x
        normalized = (x - x.mean(-1, keepdim=True)) / scale[..., None]
        return normalized if w is None else normalized * w

    def _attention_inputs(self, x: torch.Tensor, layer: AttentionLayer, scale=None):
        """``(values' input, queries' and keys' input, ln1's scale or None)`` of ``layer``
        reading the stream ``x`` (``scale``: ln1's frozen ``σ``): shortformer positions join
        after ``ln1``, for Q and K only."""
        normed, scale = self._norm(x, layer.ln_w, layer.ln_b, scale)
        query_key = normed
        if self.positional == "shortformer":
            query_key = normed + self.W_pos.T[: x.shape[-2]]
        return normed, query_key, scale

    def _unembed(self, x: torch.Tensor, scale=None):
        """``(logits, ln_final's scale or None)`` from the final stream ``x`` (``scale``: a
        frozen ``σ``)."""
        normed, scale = self._norm(x, self.ln_final_w, self.ln_final_b, scale)
        logits = normed @ self.W_U.T
        return (logits if self.b_U is None else logits + self.b_U), scale

    def _run_by_order(self, ids: torch.Tensor, frozen: Trace, top: int) -> Trace:
        # streams[k] is the part of the residual stream carried by paths of order exactly k;
        # the frozen LayerNorms are linear but for their biases, which join as constants.
        shape = (top + 1, *ids.shape, self.W_E.shape[0])
        streams = torch.zeros(shape, dtype=self.W_E.dtype, device=self.device)
        streams[0] = self.embed(ids)
        recorder = Recorder()
        for index, layer in enumerate(self.layers):
            x = streams.sum(0)
            scale, pattern = self.frozen_scale(frozen, index), self._frozen(frozen, index)
            _, query_key, _ = self._attention_inputs(x, layer, scale)
            recorder.layer(x, layer.scores(query_key, query_key), pattern, scale)
            read = self.read_frozen(streams[:-1], layer.ln_w, scale)
            raised = layer.output(read, pattern, biases=False)  # order k-1 through a head: k
            lowest = streams[:1]
            if self.has_constants:
                constant = self._constant_output(layer, pattern, x)
                lowest, raised_sum = lowest + constant, raised.sum(0) + constant
            else:
                raised_sum = raised.sum(0)
            streams = torch.cat([lowest, streams[1:] + raised])
            recorder.attention.append(raised_sum)
        final = streams.sum(0)
        unembedded = self._unembed(final, self.frozen_scale(frozen, None))
        return recorder.trace(array_of(ids), final, unembedded, keep_order=top)

    def frozen_scale(self, frozen: Trace | None, layer: int | None):
        """The ``σ`` [batch, seq] of layer ``layer``'s LayerNorm (``None``: the final one) in
        ``frozen``; ``None`` without a frozen trace or without normalization."""
        if frozen is None or self.normalization is None:
            return None
        sigma = frozen.ln_final_scale if layer is None else frozen.ln_scale[layer]
        return self.host_tensor(sigma)

    def _frozen(self, frozen: Trace, layer: int) -> torch.Tensor:
        return self.host_tensor(frozen.patterns[layer])

    def host_tensor(self, array: np.ndarray) -> torch.Tensor:
        """A numpy array (from a :class:`Trace`) as a tensor of the model's dtype on its device."""
        return torch.from_numpy(np.array(array)).to(device=self.device, dtype=self.W_E.dtype)

    def _keep(self, keep: object) -> tuple[dict[int, int], tuple[str, ...]]:
        heads, sources = check_keep(keep, self.architecture)
        return dict(heads), sources

    def _check_frozen(self, frozen: Trace, tokens: np.ndarray) -> None:
        if not isinstance(frozen, Trace):
            raise TensorAlgebraError(f"frozen must be a Trace, got {type(frozen).__name__}")
        batch, seq = tokens.shape
        want = [(batch, layer.n_heads, seq, seq) for layer in self.layers]
        got = [tuple(p.shape) for p in frozen.patterns]
        if got != want:
            raise TensorAlgebraError(
                f"the frozen trace has patterns of shapes {got}, but tokens of shape "
                f"{tokens.shape} on this model need {want}"
            )
        if self.normalization is not None and frozen.ln_final_scale is None:
            raise TensorAlgebraError(
                "the frozen trace has no LayerNorm scales, but this model has LayerNorm "
                f"({self.normalization}): freeze a trace of a model with LayerNorm"
            )


def array_of(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a numpy array on the host (a copy only when it is on another device)."""
    return tensor.detach().cpu().numpy()


def check_model(model: object, caller: str) -> AttentionOnlyTransformer:
    """``model`` if it is an :class:`AttentionOnlyTransformer`, else a clear error."""
    if not isinstance(model, AttentionOnlyTransformer):
        raise TensorAlgebraError(
            f"{caller} needs an AttentionOnlyTransformer as its model, got {type(model).__name__}"
        )
    return model


def _layer_extras(weights: Weights, index: int) -> dict:
    names = OPTIONAL_PER_LAYER
    return {n: getattr(weights, n)[index] for n in names if getattr(weights, n) is not None}
