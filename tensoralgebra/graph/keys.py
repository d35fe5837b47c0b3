"""The attribute keys of the graph, its node names and its channels: declared here, once.

Every key the graph module reads or writes is one of these constants; each comment says which
function writes it. Nodes are named by strings so that every export format keeps them as they
are: ``"token"``, ``"position"``, ``"bias L0"``, ... (sources, named after their source),
``"L1H0"`` (head 0 of layer 1) and ``"unembed"``.

>>> head_name(1, 0), parse_head("L1H0"), parse_head((1, 0))
('L1H0', (1, 0), (1, 0))
>>> check_channel("W")
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: channel is 'W': expected one of 'Q', 'K', 'V', 'out'
"""

from __future__ import annotations

import re

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.validation import choice

# --- graph attributes (G.graph[...]) -----------------------------------------------------------
#: The :class:`~tensoralgebra.Architecture` the graph was built from; written by ``build``.
ARCHITECTURE = "architecture"
#: What a node stands for: ``"head"`` (one node per head) or ``"layer"`` (one node per layer,
#: made by ``build(arch, per="layer")`` or ``by_layer``); written by ``build``.
PER = "per"

# --- node attributes (G.nodes[n][...]) --------------------------------------------------------
#: ``"source"``, ``"head"`` or ``"unembed"``: what the node is; written by ``build``.
ROLE = "role"
#: The layer of a head (0-based), the column a node is drawn in: sources read from the start sit
#: at -1, layer ``l``'s constant source at ``l`` (it joins the stream after layer ``l``), the
#: unembedding bias at ``n_layers - 1`` and the unembedding at ``n_layers``, so that sorting by
#: it runs left to right and a reader's layer is always above its writer's; written by ``build``.
LAYER = "layer"
#: The index of a head within its layer (0-based), -1 for the other nodes; written by ``build``.
HEAD = "head"
#: A source node's source (``""`` for other nodes): ``"token"``, ``"position"``, ``"bias L<l>"``,
#: ``"unembedding bias"``, ``"query bias"`` or ``"key bias"``; written by ``build``.
SOURCE = "source"
#: The first layer whose heads read a source node (``n_layers``: the unembedding only); source
#: nodes only: 0 for tokens, positions and the heads' own query and key constants, ``l + 1``
#: for layer ``l``'s constant ``"bias L<l>"``; written by ``build``.
ENTERS = "enters"
#: Text to show for the node (``"L1H0"``, ``"tokens"``, ``"positions"``, ``"unembed"``); by
#: ``build``.
LABEL = "label"
#: The number of heads a layer node stands for (graphs with ``per="layer"`` only); by ``build``.
N_HEADS = "n_heads"

# --- edge attributes (G.edges[u, v, channel][...]) --------------------------------------------
#: The channel ``v`` reads ``u``'s output with: ``"Q"``, ``"K"``, ``"V"`` or ``"out"``. The
#: multigraph's edge key is the channel too; written by ``build``.
CHANNEL = "channel"
#: How many head-level edges a layer-level edge stands for (``per="layer"`` only); by ``build``
#: and ``by_layer``.
N_EDGES = "n_edges"
#: The composition score of two heads (docs/conventions.md §6) on head-to-head edges; written by
#: ``annotate.add_composition_scores``.
COMPOSITION = "composition"
#: The Frobenius norm of the largest term through the edge on one forward pass; written by
#: ``annotate.add_term_norms``.
TERM_NORM = "term_norm"

# --- roles, channels and node names -----------------------------------------------------------
ROLES = ("source", "head", "layer", "unembed")
#: What a graph's nodes stand for (the graph attribute :data:`PER`).
GRANULARITIES = ("head", "layer")
#: What a later head reads with (query, key, value), and what the unembedding reads (``out``).
CHANNELS = ("Q", "K", "V", "out")
#: Node names of the token and position sources and of the unembedding. Every source's node is
#: named after its source (``"bias L0"``, ``"unembedding bias"``, ``"query bias"``, ...).
SOURCE_NODES = {"token": "token", "position": "position"}
UNEMBED = "unembed"

_HEAD_NAME = re.compile(r"L(\d+)H(\d+)")


def head_name(layer: int, head: int) -> str:
    """The node name of head ``head`` of layer ``layer``: ``"L1H0"``."""
    return f"L{layer}H{head}"


def layer_name(layer: int) -> str:
    """The node name of layer ``layer`` in a graph with one node per layer: ``"L1"``."""
    return f"L{layer}"


def parse_head(head: object) -> tuple[int, int]:
    """``(layer, head)`` from ``"L1H0"`` or a ``(layer, head)`` pair (or a ``Head``)."""
    if isinstance(head, str):
        match = _HEAD_NAME.fullmatch(head.strip().upper())
        if match:
            return int(match[1]), int(match[2])
    elif hasattr(head, "layer") and hasattr(head, "head"):
        return parse_head((head.layer, head.head))
    elif (
        isinstance(head, tuple)
        and len(head) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in head)
    ):
        return head
    raise TensorAlgebraError(
        f"{head!r} is not a head: name one as 'L1H0' (layer 1, head 0) or as a (layer, head) pair"
    )


def check_channel(channel: object) -> str:
    """``channel`` if it is one of :data:`CHANNELS`, else a clear error."""
    return choice(channel, "channel", CHANNELS)
