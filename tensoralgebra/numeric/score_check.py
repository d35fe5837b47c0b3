"""A head's score checks in one ``verify`` run, streamed: the sides of its score terms (paths into
its layer) come in chunks from :mod:`~tensoralgebra.numeric.stacks` and are summed as they come
(the total is ``(Σ_q q) (Σ_k k)^T``, every term included, by bilinearity); the sides of the
terms checked one by one are held, with the same sides from batched path-restricted passes read by
the head's own Q and K projections (:mod:`~tensoralgebra.numeric.sides`). Terms are compared block
by block (every term: one product per chunk of query sides × chunk of key sides) or, for a
sample, pair by pair in one batched product per chunk of pairs: never a Python loop per term.
"""

from __future__ import annotations

import numpy as np
import torch

from tensoralgebra.expr.indices import Head
from tensoralgebra.numeric import stacks
from tensoralgebra.numeric.restricted import final_streams
from tensoralgebra.numeric.sides import head_sides
from tensoralgebra.numeric.streamed import entry_errors, first_bad, tensor, worst_of
from tensoralgebra.numeric.term_sample import describe, pick_pairs, score_sides
from tensoralgebra.scores import ScorePath
from tensoralgebra.symbols import W_K, W_Q, W_QK, W_pos


class LayerSides:
    """The sides of layer ``layer``'s heads' score terms: sums and sizes of all of them, and the
    streams of those some head checks, from the stacks and from restricted passes."""

    def __init__(self, run, layer: int, side_top: int | None, need_all: bool, wanted):
        self.run, self.b, self.arch, self.layer = run, run.b, run.arch, layer
        self.q_paths = score_sides(self.arch, layer, "query", side_top)
        self.k_paths = score_sides(self.arch, layer, "key", side_top)
        n_extra = (not self.arch.is_idealised and self.arch.positional == "shortformer") + bool(
            self.arch.biases
        )
        self.n_stream = len(self.q_paths) - n_extra
        rows = range(self.n_stream) if need_all else sorted(i for i in wanted if i < self.n_stream)
        self.row = {self.q_paths[i]: r for r, i in enumerate(rows)}
        self.side_top = side_top

    def walk(self):
        """Stream every side once: ``read``-sums, norm-sums and the held rows."""
        b, run, layer = self.b, self.run, self.layer
        d_model = b.weights.d_model
        held = len(self.row)
        self.stack = torch.zeros((held, b.batch, b.seq, d_model), dtype=run.torch_dtype)
        self.conventional = torch.zeros_like(self.stack)
        self.sum = torch.zeros((b.batch, b.seq, d_model), dtype=run.torch_dtype)
        norms = torch.zeros((b.batch, b.seq), dtype=torch.float64)
        self.bad = None
        chunks = stacks.path_streams(b, layer, self.side_top, run.chunk)
        for paths, stack in stacks.regroup(b, chunks, run.chunk):
            read = tensor(stack if self.arch.is_idealised else stacks.read(b, stack, layer))
            bad = first_bad(read)
            if bad is not None and self.bad is None:
                self.bad = str(paths[bad])
            self.sum += read.sum(0)
            norms += torch.linalg.vector_norm(read, dim=-1).double().sum(0)
            mine = [i for i, p in enumerate(paths) if p in self.row]
            if mine:
                kept = [paths[i] for i in mine]
                rows = [self.row[p] for p in kept]
                self.stack[rows] = read[mine]
                self.conventional[rows] = final_streams(run.model, run.reference, kept, layer)
        self.stream_size = float(norms.amax()) if norms.numel() else 0.0

    def rows(self, indices) -> np.ndarray:
        """Rows of the side tensors of side indices (extras after the held stream rows)."""
        held = len(self.row)
        paths = self.q_paths
        return np.array(
            [self.row[paths[i]] if i < self.n_stream else held + i - self.n_stream for i in indices]
        )


