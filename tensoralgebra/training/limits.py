"""Bounds on a training run: memory refused up front, time projected from the first steps.

Memory: the parameters are held four times (values, gradients, AdamW's two moments) and one
step's activations are kept for the backward pass: per layer the stream and its projections
[batch, n_ctx, ...] and the scores and patterns [batch, n_heads, n_ctx, n_ctx], and the logits
with their log-softmax and gradient [batch, n_ctx, d_vocab]. A run over ``max_bytes`` is refused
with the largest ``batch_size`` (else ``n_ctx``) that fits, as
:mod:`tensoralgebra.numeric.budget` does for weights.

>>> import tensoralgebra as ta
>>> from tensoralgebra.training.config import TrainConfig
>>> config = TrainConfig(ta.Architecture(heads=(4, 4)), d_model=64, d_head=16, n_ctx=64,
...                      batch_size=32, max_bytes=2**23)
>>> check_memory(config, d_vocab=100)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.ExpansionLimitError: training ... would take 32,562,752 bytes, over the \
memory budget of 8,388,608 bytes; batch_size=7 fits
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.numeric import budget
from tensoralgebra.training.config import TrainConfig

#: Copies of the parameters held while training: values, gradients, AdamW's two moments.
PARAMETER_COPIES = 4


def parameter_count(config: TrainConfig, d_vocab: int, n_ctx: int | None = None) -> int:
    """The number of parameters of the model ``config`` describes over ``d_vocab`` tokens
    (biases and LayerNorm weights counted whether or not the architecture has them: an upper
    bound); ``n_ctx``: another context length than the config's."""
    arch, d_model, d_head = config.architecture, config.d_model, config.d_head
    heads = sum(arch.heads)
    positions = d_model * (n_ctx or config.n_ctx) if arch.positional else 0
    per_layer = 2 * d_model + d_model  # LayerNorm weight and bias, b_O
    return (
        2 * d_model * d_vocab
        + positions
        + heads * (4 * d_head * d_model + 3 * d_head)
        + arch.n_layers * per_layer
        + d_vocab
        + 2 * d_model
    )


def training_bytes(config: TrainConfig, d_vocab: int, **sizes: int) -> int:
    """The bytes a step of ``config``'s run holds at most, as the module docstring counts;
    ``sizes``: another ``batch_size`` or ``n_ctx`` than the config's."""
    itemsize = np.dtype(config.dtype).itemsize
    batch, n_ctx = sizes.get("batch_size", config.batch_size), sizes.get("n_ctx", config.n_ctx)
    tokens = batch * n_ctx
    stream = 0
    for heads in config.architecture.heads:
        stream += tokens * (6 * config.d_model + 5 * heads * config.d_head)
        stream += 4 * batch * heads * n_ctx**2
    activations = stream + 2 * tokens * config.d_model + 3 * tokens * d_vocab
    parameters = parameter_count(config, d_vocab, n_ctx)
    return itemsize * (PARAMETER_COPIES * parameters + activations)


def check_memory(config: TrainConfig, d_vocab: int) -> None:
    """Refuse a run over ``config.max_bytes``, naming a ``batch_size`` (else an ``n_ctx``)
    that fits."""
    nbytes = training_bytes(config, d_vocab)
    if nbytes <= config.max_bytes:
        return
    option, value = None, None
    for name in ("batch_size", "n_ctx"):
        current = getattr(config, name)
        value = budget.largest_fitting(
            lambda v, name=name: training_bytes(config, d_vocab, **{name: v}),
            config.max_bytes,
            current,
        )
        if value is not None and (name, value) != ("n_ctx", 1):  # a loss needs 2 tokens
            option = name
            break
    what = (
        f"training {config.architecture!r} with d_model={config.d_model}, d_head="
        f"{config.d_head}, n_ctx={config.n_ctx}, d_vocab={d_vocab}, batch_size="
        f"{config.batch_size} in {config.dtype}"
    )
    note = "" if option else " (no smaller batch or context fits: use smaller sizes)"
    raise budget.refusal(what, nbytes, config.max_bytes, option, value, note)


def time_refusal(config: TrainConfig, done: int, seconds: float) -> ExpansionLimitError:
    """The error for a run that, at ``seconds`` for its ``done`` first steps, would take longer
    than ``config.max_seconds``: with the number of steps that fits at that pace."""
    per_step = seconds / max(done, 1)
    projected = per_step * config.steps
    fitting = int(config.max_seconds / per_step) if per_step > 0 else config.steps
    reason = (
        f"training {config.steps:,} steps would take about {projected:,.0f} s at the "
        f"{per_step:.3g} s per step of the first {done}, over max_seconds={config.max_seconds:g}"
    )
    return ExpansionLimitError(
        reason, option="steps" if fitting >= 1 else None, value=fitting or None
    )
