"""The two sides of :func:`~tensoralgebra.numeric.score_search.top_score_paths`: the streams of
side prefixes (shared by the query and the key side), each side's bounds, and the nodes of the
side trees. The notation and the proofs of the bounds are in
:mod:`~tensoralgebra.numeric.score_search`'s docstring; everything is torch on the model's device.

Shapes: a stream is [rows, d_model] (``rows`` = query + 1), a side's vector [d_head], a pattern
``Â^{m,h}`` [rows, rows]; bound vectors are float64 [rows], stacked as [2, ...] for the
d_head-space and the model-space bound.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tensoralgebra.numeric.path_bounds import PathBounds, margin, path_bounds
from tensoralgebra.numeric.real_symbols import real_matrix
from tensoralgebra.paths import LogitPath, bias_layer
from tensoralgebra.scores import KEY_BIAS, QUERY_BIAS, side_sources


class Streams:
    """What both sides share: the frozen patterns times the next layer's scales ``Â``, the
    LayerNorm reads ``W̃``, the heads' ``ρ = ||W_OV W̃||``, and the cache of prefix streams."""

    def __init__(self, model, trace, layer: int):
        self.model, self.layer, self.arch = model, layer, model.architecture
        self.rows = trace.tokens.shape[1]
        self.tokens = torch.from_numpy(np.array(trace.tokens[0])).to(model.device)
        self.norm = model.normalization
        self.scales = [self._scale(model, trace, m) for m in range(layer + 1)]
        self.A = [
            model.host_tensor(trace.patterns[m][0]) * self.scales[m].to(model.W_E.dtype)
            for m in range(layer)
        ]  # Â^{m,h} = A^{m,h} diag(s_m): [n_heads, rows, rows]
        self.heads = [(m, h) for m in range(layer) for h in range(self.arch.heads[m])]
        self.first = [sum(self.arch.heads[:m]) for m in range(layer + 1)]
        self.R, self.ov, self.read_N = [], [], []
        for m, h in self.heads:  # W_V W̃_m = Q R^T... its triangular factor R, once per head
            attention = model.layers[m]
            _, R = torch.linalg.qr(self.tilde_right(attention.W_V[h].double(), m).T)
            self.R.append(R)
            self.ov.append(float(torch.linalg.matrix_norm(attention.W_O[h].double() @ R.T, 2)))
            left = self.tilde_left(attention.W_O[h].double(), layer)
            self.read_N.append(float(torch.linalg.matrix_norm(left @ R.T, ord=2)))
        eye = torch.eye(model.W_E.shape[0], dtype=torch.float64, device=model.device)
        self.tilde_norm = float(torch.linalg.matrix_norm(self.tilde_left(eye, layer), ord=2))
        self.margin = margin(model.W_E.dtype, layer, max(self.rows, model.W_E.shape[0]))
        self.cache: dict[LogitPath, torch.Tensor] = {}
        self._weights = self._directed = None

    def directed_inputs(self) -> tuple[list, list, list, list]:
        """What :meth:`Role.directed` hands :func:`~tensoralgebra.numeric.path_bounds.path_bounds`
        for the layers before the head's, float64, made once: ``W_V W̃_m`` [n_heads, d_head,
        d_model], ``W_O`` [n_heads, d_model, d_head], the patterns ``Â`` [n_heads, rows, rows]
        and the heads' ``ρ = ||W_OV W̃_m||_2`` [n_heads]."""
        if self._directed is None:
            layers, f64 = range(self.layer), dict(dtype=torch.float64, device=self.model.device)
            self._directed = (
                [self.tilde_right(self.model.layers[m].W_V.double(), m) for m in layers],
                [self.model.layers[m].W_O.double() for m in layers],
                [self.A[m].double() for m in layers],
                [torch.tensor(self.ov[self.first[m] : self.first[m + 1]], **f64) for m in layers],
            )
        return self._directed

    @property
    def weights(self):
        """The model's :class:`~tensoralgebra.Weights` (for its constants), made once."""
        if self._weights is None:
            self._weights = self.model.weights_view()
        return self._weights

    def _scale(self, model, trace, m: int) -> torch.Tensor:
        """``s_m = 1/σ_m`` [rows] float64 (ones without LayerNorm)."""
        if self.norm is None:
            return torch.ones(self.rows, dtype=torch.float64, device=model.device)
        return 1.0 / torch.from_numpy(np.array(trace.ln_scale[m][0])).to(model.device).double()

    def _weight(self, m: int):
        return self.model.layers[m].ln_w if self.norm == "LN" else None

    def tilde_rows(self, x: torch.Tensor, m: int) -> torch.Tensor:
        """``x W̃_m^T`` for rows ``x`` [..., d_model]: centred, times the LayerNorm weight."""
        if self.norm is None:
            return x
        centred = x - x.mean(-1, keepdim=True)
        w = self._weight(m)
        return centred if w is None else centred * w.to(x.dtype)

    def tilde_right(self, M: torch.Tensor, m: int) -> torch.Tensor:
        """``M W̃_m`` for ``M`` [..., d_model] (``W̃ = diag(w) C``)."""
        if self.norm is None:
            return M
        w = self._weight(m)
        weighted = M if w is None else M * w.to(M.dtype)
        return weighted - weighted.mean(-1, keepdim=True)

    def tilde_left(self, M: torch.Tensor, m: int) -> torch.Tensor:
        """``W̃_m M`` for ``M`` [d_model, ...]."""
        if self.norm is None:
            return M
        w = self._weight(m)
        centred = M - M.mean(0, keepdim=True)
        return centred if w is None else w.to(M.dtype)[:, None] * centred

    def stream(self, path: LogitPath, parent: LogitPath | None) -> torch.Tensor:
        """``r_path`` [rows, d_model], from its parent's (cached) by one head."""
        if path not in self.cache:
            m, h = path.heads[-1]
            attention = self.model.layers[m]
            read = self.tilde_rows(self.cache[parent], m) @ attention.W_V[h].T
            self.cache[path] = (self.A[m][h] @ read) @ attention.W_O[h].T
        return self.cache[path]


