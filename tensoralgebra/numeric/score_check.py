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
from tensoralgebra.numeric import budget, stacks
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.restricted import final_streams
from tensoralgebra.numeric.sides import head_sides
from tensoralgebra.numeric.streamed import entry_errors, first_bad, tensor, worst_of
from tensoralgebra.numeric.term_sample import describe, pick_pairs, score_sides
from tensoralgebra.scores import ScorePath
from tensoralgebra.symbols import W_K, W_Q, W_QK, W_pos


class LayerSides:
    """The sides of layer ``layer``'s heads' score terms: sums and sizes of all of them, and the
    streams of those some head checks, from the stacks and from restricted passes."""

    def __init__(self, run, layer: int, side_top: int | None, need_all: bool, wanted, lookups):
        self.run, self.b, self.arch, self.layer = run, run.b, run.arch, layer
        # Every term's value will be looked up one by one (the rule-based expansion's check):
        # worth holding each head's query sides then, and only then (they are d_model wide).
        self.lookups = lookups
        self.q_paths = score_sides(self.arch, layer, "query", side_top)
        self.k_paths = score_sides(self.arch, layer, "key", side_top)
        n_extra = (not self.arch.is_idealised and self.arch.positional == "shortformer") + bool(
            self.arch.biases
        )
        self.n_stream = len(self.q_paths) - n_extra
        rows = range(self.n_stream) if need_all else sorted(i for i in wanted if i < self.n_stream)
        self.row = {self.q_paths[i]: r for r, i in enumerate(rows)}
        self.paths = [self.q_paths[i] for i in rows]  # the path of each held row
        self.side_top = side_top
        # Idealised sides are d_model wide: when only a sample's sides are held (large models),
        # the restricted passes' streams are reduced to every head's side norms as they come
        # and recomputed for the few rows a term is computed both ways for.
        self.hold_conventional = need_all or not self.arch.is_idealised

    def walk(self):
        """Stream every side once: ``read``-sums, norm-sums and the held rows."""
        b, run, layer = self.b, self.run, self.layer
        d_model = b.weights.d_model
        held, read_dtype = len(self.row), run.torch_dtype
        self.stack = torch.zeros((held, b.batch, b.seq, d_model), dtype=read_dtype)
        self.conventional = torch.zeros_like(self.stack) if self.hold_conventional else None
        heads = self.arch.heads[layer]
        shape = (heads, 4, held, b.batch)
        self.head_norms = None if self.hold_conventional else torch.zeros(shape, dtype=read_dtype)
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
                conventional = final_streams(run.model, run.reference, kept, layer)
                if self.conventional is not None:
                    self.conventional[rows] = conventional
                else:
                    self._norms(rows, read[mine], conventional)
            del stack, read
            budget.release_freed()
        self.stream_size = float(norms.amax()) if norms.numel() else 0.0

    def _norms(self, rows: list[int], read: torch.Tensor, conventional: torch.Tensor) -> None:
        """Every head's :func:`side_norms` of ``rows``, from their stacks' and restricted
        passes' streams [len(rows), batch, seq, d_model] (idealised: the sides are these
        streams, the query one through ``W_QK``)."""
        for head in range(self.arch.heads[self.layer]):
            form, w_q, w_k = ideal_forms(self.run, self.layer, head)
            four = four_norms(read @ form, conventional @ w_q @ w_k, read, conventional)
            self.head_norms[head, :, rows] = torch.stack(four)

    def conventional_rows(self, rows) -> torch.Tensor:
        """The restricted passes' streams into the layer of held ``rows`` [len(rows), batch,
        seq, d_model]: held, or recomputed for these rows alone."""
        if self.conventional is not None:
            return self.conventional[rows]
        paths = [self.paths[int(r)] for r in rows]
        return final_streams(self.run.model, self.run.reference, paths, self.layer)

    def rows(self, indices) -> np.ndarray:
        """Rows of the side tensors of side indices (extras after the held stream rows)."""
        held = len(self.row)
        paths = self.q_paths
        return np.array(
            [self.row[paths[i]] if i < self.n_stream else held + i - self.n_stream for i in indices]
        )


