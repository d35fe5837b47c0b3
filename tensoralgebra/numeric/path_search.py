"""The logit paths that matter: a best-first search with a certificate for the ones it leaves.

With the patterns of one forward pass frozen, the logits are a sum over paths
(docs/conventions.md §3), and a target ``g`` [d_vocab] (a token's logit, a logit difference, any
direction in logit space) reads at query position ``i`` the sum of the paths' contributions

    c_p = g · (W_U r_p[i]) = u · r_p[i],        u = W_U^T g  [d_model],

where ``r_p`` [seq, d_model] is the stream the path carries (§2; one head more is
``r_{(p,h)} = A^h r_p W_OV^{hT}``). There are ``Π_l (1 + |H_l|)`` paths per source; this module
never enumerates them. It searches the tree of path prefixes best first: a prefix ``p`` (further
heads allowed in layers ``l..L-1``) has the stream's row norms ``n_p`` [seq], and
:mod:`~tensoralgebra.numeric.path_bounds` gives vectors ``T_l``, ``V_l`` with ``T_l · n_p`` at
least the sum, and ``V_l · n_p`` at least the largest, of ``|c|`` over its completions (the last
two heads read exactly in the target's direction, earlier ones priced at ``||W_OV||_2``). A child
``p + t`` waits in the frontier with the bounds ``K_t · n_p`` and ``KV_t · n_p``, computed from its
parent's row norms before its own stream is, and the frontier is ordered by the smaller of the
two. Taking a child from the frontier computes its stream (one *expansion*), its exact
contribution, and its children's bounds. The search stops when the largest bound left is below
the k-th largest ``|c|`` found (the top k are then certain: ``exact``), when the frontier is
empty, or after ``max_expansions`` expansions (best effort). The **certificate** bounds the total
``|c|`` of every path not returned: the sum of the frontier's sum bounds plus the ``|c|`` of paths
evaluated but not returned (widened by the rounding margin too). Everything runs in torch on the
model's device (bounds in float64); per expansion only scalars come back to the host.

>>> import tensoralgebra as ta
>>> model = ta.AttentionOnlyTransformer(ta.Weights.random(
...     ta.Architecture(heads=(2, 2)), d_model=16, d_head=4, d_vocab=20, n_ctx=8, seed=0))
>>> top = ta.top_paths(model, [[3, 1, 4, 1, 5, 9]], k=2, target=3)
>>> len(top.paths), top.exact, top.position
(2, True, 5)
>>> bool(abs(top.contributions[0]) >= abs(top.contributions[1]))
True
"""

from __future__ import annotations

import heapq

import numpy as np
import torch

from tensoralgebra import validation
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric import budget
from tensoralgebra.numeric.model import check_model
from tensoralgebra.numeric.path_bounds import path_bounds
from tensoralgebra.numeric.path_search_report import (
    MAX_EXPANSIONS,
    TopPaths,
    describe_target,
    keep_best,
    search_fields,
)
from tensoralgebra.paths import LogitPath

#: Bytes of one frontier entry (a tuple, its path, its bound), for the memory estimate.
ENTRY_BYTES = 320


def top_paths(
    model,
    tokens,
    k: int = 10,
    *,
    target,
    position: int | None = None,
    batch: int = 0,
    max_expansions: int = MAX_EXPANSIONS,
    max_bytes: int = budget.MEMORY_BUDGET,
) -> TopPaths:
    """The ``k`` logit paths with the largest ``|contribution|`` to ``target`` at ``position``.

    ``tokens`` [batch, seq]; ``batch``: the sequence searched (default 0); ``position``: the
    query position, ``0..seq-1`` (default the last). ``target``: a token id (its logit), a pair
    ``(t1, t2)`` of distinct ids (the logit difference ``t1 - t2``), or a direction [d_vocab]
    (a numpy array or torch tensor, finite, not zero). The contribution of path ``p`` is
    ``g · (W_U r_p[position])`` with the patterns of one forward pass frozen; the bound that
    orders the search and the certificate are in this module's docstring. At most
    ``max_expansions`` path streams are computed; a search that would hold more than
    ``max_bytes`` is refused up front (:class:`~tensoralgebra.ExpansionLimitError` with a
    ``max_expansions`` that fits). Models with LayerNorm, biases or shortformer positions are
    refused. Returns a :class:`~tensoralgebra.numeric.path_search_report.TopPaths`.
    """
    model = check_model(model, "top_paths")
    if not model.weights_view().is_idealised:
        # The search's streams and bounds are the idealised model's: token and position sources,
        # patterns only. LayerNorm scales, constant sources and shortformer positions are not in
        # them, so the answer would be wrong rather than refused.
        raise TensorAlgebraError(
            "top_paths is not yet supported for models with LayerNorm, biases or shortformer "
            f"positions ({model.architecture!r}); ta.verify and ta.evaluate are"
        )
    array = model.tokens(tokens)
    k = validation.positive_integer(k, "k")
    n_batch, seq = array.shape
    batch = validation.index(batch, "batch", n_batch, context=f"the tokens have {n_batch} rows")
    if position is None:
        position = seq - 1
    position = validation.index(
        position, "position", seq, context=f"the tokens have positions 0..{seq - 1}"
    )
    max_expansions = validation.positive_integer(max_expansions, "max_expansions")
    max_bytes = validation.positive_integer(max_bytes, "max_bytes")
    d_vocab = model.W_U.shape[0]
    g = target_vector(target, d_vocab)
    _check_memory(model, position + 1, max_expansions, max_bytes)
    # Causal attention: rows ≤ position depend on tokens ≤ position only.
    trace = model.run(array[batch : batch + 1, : position + 1])
    search = Search(model, trace, g)
    search.run(k, max_expansions)
    total = float(g @ trace.logits[0, position].astype(np.float64))
    return search.result(k, total, position, describe_target(target, g), max_expansions)