class Role:
    """One side (``"query"`` at position ``pos`` with ``W = W_Q^h``, or ``"key"`` with
    ``W_K^h``): the sum bounds ``T`` [2, layer+1, rows] and ``K`` [2, heads before layer, rows],
    and the largest-side bounds ``V`` and ``KV`` of the same shapes (float64)."""

    def __init__(self, streams: Streams, W: torch.Tensor, pos: int, side: str, head: int):
        self.streams, self.pos, self.side, self.head = streams, pos, side, head
        self.W = W  # [d_head, d_model], the model's dtype
        layer, rows, dev = streams.layer, streams.rows, streams.model.device
        P = streams.tilde_right(W.double(), layer)  # [d_head, d_model]
        s_i = float(streams.scales[layer][pos])
        self.P, self.s = P, s_i
        read_P = []
        for (m, h), R in zip(streams.heads, streams.R):
            W_O = streams.model.layers[m].W_O[h].double()
            read_P.append(float(torch.linalg.matrix_norm((P @ W_O) @ R.T, ord=2)))
        reads = torch.tensor([read_P, streams.read_N], dtype=torch.float64, device=dev)
        base = [float(torch.linalg.matrix_norm(P, ord=2)), streams.tilde_norm]
        base = torch.tensor(base, dtype=torch.float64, device=dev)
        e = torch.zeros(rows, dtype=torch.float64, device=dev)
        e[pos] = 1.0
        margin = streams.margin
        last = margin * s_i * base[:, None] * e  # [2, rows]
        ov = torch.tensor(streams.ov, dtype=torch.float64, device=dev)
        G, T, K = torch.zeros_like(last), [last], [None] * len(streams.heads)
        W_, V, KV = torch.zeros_like(last), [last], [None] * len(streams.heads)
        K_rest, KV_rest = [None] * len(streams.heads), [None] * len(streams.heads)
        for m in reversed(range(layer)):
            A = streams.A[m].double()  # [n_heads, rows, rows]
            lo, hi = streams.first[m], streams.first[m + 1]
            own = s_i * reads[:, lo:hi, None] * A[None, :, pos]  # [2, n_heads, rows]
            through_G = ov[lo:hi, None] * torch.einsum("pj,hjk->phk", G, A)
            through_W = ov[lo:hi, None] * torch.einsum("pj,hjk->phk", W_, A)
            for h in range(hi - lo):  # the child's own path, then its completions
                K[lo + h] = margin * (own[:, h] + through_G[:, h])
                KV[lo + h] = margin * torch.maximum(own[:, h], through_W[:, h])
                K_rest[lo + h], KV_rest[lo + h] = margin * through_G[:, h], margin * through_W[:, h]
            F = torch.eye(rows, dtype=torch.float64, device=dev) + torch.einsum(
                "h,hjk->jk", ov[lo:hi], A
            )
            G = own.sum(1) + G @ F
            T.insert(0, last + margin * G)
            # W_m: the largest over completions with a head in layers ≥ m (the last one read
            # exactly, earlier ones priced at ρ), by the layer-m choice: skip, last, or before.
            W_ = torch.maximum(W_, torch.maximum(own.amax(1), through_W.amax(1)))
            V.insert(0, torch.maximum(last, margin * W_))
        self.T, self.V = torch.stack(T, dim=1), torch.stack(V, dim=1)
        empty = torch.zeros((2, 0, rows), dtype=torch.float64, device=dev)
        self.K, self.KV, self.K_rest, self.KV_rest = (
            torch.stack(X, dim=1) if X else empty for X in (K, KV, K_rest, KV_rest)
        )

    def children(self, stream: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The model-space reads [children, d_model] and the vectors [children, d_head] of the
        paths one head longer than a prefix with this ``stream`` [rows, d_model], through each
        head of layers ``start..layer-1`` in turn, all at once (the child's stream at ``pos``
        is ``(Â^{m,h}[pos, :] (r W̃_m^T)) W_V^T W_O^T``, by linearity)."""
        streams, pos = self.streams, self.pos
        rows = []
        for m in range(start, streams.layer):
            attention = streams.model.layers[m]
            y = streams.A[m][:, pos, :] @ streams.tilde_rows(stream, m)  # [n_heads, d_model]
            z = torch.einsum("hd,hed->he", y, attention.W_V)  # [n_heads, d_head]
            rows.append(torch.einsum("he,hme->hm", z, attention.W_O))  # [n_heads, d_model]
        at = torch.cat(rows) if rows else stream[:0]
        read = streams.tilde_rows(at, streams.layer) * streams.scales[streams.layer][pos].to(
            at.dtype
        )
        return read, read @ self.W.T

    def directed(self, other: torch.Tensor) -> PathBounds:
        """The bounds of :mod:`~tensoralgebra.numeric.path_bounds` for ``|other · side|`` over
        this side's paths, ``other`` [d_head] a vector of the other side: the side's read
        ``s_l[pos] (r[pos] W̃_l^T) W^T`` dotted with it is ``r[pos] · u`` for
        ``u = s_l[pos] W̃_l^T W^T other``, a logit-path read at row ``pos``."""
        streams = self.streams
        u = self.s * (other.double() @ self.P)
        W_V, W_O, A, ov = streams.directed_inputs()
        dtype = streams.model.W_E.dtype
        return path_bounds(u, W_V, W_O, A, streams.rows, dtype, position=self.pos, ov=ov)

    def leaf(self, path: LogitPath, read: torch.Tensor | None, vector: torch.Tensor) -> SideNode:
        """A side that is one path: its vector [d_head] exact; ``read`` [d_model] its model-space
        read (``None`` for the head's own constant, which has none)."""
        size = math.inf if read is None else float(torch.linalg.vector_norm(read))
        bound = (float(torch.linalg.vector_norm(vector)), size)
        return SideNode(self, path, None, bound, bound, vector=vector)

    def from_stream(self, path: LogitPath, stream: torch.Tensor) -> SideNode:
        """The leaf of a stream path: ``s_l[pos] (r[pos] W̃_l^T)`` read by ``W``."""
        streams = self.streams
        read = streams.tilde_rows(stream[self.pos], streams.layer)
        read = read * streams.scales[streams.layer][self.pos].to(read.dtype)
        return self.leaf(path, read, read @ self.W.T)

    def open(self, path: LogitPath, start: int, stream: torch.Tensor) -> SideNode:
        """A prefix whose completions may take heads in layers ``start..layer-1``."""
        if start >= self.streams.layer:
            return self.from_stream(path, stream)
        n = torch.linalg.vector_norm(stream, dim=-1).double()
        bound = tuple((self.T[:, start] @ n).tolist())
        largest = tuple((self.V[:, start] @ n).tolist())
        return SideNode(self, path, start, bound, largest, reach=("T", start, n))


class SideNode:
    """A side prefix: a leaf (one path, ``vector`` exact) or open (the path and its completions
    with heads from layer ``start``); ``bound`` = (d_head-space, model-space) bounds on the sum
    of its sides' norms, ``largest`` on the largest one's. An open side's ``reach`` says what its
    bounds are made of, ``(table, row, norms)``: row ``row`` of the bound tables ``T``/``V``
    (the prefix's own stream's row norms) or ``K``/``KV`` (its parent's), so that
    :meth:`directed` can read the same row of another table. A leaf's ``table`` is the
    :class:`~tensoralgebra.numeric.path_bounds.PathBounds` of the other side read in its
    direction, once computed."""

    __slots__ = (
        "_split", "bound", "largest", "own", "parent", "path", "reach", "role", "start", "table",
        "vector",
    )  # fmt: skip

    def __init__(
        self, role, path, start, bound, largest, vector=None, parent=None, reach=None, own=None
    ):
        self.role, self.path, self.start, self.bound = role, path, start, bound
        self.largest = tuple(min(x, total) for x, total in zip(largest, bound))
        self.vector, self.parent, self._split = vector, parent, None
        self.reach, self.table, self.own = reach, None, own

    def directed(self, leaf: SideNode) -> tuple[float, float]:
        """``(sum, largest)`` bounds on ``|v · side|`` over this open side's completions, for
        the vector ``v`` of ``leaf`` (an other side's), from its :meth:`Role.directed` table.
        A child whose own side is known reads it exactly: ``|v · own|``, widened by the
        rounding the own side and the leaf it becomes may differ by."""
        kind, row, norms = self.reach
        table = leaf.table
        total, most = (table.T, table.V) if kind == "T" else (table.K, table.KV)
        total, most = float(total[row] @ norms), float(most[row] @ norms)
        if self.own is not None:
            v, own = leaf.vector.double(), self.own.double()
            slack = (self.role.streams.margin - 1.0) * float(
                torch.linalg.vector_norm(v) * torch.linalg.vector_norm(own)
            )
            exact = self.role.streams.margin * (abs(float(v @ own)) + slack)
            total = min(total, exact + float(table.K_rest[row] @ norms))
            most = min(most, max(exact, float(table.KV_rest[row] @ norms)))
        return total, min(most, total)

    @property
    def is_leaf(self) -> bool:
        return self.start is None

    def split(self) -> list[SideNode]:
        """The path itself as a leaf, and one open child per head of layers ``start..``: computed
        once (its stream then joins the shared cache)."""
        if self._split is None:
            role = self.role
            streams = role.streams
            stream = streams.stream(self.path, self.parent)
            n = torch.linalg.vector_norm(stream, dim=-1).double()
            lo = streams.first[self.start]
            read, vectors = role.children(stream, self.start)
            # Each child's own side exactly (widened by the margin), then its completions.
            own = streams.margin * torch.stack(
                [torch.linalg.vector_norm(x.double(), dim=-1) for x in (vectors, read)]
            )  # [2, children]
            sums = torch.minimum(role.K[:, lo:] @ n, own + role.K_rest[:, lo:] @ n)
            most = torch.minimum(role.KV[:, lo:] @ n, torch.maximum(own, role.KV_rest[:, lo:] @ n))
            nodes = [role.from_stream(self.path, stream)]
            for i, (m, h) in enumerate(streams.heads[lo:]):
                path = LogitPath(
                    (*self.path.heads, (m, h)), self.path.source, self.path.normalization
                )
                node = SideNode(
                    role, path, m + 1, tuple(sums[:, i].tolist()), tuple(most[:, i].tolist()),
                    parent=self.path, reach=("K", lo + i, n), own=vectors[i],
                )  # fmt: skip
                nodes.append(node)
            self._split = nodes
        return self._split


def root_sides(role: Role) -> list[SideNode]:
    """The sides through no head yet, in the expansion's order of sources: the stream sources,
    shortformer positions, the constant sources of earlier layers, the head's own constant."""
    streams = role.streams
    model, arch, layer = streams.model, streams.arch, streams.layer
    own = QUERY_BIAS if role.side == "query" else KEY_BIAS
    nodes = []
    for source in side_sources(arch, layer, (), own):
        path = LogitPath((), source, arch.normalization)
        if source == own:
            nodes.append(role.leaf(path, None, _own_constant(streams, role)))
        elif source == "position" and arch.positional == "shortformer":
            read = model.W_pos[:, role.pos]
            nodes.append(role.leaf(path, read, read @ role.W.T))
        else:
            stream, start = _root_stream(streams, source)
            streams.cache[path] = stream
            nodes.append(role.open(path, start, stream))
    return nodes


def _root_stream(streams: Streams, source: str) -> tuple[torch.Tensor, int]:
    """A root's stream [rows, d_model] and the first layer its heads may be in."""
    model = streams.model
    if source == "token":
        return model.W_E.T[streams.tokens], 0
    if source == "position":
        return model.W_pos.T[: streams.rows], 0
    m = bias_layer(source)
    constant = torch.from_numpy(np.array(real_matrix(streams.weights, "c", m)[:, 0]))
    return constant.to(model.device, model.W_E.dtype).expand(streams.rows, -1).contiguous(), m + 1


def _own_constant(streams: Streams, role: Role) -> torch.Tensor:
    """``c_Q^h`` (``b_Q^h`` without LayerNorm weights), or the key's, [d_head]."""
    model = streams.model
    name = ("c_" if model.normalization == "LN" else "b_") + role.side[0].upper()
    value = real_matrix(streams.weights, name, streams.layer, role.head)[:, 0]
    return torch.from_numpy(np.array(value)).to(device=model.device, dtype=model.W_E.dtype)