class HeadSides:
    """One head's query and key sides of the held rows (then the extras), from the stacks and
    conventionally, [rows, batch, seq, d] for the rows asked (:meth:`side`); and the sums of all
    sides.

    In idealised architectures both sides are d_model wide and computed from the layer's held
    streams when asked, a block of rows at a time (holding them for every head would take four
    more copies of the layer's streams); in real ones they are d_head wide and held."""

    def __init__(self, sides: LayerSides, head: int):
        arch, run, layer = sides.arch, sides.run, sides.layer
        self.sides, self.head = sides, head
        model, ref = run.model, run.reference
        extras_q, extras_k = sides.q_paths[sides.n_stream :], sides.k_paths[sides.n_stream :]
        self.count = len(sides.row) + len(extras_q)
        if arch.is_idealised:
            self.form, self.w_q, self.w_k = ideal_forms(run, layer, head)
            self.total_q, self.total_k = sides.sum @ self.form, sides.sum
            self.q = sides.stack @ self.form if sides.lookups else None
            return
        streams = [p for p in sides.row]
        q, self.total_q = self._stack_side(W_Q, "query", extras_q)
        k, self.total_k = self._stack_side(W_K, "key", extras_k)
        order = sorted(streams, key=sides.row.get)
        cq = head_sides(model, ref, order + extras_q, sides.conventional, layer, head, "query")
        ck = head_sides(model, ref, order + extras_k, sides.conventional, layer, head, "key")
        self.held = {"q": q, "k": k, "cq": cq, "ck": ck}

    def side(self, which: str, rows) -> torch.Tensor:
        """The sides ``which`` (``"q"``, ``"k"``: the stacks'; ``"cq"``, ``"ck"``: the
        restricted passes') of ``rows`` (held rows, then extras), [len(rows), batch, seq, d]."""
        rows = torch.from_numpy(np.asarray(rows, dtype=np.int64))  # (numpy indices are slow)
        if not self.sides.arch.is_idealised:
            return self.held[which][rows]
        if which == "q" and self.q is not None:
            return self.q[rows]
        if which in ("q", "k"):
            x = self.sides.stack[rows]
            return x @ self.form if which == "q" else x
        unique, inverse = torch.unique(torch.as_tensor(rows), return_inverse=True)
        x = self.sides.conventional_rows(unique)[inverse]
        return x @ self.w_q @ self.w_k if which == "cq" else x

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


def ideal_forms(run, layer: int, head: int) -> tuple[torch.Tensor, ...]:
    """``(W_QK, W_Q^T, W_K)`` of an idealised head: the stacks' form (the expansion's symbol)
    and the model's own projections. Both sides are d_model wide, as the stacks' are (``q W_QK``
    against ``k``): the conventional queries read back through ``W_K``, so that
    ``q' k'^T = (x W_Q^T)(x W_K^T)^T`` still."""
    attention = run.model.layers[layer]
    form = tensor(run.b.matrix(W_QK((layer, head))))
    return form, attention.W_Q[head].T, attention.W_K[head]


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
    positions: [rows, batch] (NaN where a side holds a NaN); gathered during the walk when the
    layer's restricted streams are not held, else computed :func:`block_rows` rows at a time, so
    that no side is held whole beyond the layer's streams."""
    if hs.sides.head_norms is not None:
        return tuple(hs.sides.head_norms[hs.head])
    parts, step = [], block_rows(hs)
    for start in range(0, hs.count, step):
        rows = torch.arange(start, min(hs.count, start + step))
        parts.append(four_norms(*(hs.side(w, rows) for w in ("q", "cq", "k", "ck"))))
    if not parts:
        empty = torch.zeros((0, hs.sides.b.batch), dtype=hs.total_q.dtype)
        return (empty,) * 4
    return tuple(torch.cat(column) for column in zip(*parts))


def four_norms(q, cq, k, ck) -> tuple[torch.Tensor, ...]:
    """``(||q - q'||, ||q'||, ||k||, ||k - k'||)`` of sides [rows, batch, seq, d], each the
    largest over positions: [rows, batch] (NaN where a side holds a NaN)."""

    def largest(x):
        norm = torch.linalg.vector_norm(x, dim=-1)
        return torch.where(torch.isnan(norm).any(-1), torch.nan, norm.amax(-1))

    return largest(q - cq), largest(cq), largest(k), largest(k - ck)


#: The bytes of one block of sides [rows, batch, seq, d] computed at once (a few such blocks
#: are alive together: the sides both ways and their differences).
BLOCK_BYTES = 4 * 2**20