def target_vector(target: object, d_vocab: int) -> np.ndarray:
    """``g`` [d_vocab] float64 of a token id, a pair ``(t1, t2)`` or a direction (checked)."""
    context = f"the vocabulary has tokens 0..{d_vocab - 1}"
    if (
        isinstance(target, tuple | list)
        and len(target) == 2
        and d_vocab != 2
        and not _integers(target)
    ):
        raise TensorAlgebraError(
            f"target is {target!r}: a pair of token ids (t1, t2) must be two integers"
        )
    if isinstance(target, tuple | list) and len(target) == 2 and _integers(target):
        t1, t2 = (validation.index(t, "target token", d_vocab, context=context) for t in target)
        if t1 == t2:
            raise TensorAlgebraError(
                f"target is ({t1}, {t2}): a logit difference needs two different tokens"
            )
        g = np.zeros(d_vocab)
        g[t1], g[t2] = 1.0, -1.0
        return g
    if isinstance(target, np.ndarray | torch.Tensor | tuple | list):
        return _direction(target, d_vocab)
    g = np.zeros(d_vocab)
    g[validation.index(target, "target", d_vocab, context=context)] = 1.0
    return g


def _integers(items) -> bool:
    return all(hasattr(t, "__index__") and not isinstance(t, bool | np.bool_) for t in items)


def _direction(target, d_vocab: int) -> np.ndarray:
    if isinstance(target, torch.Tensor):
        target = target.detach().cpu().numpy()
    try:
        g = np.asarray(target, dtype=np.float64)
    except (TypeError, ValueError):
        raise TensorAlgebraError(
            "target is not a token id, a pair of token ids or a direction of numbers"
        ) from None
    if g.shape != (d_vocab,):
        raise TensorAlgebraError(
            f"target direction has shape {g.shape}: expected ({d_vocab},), one entry per token"
        )
    if not np.isfinite(g).all():
        raise TensorAlgebraError("target direction has values that are not finite")
    if not g.any():
        raise TensorAlgebraError("target direction is zero: every contribution would be 0")
    return g


def search_bytes(model, rows: int, expansions: int) -> int:
    """What a search holds at most: one stream [rows, d_model] and one frontier entry per head
    for every expansion, and the forward pass of one sequence (patterns, streams, logits)."""
    d_vocab, d_model = model.W_U.shape
    itemsize = model.W_U.dtype.itemsize
    heads = sum(model.architecture.heads)
    n_layers = model.architecture.n_layers
    traced = itemsize * (2 * heads * rows * rows + (2 * n_layers + 1) * rows * d_model)
    traced += 3 * itemsize * rows * d_vocab + 8 * heads * rows * rows  # logits; float64 patterns
    per = itemsize * rows * d_model + ENTRY_BYTES * max(heads, 1)
    return traced + (expansions + 2) * per


def _check_memory(model, rows: int, expansions: int, max_bytes: int) -> None:
    nbytes = search_bytes(model, rows, expansions)
    if nbytes <= max_bytes:
        return
    fit = budget.largest_fitting(lambda e: search_bytes(model, rows, e), max_bytes, expansions)
    what = f"a top_paths search of {expansions:,} expansions at position {rows - 1}"
    note = "" if fit else " (an earlier position or a smaller model would need less)"
    raise budget.refusal(what, nbytes, max_bytes, "max_expansions" if fit else None, fit, note)


def sort_key(path: LogitPath, sources: tuple[str, ...]) -> tuple:
    """The order of :func:`~tensoralgebra.logit_paths`: by order, layers, heads, then source."""
    return (path.order, path.layers, tuple(h for _, h in path.heads), sources.index(path.source))


