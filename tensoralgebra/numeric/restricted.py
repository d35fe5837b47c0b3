"""Path-restricted forward passes, many paths at once: the reference ``verify`` checks each term
against, computed with the model's own attention modules (the conventional Q/K/V/O code path,
never the stacks' ``W_OV`` products), so that agreement is evidence, not a tautology.

A pass restricted to a path (what ``model.record(tokens, frozen=..., keep=path)`` computes, one
path at a time) starts from the path's source alone; at a layer on the path only that head's
output is kept, read through the frozen LayerNorm without its bias and written without biases;
at a layer off it the stream is carried by the skip connection, plus the layer's constant output
where the path's source is that layer's constant ``"bias L<l>"``. Every pattern and LayerNorm
scale is frozen, so the passes of a chunk of paths are one batched pass: the streams are stacked
[n, batch, seq, d_model] and, layer by layer, the paths through each head go through it together.

>>> import numpy as np, tensoralgebra as ta
>>> model = ta.AttentionOnlyTransformer(ta.Weights.random(
...     ta.Architecture(heads=(2, 2)), d_model=8, d_head=2, d_vocab=7, n_ctx=4))
>>> trace = model.run([[0, 3, 5, 1]])
>>> paths = list(ta.logit_paths(model.architecture))
>>> streams = final_streams(model, trace, paths)
>>> tuple(streams.shape)
(9, 1, 4, 8)
>>> one = model.record([[0, 3, 5, 1]], frozen=trace, keep=paths[4]).residual[-1]
>>> bool(np.abs(streams[4].numpy() - one).max() < 1e-12)
True
"""

from __future__ import annotations

import numpy as np
import torch

from tensoralgebra.paths import bias_layer


def final_streams(model, frozen, paths, before: int | None = None) -> torch.Tensor:
    """The residual streams [len(paths), batch, seq, d_model] the passes restricted to each of
    ``paths`` (:class:`~tensoralgebra.LogitPath`, each from a source with a stream: a token,
    standard positions or a layer's constant) feed into layer ``before`` (default: the final
    stream, before the unembedding)."""
    before = len(model.layers) if before is None else before
    ids = torch.from_numpy(np.array(frozen.tokens))
    x = _sources(model, ids, paths)
    dtype = x.dtype
    with torch.no_grad():
        for index in range(before):
            layer = model.layers[index]
            scale = model.frozen_scale(frozen, index)
            pattern = torch.from_numpy(np.array(frozen.patterns[index], dtype=_numpy(dtype)))
            x = _through_layer(model, layer, index, x, paths, scale, pattern)
    return x


def _through_layer(model, layer, index, x, paths, scale, pattern) -> torch.Tensor:
    """The streams after layer ``index``: the paths through head ``h`` of it carry only that
    head's output (:func:`_head_output`, the model's own weights), the
    paths from its constant source add its constant output, the others pass unchanged."""
    out = x.clone()
    by_head: dict[int, list[int]] = {}
    constant = []
    for i, path in enumerate(paths):
        head = dict(path.heads).get(index)
        if head is not None:
            by_head.setdefault(head, []).append(i)
        elif bias_layer(path.source) == index:
            constant.append(i)
    for head, rows in by_head.items():
        read = model.read_frozen(x[rows], layer.ln_w, scale)
        out[rows] = _head_output(layer, read, pattern, head)
    if constant:
        ln_b = layer.ln_b if layer.ln_b is not None else torch.zeros(x.shape[-1], dtype=x.dtype)
        zero = torch.zeros_like(x[constant]) + ln_b
        out[constant] = x[constant] + layer.output(zero, pattern)
    return out


def _head_output(layer, read: torch.Tensor, pattern: torch.Tensor, head: int) -> torch.Tensor:
    """Head ``head``'s output alone, no biases, from its slices of the layer's ``W_V``
    [n_heads, d_head, d_model] and ``W_O`` [n_heads, d_model, d_head]: ``A^h x W_V^{hT} W_O^{hT}``
    [n, batch, seq, d_model] for ``read`` [n, batch, seq, d_model] and ``pattern``
    [batch, n_heads, seq, seq]. What ``layer.output(read, pattern, only=head, biases=False)``
    gives, without computing and masking the other heads' values."""
    return pattern[:, head] @ (read @ layer.W_V[head].T) @ layer.W_O[head].T


def _sources(model, ids: torch.Tensor, paths) -> torch.Tensor:
    """Each path's source alone, [n, batch, seq, d_model]: its token or positional embedding,
    or zeros for a layer's constant source (which joins at its layer)."""
    embedded = {}
    rows = []
    for path in paths:
        source = path.source
        if source not in embedded:
            if source in ("token", "position"):
                embedded[source] = model.embed(ids, (source,))
            else:
                embedded[source] = torch.zeros(
                    (*ids.shape, model.W_E.shape[0]), dtype=model.W_E.dtype
                )
        rows.append(embedded[source])
    return torch.stack(rows)


def _numpy(dtype: torch.dtype):
    return np.float32 if dtype == torch.float32 else np.float64