class HeadSides:
    """One head's query and key sides of the held rows (then the extras), from the stacks and
    conventionally, [rows, batch, seq, d]; and the sums of all sides."""

    def __init__(self, sides: LayerSides, head: int):
        b, arch, run, layer = sides.b, sides.arch, sides.run, sides.layer
        self.sides, self.head, index = sides, head, (layer, head)
        model, ref = run.model, run.reference
        extras_q, extras_k = sides.q_paths[sides.n_stream :], sides.k_paths[sides.n_stream :]
        if arch.is_idealised:
            form = tensor(b.matrix(W_QK(index)))
            self.q, self.k = sides.stack @ form, sides.stack
            self.total_q, self.total_k = sides.sum @ form, sides.sum
            attention = model.layers[layer]
            # Both sides in d_model, as the stacks' are (q W_QK against k): the conventional
            # queries read back through W_K, so that q' k'^T = (x W_Q^T)(x W_K^T)^T still.
            self.cq = sides.conventional @ attention.W_Q[head].T @ attention.W_K[head]
            self.ck = sides.conventional
            return
        streams = [p for p in sides.row]
        self.q, self.total_q = self._stack_side(W_Q, "query", extras_q)
        self.k, self.total_k = self._stack_side(W_K, "key", extras_k)
        order = sorted(streams, key=sides.row.get)
        self.cq = head_sides(model, ref, order + extras_q, sides.conventional, layer, head, "query")
        self.ck = head_sides(model, ref, order + extras_k, sides.conventional, layer, head, "key")

    def _stack_side(self, reads, side, extras):
        """The stacks' side in the head's query or key space: held rows then extras, and the sum
        of every side."""
        sides, b = self.sides, self.sides.b
        layer, head = sides.layer, self.head
        matrix = tensor(b.matrix(reads((layer, head)))).T
        rows, total = [sides.stack @ matrix], sides.sum @ matrix
        for path in extras:
            if path.source == "position":
                value = tensor(b.matrix(W_pos)).T[tensor(b.positions)] @ matrix
            else:
                own = tensor(b.ones() @ stacks.own_constant(b, layer, head, side))
                value = own.expand(b.batch, *own.shape)
            rows.append(value[None])
            total = total + value
        return torch.cat(rows), total

    def total(self) -> torch.Tensor:
        """The sum of every score term, [batch, seq, seq]."""
        return self.total_q @ self.total_k.transpose(-1, -2)


