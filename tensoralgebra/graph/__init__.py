"""The computation graph of an attention-only transformer, and the expansion's terms as its paths.

``ta.graph.build(arch)`` makes a ``networkx.MultiDiGraph`` whose nodes are the sources
(``token``, and ``position`` with positional embeddings), one node per head (``L1H0``) and the
``unembed``; an edge ``u → v`` keyed by its channel (``"Q"``, ``"K"``, ``"V"`` or ``"out"``)
says that ``v`` reads what ``u`` writes with that input. Logit terms are the chains of V edges
from a source closed by an ``out`` edge, score terms pairs of chains closed by a head's Q and K
edges: traversal lists exactly ``ta.logit_paths`` and ``ta.score_paths``, and dynamic
programming over the DAG counts them. Attribute keys live in :mod:`tensoralgebra.graph.keys`.

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
from tensoralgebra.graph.build import architecture, build, head_node, heads
from tensoralgebra.graph.draw import draw, positions
from tensoralgebra.graph.export import from_json, to_dot, to_json, write
from tensoralgebra.graph.queries import (
    carried_terms,
    induction_circuits,
    order_subgraph,
    paths_through,
    prune,
    terms_into,
)
from tensoralgebra.graph.traverse import (
    chains,
    count_logit_paths,
    count_score_paths,
    logit_paths,
    score_paths,
    term_edges,
)

__all__ = [
    "add_composition_scores",
    "add_term_norms",
    "architecture",
    "build",
    "carried_terms",
    "chains",
    "circuits",
    "composition_score",
    "count_logit_paths",
    "count_score_paths",
    "draw",
    "from_json",
    "head_node",
    "heads",
    "heaviest_paths",
    "induction_circuits",
    "keys",
    "logit_paths",
    "order_subgraph",
    "paths_through",
    "positions",
    "prune",
    "score_paths",
    "streams",
    "term_edges",
    "term_norms",
    "terms_into",
    "to_dot",
    "to_json",
    "write",
]
