"""The computation graph of an attention-only transformer, and the expansion's terms as its paths.

``ta.graph.build(arch)`` makes a ``networkx.MultiDiGraph`` whose nodes are the sources
(``token``, and ``position`` with positional embeddings), one node per head (``L1H0``) and the
``unembed``; an edge ``u → v`` keyed by its channel (``"Q"``, ``"K"``, ``"V"`` or ``"out"``)
says that ``v`` reads what ``u`` writes with that input. Logit terms are the chains of V edges
from a source closed by an ``out`` edge, score terms pairs of chains closed by a head's Q and K
edges: traversal lists exactly ``ta.logit_paths`` and ``ta.score_paths``, and dynamic
programming over the DAG counts them. Attribute keys live in :mod:`tensoralgebra.graph.keys`.

Everything is bounded: :func:`build` refuses graphs of more than :data:`MAX_EDGES` edges (offering
one node per layer, ``per="layer"``); listings are counted first and refused above
:data:`MAX_LISTED` terms, naming a ``max_order`` that fits; the term queries take an
``Architecture`` in place of a graph and then answer for a model of any size without building it.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(2, 2))
>>> G = ta.graph.build(arch)
>>> ta.graph.count_logit_paths(G), ta.count_logit_paths(arch)
(9, 9)
>>> [str(p) for p in ta.graph.paths_through(G, "L1H0")]
['L1H0', 'L0H0→L1H0', 'L0H1→L1H0']
"""

from tensoralgebra.graph import keys
from tensoralgebra.graph.annotate import (
    add_composition_scores,
    add_term_norms,
    circuits,
    composition_score,
    heaviest_paths,
    streams,
    term_norms,
)
from tensoralgebra.graph.build import (
    MAX_EDGES,
    architecture_of,
    build,
    by_layer,
    count_edges,
    head_node,
    heads,
)
from tensoralgebra.graph.draw import draw, positions
from tensoralgebra.graph.export import from_json, quote, to_dot, to_json, write
from tensoralgebra.graph.queries import (
    carried_terms,
    count_paths_through,
    count_terms_into,
    k_composition_candidates,
    order_subgraph,
    paths_through,
    prune,
    terms_into,
)
from tensoralgebra.graph.traverse import (
    MAX_LISTED,
    chains,
    count_logit_paths,
    count_score_paths,
    logit_paths,
    score_paths,
    term_edges,
)

__all__ = [
    "MAX_EDGES",
    "MAX_LISTED",
    "add_composition_scores",
    "add_term_norms",
    "architecture_of",
    "build",
    "by_layer",
    "carried_terms",
    "chains",
    "circuits",
    "composition_score",
    "count_edges",
    "count_logit_paths",
    "count_paths_through",
    "count_score_paths",
    "count_terms_into",
    "draw",
    "from_json",
    "head_node",
    "heads",
    "heaviest_paths",
    "k_composition_candidates",
    "keys",
    "logit_paths",
    "order_subgraph",
    "paths_through",
    "positions",
    "prune",
    "quote",
    "score_paths",
    "streams",
    "term_edges",
    "term_norms",
    "terms_into",
    "to_dot",
    "to_json",
    "write",
]