def block_rows(hs: HeadSides) -> int:
    """How many side rows (or terms) :func:`side_norms` and :func:`exact_errors` take at once:
    a block of :data:`BLOCK_BYTES` of d_model-wide sides, at least one row."""
    b = hs.sides.b
    row = b.batch * b.seq * b.weights.d_model * hs.total_q.element_size()
    return max(1, BLOCK_BYTES // max(row, 1))


def side_bounds(norms, qi: torch.Tensor, kj: torch.Tensor) -> torch.Tensor:
    """The bound on the errors of the terms of query rows ``qi`` and key rows ``kj`` [m]:
    ``max_b (||Δq||_b ||k||_b + ||q'||_b ||Δk||_b)``, [m]."""
    dq, cq, k, dk = norms
    return (dq[qi] * k[kj] + cq[qi] * dk[kj]).amax(-1)


def exact_errors(hs: HeadSides, qi, kj, whole: float, floor: float):
    """``(rel, abs, index)`` of the worst of the terms of rows ``qi``, ``kj`` [m], each computed
    from the stacks' sides and from the conventional ones, entry by entry, :func:`block_rows` terms
    at a time (their sides are d_model wide in idealised architectures)."""
    worst = (None, None, None)
    step = block_rows(hs)
    for start in range(0, len(qi), step):
        q, k = qi[start : start + step], kj[start : start + step]
        got = hs.side("q", q) @ hs.side("k", k).transpose(-1, -2)
        want = hs.side("cq", q) @ hs.side("ck", k).transpose(-1, -2)
        err, size = entry_errors(got, want)
        rel, abs_, at = worst_of(err, torch.clamp(size, min=whole), floor)
        if worst[0] is None or worse_rel(rel, worst[0]):
            worst = (rel, abs_, start + at)
    return worst


def worse_rel(rel: float, than: float) -> bool:
    """Whether ``rel`` is worse than ``than`` (NaN the worst of all)."""
    return not np.isnan(than) and (np.isnan(rel) or rel > than)


def _held_rows(sides: LayerSides, n: int, used) -> torch.Tensor:
    """Rows of side indices ``0..n-1`` (those not held: row 0, never looked up)."""
    needed = np.unique(np.asarray(used, dtype=np.int64))
    rows = torch.zeros(n, dtype=torch.int64)
    rows[torch.from_numpy(needed)] = torch.from_numpy(sides.rows(needed)).to(torch.int64)
    return rows


def _codes(pairs, start: int, stop: int) -> torch.Tensor:
    if pairs is None:
        return torch.arange(start, stop, dtype=torch.int64)
    return torch.from_numpy(np.asarray(pairs[start:stop], dtype=np.int64))


def _ij(i: torch.Tensor, j: torch.Tensor, at: int) -> tuple[int, int]:
    return int(i[at]), int(j[at])


def pair_value(hs: HeadSides, i: int, j: int) -> np.ndarray:
    """The stacks' value of the term of query side ``i`` and key side ``j`` [batch, seq, seq]."""
    return pair_values(hs, [(i, j)])[0]


def pair_values(hs: HeadSides, pairs: list[tuple[int, int]]) -> np.ndarray:
    """The stacks' values of the terms of (query side, key side) ``pairs`` [len(pairs), batch,
    seq, seq]: batched products (:func:`~tensoralgebra.numeric.stacks.pair_products`, each
    distinct side taken once), of as many pairs at a time as have sides of
    :func:`~tensoralgebra.numeric.budget.term_batch` bytes."""
    i, j = zip(*pairs) if pairs else ((), ())
    qi, kj = hs.sides.rows(list(i)), hs.sides.rows(list(j))
    if not len(pairs):
        return (hs.side("q", qi) @ hs.side("k", kj).transpose(-1, -2)).numpy()
    parts, start, step = [], 0, 1  # the step sized from the first pair's sides
    while start < len(pairs):
        q_rows, q_index = np.unique(qi[start : start + step], return_inverse=True)
        k_rows, k_index = np.unique(kj[start : start + step], return_inverse=True)
        q, k = hs.side("q", q_rows), hs.side("k", k_rows)
        ops = Bindings.ops_for(q)  # (torch tensors on the host)
        products = stacks.pair_products(ops, q, k, q_index.tolist(), k_index.tolist())
        parts.append(products.numpy())
        start += step
        # A pair's two sides, and up to two products (the grid may hold twice the pairs').
        per_pair = 2 * (q.nbytes // len(q)) + 2 * products[0].nbytes
        step = max(1, budget.term_batch(hs.sides.run.max_bytes) // per_pair)
    return np.concatenate(parts)


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