def check_head(run, sides: LayerSides, head: int, pairs, bar, floor: float, whole: float):
    """``(head sides, worst (rel, abs, name), checked)`` of the head's terms: every pair
    (``pairs`` None) or the sampled ``pairs`` (codes ``i * nk + j``), the stacks' against the
    conventional.

    A term is a product of its sides, ``q k^T`` against ``q' k'^T``, and
    ``q k^T - q' k'^T = (q - q') k^T + q' (k - k')^T``; so at every pair of positions its error is
    at most ``||q - q'|| ||k|| + ||q'|| ||k - k'||``, computed per sequence from the sides' norms
    alone (:func:`side_bounds`). Terms whose bound exceeds the tolerance (or is not finite) are
    then computed both ways and compared entry by entry (:func:`exact_errors`): the reported
    error is the exact one there, the bound elsewhere. Relative errors divide by the larger of
    the whole scores and ``floor``, which bounds every term's size."""
    hs = HeadSides(sides, head)
    nq, nk = len(sides.q_paths), len(sides.k_paths)
    if pairs is None:
        rows_q = torch.from_numpy(sides.rows(range(nq)))
        rows_k = torch.from_numpy(sides.rows(range(nk)))
    else:  # only the sampled sides are held: the others map to row 0, never looked up
        rows_q, rows_k = _held_rows(sides, nq, pairs // nk), _held_rows(sides, nk, pairs % nk)
    norms = side_norms(hs)
    total = nq * nk if pairs is None else len(pairs)
    scale = max(whole, floor)
    worst, step = (None, None, None), run.block * run.block
    for start in range(0, total, step):
        codes = _codes(pairs, start, min(total, start + step))
        i, j = codes // nk, codes % nk
        bound = side_bounds(norms, rows_q[i], rows_k[j])
        rel = bound / scale if scale > 0 else bound
        loose = ~(rel <= run.tol)  # NaN included
        if bool((~loose).any()):
            kept = torch.nonzero(~loose)[:, 0]
            at = int(kept[torch.argmax(rel[kept])])
            worst = run.worse(
                worst, (float(rel[at]), float(bound[at]), _name(sides, *_ij(i, j, at)))
            )
        if bool(loose.any()):
            chosen = torch.nonzero(loose)[:, 0]
            rel_, abs_, at = exact_errors(hs, rows_q[i[chosen]], rows_k[j[chosen]], whole, floor)
            worst = run.worse(worst, (rel_, abs_, _name(sides, *_ij(i, j, int(chosen[at])))))
        bar.update(len(codes))
    return hs, worst, total


def side_norms(hs: HeadSides) -> tuple[torch.Tensor, ...]:
    """``(||q - q'||, ||q'||, ||k||, ||k - k'||)`` of every held row, each the largest over
    positions: [rows, batch] (NaN where a side holds a NaN)."""

    def largest(x):
        norm = torch.linalg.vector_norm(x, dim=-1)
        return torch.where(torch.isnan(norm).any(-1), torch.nan, norm.amax(-1))

    return largest(hs.q - hs.cq), largest(hs.cq), largest(hs.k), largest(hs.k - hs.ck)


def side_bounds(norms, qi: torch.Tensor, kj: torch.Tensor) -> torch.Tensor:
    """The bound on the errors of the terms of query rows ``qi`` and key rows ``kj`` [m]:
    ``max_b (||Δq||_b ||k||_b + ||q'||_b ||Δk||_b)``, [m]."""
    dq, cq, k, dk = norms
    return (dq[qi] * k[kj] + cq[qi] * dk[kj]).amax(-1)


def exact_errors(hs: HeadSides, qi, kj, whole: float, floor: float):
    """``(rel, abs, index)`` of the worst of the terms of rows ``qi``, ``kj`` [m], each computed
    from the stacks' sides and from the conventional ones, entry by entry."""
    got = hs.q[qi] @ hs.k[kj].transpose(-1, -2)
    want = hs.cq[qi] @ hs.ck[kj].transpose(-1, -2)
    err, size = entry_errors(got, want)
    return worst_of(err, torch.clamp(size, min=whole), floor)


def _held_rows(sides: LayerSides, n: int, used) -> torch.Tensor:
    """Rows of side indices ``0..n-1`` (those not held: row 0, never looked up)."""
    needed = sorted({int(x) for x in used})
    rows = torch.zeros(n, dtype=torch.int64)
    rows[needed] = torch.from_numpy(sides.rows(needed)).to(torch.int64)
    return rows


def _codes(pairs, start: int, stop: int) -> torch.Tensor:
    if pairs is None:
        return torch.arange(start, stop, dtype=torch.int64)
    return torch.from_numpy(np.asarray(pairs[start:stop], dtype=np.int64))


def _ij(i: torch.Tensor, j: torch.Tensor, at: int) -> tuple[int, int]:
    return int(i[at]), int(j[at])


def pair_value(hs: HeadSides, i: int, j: int) -> np.ndarray:
    """The stacks' value of the term of query side ``i`` and key side ``j`` [batch, seq, seq]."""
    qi, kj = hs.sides.rows([i]), hs.sides.rows([j])
    return (hs.q[qi] @ hs.k[kj].transpose(-1, -2))[0].numpy()


def score_path(sides: LayerSides, head: int, i: int, j: int) -> ScorePath:
    arch = sides.arch
    real = () if arch.is_idealised else (sides.layer, arch.positional == "shortformer")
    return ScorePath(sides.q_paths[i], sides.k_paths[j], Head(sides.layer, head), *real)


def _name(sides: LayerSides, i: int, j: int) -> str:
    return f"{sides.q_paths[i]} × {sides.k_paths[j]}"


def plan(run, layer, side_top, per_term):
    """``({head: pairs or None}, description)``: which pairs each head of ``layer`` checks (the
    same draw for every head), and how, for the report."""
    arch = run.arch
    q = score_sides(arch, layer, "query", side_top)
    k = score_sides(arch, layer, "key", side_top)
    if not per_term:
        return [], None, (len(q), len(k))
    pairs = pick_pairs(q, k, run.term_budget, run.seed)
    checked = len(q) * len(k) if pairs is None else len(pairs)
    return pairs, describe(checked, len(q) * len(k), run.seed), (len(q), len(k))
