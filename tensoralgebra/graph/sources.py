"""The source nodes of a graph: what writes to the residual stream (or straight into a reader)
without reading it, where each is drawn, which layer first reads it and with which channels.

The paper's model has the token source and, with standard positions, the position source; both
join the stream before layer 0. A real architecture (docs/conventions.md §7) adds layer ``l``'s
constant ``"bias L<l>"`` (it joins the stream after layer ``l``: heads of later layers read it
with Q, K and V, the unembedding with ``out``), the ``"unembedding bias"`` (read by the
unembedding only), each head's own ``"query bias"`` and ``"key bias"`` (one node each, read by
every head with Q, resp. K: the edge into a head stands for that head's own constant) and
shortformer ``"position"`` (read by every head with Q and K only: it never enters the stream).

>>> import tensoralgebra as ta
>>> arch = ta.Architecture((1, 1), positional="shortformer", biases=True)
>>> for s in source_nodes(arch)[:4]:
...     print(s.name, s.column, s.enters, s.channels)
token -1 0 ('Q', 'K', 'V', 'out')
position -1 0 ('Q', 'K')
query bias -1 0 ('Q',)
key bias -1 0 ('K',)
>>> [(s.name, s.column, s.enters) for s in source_nodes(arch)][4:]
[('bias L0', 0, 1), ('bias L1', 1, 2), ('unembedding bias', 1, 2)]
"""

from __future__ import annotations

from typing import NamedTuple

from tensoralgebra.architecture import Architecture
from tensoralgebra.paths import UNEMBEDDING_BIAS, bias_source
from tensoralgebra.scores import KEY_BIAS, QUERY_BIAS

#: The channels a stream source (tokens, standard positions, a layer's constant) is read with.
STREAM = ("Q", "K", "V", "out")
_LABEL = {"token": "tokens", "position": "positions"}


class SourceNode(NamedTuple):
    """A source node: its ``name`` (the source it stands for), the ``column`` it is drawn in
    (its ``layer`` attribute), the layer whose heads read it first (``enters``; ``n_layers``: the
    unembedding only), its ``label`` and the ``channels`` its readers read it with."""

    name: str
    column: int
    enters: int
    label: str
    channels: tuple[str, ...]


def source_nodes(arch: Architecture) -> list[SourceNode]:
    """The source nodes of ``arch``: those read from layer 0 on (column -1), then the layers'
    constants and the unembedding bias (each in the column of the layer it follows)."""
    n = arch.n_layers
    found = [SourceNode(s, -1, 0, _LABEL[s], STREAM) for s in arch.sources]
    if arch.positional == "shortformer":
        found.append(SourceNode("position", -1, 0, "pos (QK)", ("Q", "K")))
    if arch.biases:
        found += [
            SourceNode(QUERY_BIAS, -1, 0, QUERY_BIAS, ("Q",)),
            SourceNode(KEY_BIAS, -1, 0, KEY_BIAS, ("K",)),
        ]
        found += [SourceNode(bias_source(m), m, m + 1, bias_source(m), STREAM) for m in range(n)]
        found.append(SourceNode(UNEMBEDDING_BIAS, n - 1, n, "logit bias", ("out",)))
    return found


def source_rank(arch: Architecture) -> dict[str, int]:
    """The rank of each source in the expansion's order of terms with the same heads: tokens,
    positions, the layers' constants in layer order, the unembedding bias, the head's own query
    and key constants."""
    order = ("token", "position", *arch.bias_sources(), UNEMBEDDING_BIAS, QUERY_BIAS, KEY_BIAS)
    return {s: i for i, s in enumerate(order)}


def channels_of(arch: Architecture, source: str) -> tuple[str, ...]:
    """The channels ``source``'s node is read with in ``arch``'s graph (``()``: no such node)."""
    for s in source_nodes(arch):
        if s.name == source:
            return s.channels
    return ()