class Search:
    """The frontier, the evaluated paths and the bounds of one search, in torch on the model's
    device (streams in its dtype, bounds in float64). ``rows`` = position + 1: the streams keep
    rows ``0..position``. Per expansion only scalars (a contribution, the children's bounds)
    come back to the host."""

    def __init__(self, model, trace, g: np.ndarray):
        self.arch = model.architecture
        self.rows = trace.tokens.shape[1]
        self.dtype, self.device = model.W_U.dtype, model.device
        with torch.no_grad():
            g = torch.from_numpy(g).to(self.device, self.dtype)
            self.u = (g @ model.W_U).contiguous()  # W_U^T g
            self.W_V = [layer.W_V for layer in model.layers]  # [n_heads, d_head, d_model]
            self.W_O = [layer.W_O for layer in model.layers]  # [n_heads, d_model, d_head]
            self.patterns = [model.host_tensor(p[0]) for p in trace.patterns]
            self.heads = [(m, h) for m, n in enumerate(self.arch.heads) for h in range(n)]
            bounds = path_bounds(self.u, self.W_V, self.W_O, self.patterns, self.rows, self.dtype)
        self.T, self.V, self.K, self.KV = bounds.T, bounds.V, bounds.K, bounds.KV
        self.margin = bounds.margin
        self.first = np.searchsorted([m for m, _ in self.heads], np.arange(self.arch.n_layers + 1))
        self.frontier: list = []
        self.found: list[tuple[LogitPath, float]] = []
        self.expansions, self._count = 0, 0
        with torch.no_grad():
            for source, stream in self._sources(model, trace.tokens[0]):
                self._evaluate(LogitPath((), source), stream, 0)

    def _sources(self, model, tokens: np.ndarray):
        ids = torch.from_numpy(np.array(tokens)).to(self.device)
        yield "token", model.W_E.T[ids]
        if self.arch.positional == "standard":
            yield "position", model.W_pos.T[: self.rows]

    def bounds(self, stream: torch.Tensor, layer: int) -> tuple[float, float]:
        """``(T_layer · n, V_layer · n)``: at least the sum, and at least the largest, of ``|c|``
        over every completion of a prefix with this stream [rows, d_model] whose further heads
        lie in layers ``layer..L-1``."""
        norms = _row_norms(stream.to(self.device))
        total, most = (torch.stack([self.T[layer], self.V[layer]]) @ norms).tolist()
        return total, min(total, most)

    def child_bounds(self, stream: torch.Tensor, layer: int) -> list[tuple[int, int, float, float]]:
        """``(m, h, sum bound, largest bound)`` of each child ``p + (m, h)``, ``m ≥ layer``, of a
        prefix with this stream: ``K_{m,h} · n`` and ``KV_{m,h} · n``."""
        start = self.first[layer]
        norms = _row_norms(stream)
        sums, maxima = (torch.stack([self.K[start:], self.KV[start:]]) @ norms).tolist()
        return [(m, h, t, x) for (m, h), t, x in zip(self.heads[start:], sums, maxima)]

    def _evaluate(self, path: LogitPath, stream: torch.Tensor, layer: int) -> None:
        """Record ``path``'s exact contribution and put its children in the frontier."""
        self.found.append((path, float(stream[-1] @ self.u)))
        for m, h, total, most in self.child_bounds(stream, layer):
            self._count += 1
            # The sum bound bounds the largest term too, and is sometimes the tighter.
            entry = (-min(most, total), self._count, total, path, m, h, stream)
            heapq.heappush(self.frontier, entry)

    def run(self, k: int, max_expansions: int) -> None:
        """Expand the frontier best first until the top ``k`` are certain, it is empty, or
        ``max_expansions`` streams have been computed."""
        best: list[float] = []  # the k largest |c| found, a min-heap
        for _, c in self.found:
            keep_best(best, abs(c), k)
        while self.frontier and self.expansions < max_expansions:
            if len(best) == k and -self.frontier[0][0] < best[0]:
                return
            _, _, _, path, m, h, parent = heapq.heappop(self.frontier)
            with torch.no_grad():
                read = parent @ self.W_V[m][h].T  # [rows, d_head]: cheaper than W_OV's d_model²
                stream = (self.patterns[m][h] @ read) @ self.W_O[m][h].T
            self._evaluate(LogitPath((*path.heads, (m, h)), path.source), stream, m + 1)
            self.expansions += 1
            keep_best(best, abs(self.found[-1][1]), k)

    def result(self, k, total, position, target, max_expansions) -> TopPaths:
        """The :class:`TopPaths` of the search so far."""
        sources = self.arch.sources
        sums = (e[2] for e in self.frontier)
        fields = search_fields(self, lambda p: sort_key(p, sources), k, sums)
        return TopPaths(
            **fields, total=total, position=position, target=target, max_expansions=max_expansions
        )


def _row_norms(stream: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(stream, dim=-1).double()
