"""Edge weights from numbers: composition scores of head pairs, and the norms of the terms
through each edge on a forward pass.

Weights are read as :class:`tensoralgebra.Weights` lays them out, from a ``ta.Weights``, a model
that has ``.weights``, or any mapping with the same names: ``W_E`` [d_model, d_vocab], ``W_U``
[d_vocab, d_model], optional ``W_pos`` [d_model, n_ctx], and per layer ``W_Q``, ``W_K``, ``W_V``
[n_heads, d_head, d_model] and ``W_O`` [n_heads, d_model, d_head]. A trace is read from a
``ta.Trace`` or a mapping: ``tokens`` [batch, seq] and per layer ``patterns``
[batch, n_heads, seq, seq]. Only numpy is used.

>>> import numpy as np, tensoralgebra as ta
>>> rng = np.random.default_rng(0)
>>> M, W = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
>>> s = composition_score(M, W)
>>> bool(0 < s <= 1), float(round(composition_score(np.eye(6), np.eye(6)) * np.sqrt(6), 12))
(True, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
import numpy as np

from tensoralgebra.circuits.composition import composition_score
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.graph.build import _short, per_head
from tensoralgebra.graph.keys import COMPOSITION, HEAD, LAYER, ROLE, TERM_NORM
from tensoralgebra.graph.queries import carried_terms
from tensoralgebra.graph.traverse import MAX_LISTED, refuse_over, term_edges
from tensoralgebra.graph.traverse import logit_paths as graph_logit_paths
from tensoralgebra.paths import LogitPath, check_order, count_logit_paths, logit_paths
from tensoralgebra.scores import ScorePath


def _read(holder: object, name: str, default: object = TensorAlgebraError):
    if hasattr(holder, "weights") and not isinstance(holder, Mapping):
        holder = holder.weights  # a model
    value = holder.get(name) if isinstance(holder, Mapping) else getattr(holder, name, None)
    if value is None and default is TensorAlgebraError:
        raise TensorAlgebraError(f"the weights have no {name}: expected ta.Weights' layout")
    return default if value is None else value


def circuits(weights: object) -> tuple[dict, dict]:
    """``(ov, qk)``: ``ov[(layer, head)] = W_O W_V`` and ``qk[(layer, head)] = W_Q^T W_K``,
    each [d_model, d_model], from per-layer ``W_Q``, ``W_K``, ``W_V``, ``W_O`` arrays."""
    stacks = [_read(weights, name) for name in ("W_Q", "W_K", "W_V", "W_O")]
    ov, qk = {}, {}
    for layer, (q, k, v, o) in enumerate(zip(*stacks)):
        q, k, v, o = (np.asarray(a, dtype=float) for a in (q, k, v, o))
        for h in range(q.shape[0]):
            ov[layer, h] = o[h] @ v[h]
            qk[layer, h] = q[h].T @ k[h]
    return ov, qk


def add_composition_scores(G: nx.MultiDiGraph, ov: Mapping, qk: Mapping) -> nx.MultiDiGraph:
    """Set :data:`~tensoralgebra.graph.keys.COMPOSITION` on every head-to-head edge ``h1 → h2``:
    the composition score of ``h1``'s OV circuit with ``M = W_QK^{h2 T}`` (Q), ``W_QK^{h2}``
    (K) or ``W_OV^{h2}`` (V). ``ov`` and ``qk`` map ``(layer, head)`` to arrays (see
    :func:`circuits`). Returns ``G``."""
    data = G.nodes
    for u, v, c in G.edges(keys=True):
        if data[u][ROLE] != "head" or data[v][ROLE] != "head":
            continue
        h1, h2 = _pair(data[u]), _pair(data[v])
        M = qk[h2].T if c == "Q" else qk[h2] if c == "K" else ov[h2]
        G.edges[u, v, c][COMPOSITION] = composition_score(M, ov[h1])
    return G


def _pair(node: dict) -> tuple[int, int]:
    return node[LAYER], node[HEAD]


def streams(weights: object, trace: object, arch, max_order: int | None = None) -> dict:
    """``S[path]`` = what a path writes to the final residual stream, ``A_p X (W_p W_src)^T``
    [batch, seq, d_model], for every logit path of order ≤ ``max_order`` (refused above
    :data:`~tensoralgebra.graph.traverse.MAX_LISTED` paths)."""
    if not getattr(weights, "is_idealised", True):
        # The streams below are the idealised model's (token and position sources, patterns
        # only): with LayerNorm, biases or shortformer positions they would be wrong.
        raise TensorAlgebraError(
            "term norms are not yet supported for models with LayerNorm, biases or shortformer "
            f"positions ({weights.architecture!r}); composition scores are"
        )
    top = check_order(arch, max_order)
    top = arch.n_layers if top is None else top
    per = [count_logit_paths(arch, k) for k in range(top + 1)]
    what = f"{_short(arch)} has {{:,}} logit paths of order ≤ {top}"
    refuse_over(lambda o: sum(per[: o + 1]), top, MAX_LISTED, what.format)
    tokens = np.asarray(_read(trace, "tokens"))
    patterns = _read(trace, "patterns")
    ov, _ = circuits(weights)
    start = {"token": np.asarray(_read(weights, "W_E"), dtype=float).T[tokens]}
    if "position" in arch.sources:
        W_pos = np.asarray(_read(weights, "W_pos"), dtype=float)
        start["position"] = np.broadcast_to(W_pos.T[: tokens.shape[1]], start["token"].shape)
    S: dict[LogitPath, np.ndarray] = {}
    for p in logit_paths(arch, max_order):
        if not p.heads:
            S[p] = start[p.source]
            continue
        (layer, h), before = p.heads[-1], LogitPath(p.heads[:-1], p.source)
        S[p] = np.asarray(patterns[layer])[:, h] @ S[before] @ ov[layer, h].T
    return S


def term_norms(
    G: nx.MultiDiGraph, weights: object, trace: object, max_order: int | None = None
) -> dict:
    """``{term: ||value||_F}`` for every term lying in ``G`` (logit terms, then score terms)
    with order ≤ ``max_order``, on the trace's inputs (norms over batch and positions).

    A logit term ``A_p ⊗ W_U W_p W_src`` on its input ``X`` is ``A_p X (W_U W_p W_src)^T``; a
    score term ``A_q ⊗ A_k ⊗ M`` is ``A_q X_q M X_k^T A_k^T`` (unscaled, before the mask)."""
    arch = per_head(G)
    terms = list(carried_terms(G, max_order))  # refuses a count too large, before any arithmetic
    S = streams(weights, trace, arch, max_order)
    W_U = np.asarray(_read(weights, "W_U"), dtype=float)
    _, qk = circuits(weights)
    norms: dict = {}
    for term in terms:
        if isinstance(term, ScorePath):
            h = (term.head.layer, term.head.head)
            value = S[term.query] @ qk[h] @ np.swapaxes(S[term.key], -1, -2)
        else:
            value = S[term] @ W_U.T
        norms[term] = float(np.linalg.norm(value))
    return norms


def add_term_norms(G: nx.MultiDiGraph, norms: Mapping) -> nx.MultiDiGraph:
    """Set :data:`~tensoralgebra.graph.keys.TERM_NORM` on every edge: the largest of
    ``norms[term]`` over the terms whose path runs along it (see :func:`term_norms`)."""
    for term, norm in norms.items():
        for edge in term_edges(term):
            if G.has_edge(*edge):
                data = G.edges[edge]
                data[TERM_NORM] = max(norm, data.get(TERM_NORM, 0.0))
    return G


def heaviest_paths(G: nx.MultiDiGraph, key: str, n: int | None = None) -> list[tuple]:
    """``(weight, path)`` for the logit paths of ``G``, heaviest first: a path weighs the
    smallest ``key`` value along its edges that have one (a path with none is left out)."""
    ranked = []
    for path in graph_logit_paths(G):  # refuses more than MAX_LISTED paths
        values = [G.edges[e][key] for e in term_edges(path) if key in G.edges[e]]
        if values:
            ranked.append((min(values), path))
    ranked.sort(key=lambda pair: -pair[0])
    return ranked[:n] if n is not None else ranked
