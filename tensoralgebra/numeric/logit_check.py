"""The logits' checks of one ``verify`` run, streamed: path streams come in chunks from
:mod:`~tensoralgebra.numeric.stacks`, are summed as they come (by order: the totals) and checked
one by one against batched path-restricted passes (:mod:`~tensoralgebra.numeric.restricted`),
and are never all held.

Per-term checks work in the residual stream: a logit term is ``read(R_p) W_U^T`` (``read``: the
final frozen LayerNorm without its bias, or nothing), and the pass restricted to ``p`` gives
``read(x_p) W_U^T`` from its final stream ``x_p``; so the term's stream ``read(R_p)`` is
compared with ``read(x_p)`` in d_model instead of both logits in d_vocab. This is as strong a
check: ``W_U`` is linear and the same matrix on both sides, so at every position the logit
error is ``|(read(R_p) - read(x_p)) W_U^T| ≤ ||W_U||_2 ||read(R_p) - read(x_p)||``, and the
report states that bound. Errors are relative to the larger of the term's stream, the whole
final stream and ``max_i Σ_p ||read(R_p)_i||`` (the size rounding errors scale with). Only the
totals (one per order) are unembedded.
"""

from __future__ import annotations

import numpy as np
import torch

from tensoralgebra.expr.traversal import count_terms
from tensoralgebra.factored import logits as factored_logits
from tensoralgebra.numeric import budget, stacks
from tensoralgebra.numeric import comparison as cmp
from tensoralgebra.numeric.expansion_check import Messages
from tensoralgebra.numeric.restricted import final_streams
from tensoralgebra.numeric.streamed import first_bad, norm_errors, tensor, worst_of
from tensoralgebra.numeric.term_sample import describe, logit_sides, pick_paths
from tensoralgebra.paths import UNEMBEDDING_BIAS, logit_paths
from tensoralgebra.symbols import W_U


class LazyValues(dict):
    """``{key: value}`` whose values are computed when looked up (``compute(key)``), so that a
    check matching terms holds their streams, not their logits; :meth:`many` computes several
    at once (``compute_many(keys)``, [n, ...], when given)."""

    def __init__(self, keys, compute, compute_many=None):
        super().__init__((k, None) for k in keys)
        self.compute, self.compute_many = compute, compute_many

    def __getitem__(self, key):
        dict.__getitem__(self, key)  # a KeyError for unknown keys
        return self.compute(key)

    def many(self, keys: list) -> np.ndarray:
        """The values of ``keys``, [len(keys), ...]."""
        for key in keys:
            dict.__getitem__(self, key)
        if self.compute_many is None:
            return np.stack([self.compute(key) for key in keys])
        return self.compute_many(keys)


class LogitStream:
    """One streamed walk over the logit terms of order ≤ ``top``, with what it gathered."""

    def __init__(self, run, top: int | None, per_term: bool, hold: bool):
        self.run, self.b, self.arch = run, run.b, run.arch
        self.top = self.arch.n_layers if top is None else top
        self.paths = logit_sides(self.arch, top)
        picked = pick_paths(self.paths, run.term_budget, run.seed) if per_term else []
        self.selected = None if picked is None else {self.paths[i] for i in picked}
        self.checked = len(self.paths) if picked is None else len(picked)
        self.how = describe(self.checked, len(self.paths), run.seed) if per_term else None
        expr = cmp.sample(range(len(self.paths)), run.expr_limit)
        self.expr_paths = {self.paths[i] for i in expr}
        self.held = {} if hold else None
        self.failures, self.worst, self.expr_rel = Messages(), [], []
        # With the terms held, the printed expressions are checked after the rule-based
        # expansion, which evaluates most of them already (Run.deferred_exprs).
        self.deferred: list = []

    def walk(self, bar) -> None:
        b, run = self.b, self.run
        d_model, (batch, seq) = b.weights.d_model, (b.batch, b.seq)
        shape = (self.top + 1, batch, seq, d_model)
        self.sums = torch.zeros(shape, dtype=run.torch_dtype)
        self.norms = torch.zeros(shape[:-1], dtype=torch.float64)
        chunks = stacks.path_streams(b, max_order=self.top, chunk=run.chunk)
        chunks = stacks.regroup(b, chunks, run.chunk)  # never more than run.chunk paths at once
        for paths, stack in chunks:
            read = tensor(stacks.read(b, stack, None))
            bad = first_bad(read)
            if bad is not None:
                self.failures.add(f"term {paths[bad]}: a value is not finite")
            orders = torch.tensor([len(p.heads) for p in paths])
            self.sums.index_add_(0, orders, read)
            self.norms.index_add_(0, orders, torch.linalg.vector_norm(read, dim=-1).double())
            self._terms(paths, read, bar)
            if self.held is not None:
                self.held.update(zip(paths, read))
            del stack, read
            budget.release_freed()

    def _terms(self, paths, read, bar) -> None:
        run = self.run
        rows = [i for i, p in enumerate(paths) if self.selected is None or p in self.selected]
        if rows:
            kept = [paths[i] for i in rows]
            streams = final_streams(run.model, run.reference, kept)
            want = run.model.read_frozen(streams, run.model.ln_final_w, run.final_scale)
            err, size = norm_errors(read[rows], want)
            self.worst.append((err, size, kept))
            bar.update(len(rows))
        for i, path in enumerate(paths):
            if path in self.expr_paths:
                self._expr(path, lambda i=i: self.logit(read[i]))

    def _expr(self, path, value) -> None:
        if self.held is not None:
            self.deferred.append(path)
        else:
            self.expr_rel.append(self.run.expr_error(path, value(), self.failures))

    def expr_rels(self, floor: float) -> list[float]:
        """The sampled expressions' errors, each relative to the larger of its scale and
        ``floor`` (the rounding floor :meth:`Run.logit_bound` gives)."""
        return [
            err / max(scale, floor) if max(scale, floor) > 0 else err
            for err, scale in self.expr_rel
        ]

    def logit(self, read: torch.Tensor) -> np.ndarray:
        """``read W_U^T`` [..., d_vocab], in numpy: ``W_U`` is read where it is (a read-only
        array torch would copy, a d_vocab × d_model copy per call)."""
        return read.numpy() @ self.run.numpy(self.b.matrix(W_U)).T

    def constant(self) -> torch.Tensor:
        """The unembedding's constant term ``1 c_U^T`` [batch, seq, d_vocab] (zeros without
        biases)."""
        b = self.b
        if not self.arch.biases:
            return torch.zeros(b.batch, b.seq, b.weights.d_vocab, dtype=self.run.torch_dtype)
        value = tensor(b.ones() @ stacks.unembedding_constant(b))
        return value.expand(b.batch, *value.shape)

    def constant_check(self, bar) -> None:
        """The unembedding's constant against the model's own (``b_U`` plus the final
        LayerNorm's bias through ``W_U``), and its expression."""
        if not self.arch.biases:
            return
        path = self.paths[-1]
        got = self.constant()
        if self.selected is None or path in self.selected:
            want = self.run.model.constant_logits().expand_as(got)
            err = (got - want).abs().amax().reshape(1)
            size = want.abs().amax().reshape(1)
            self.constant_error = (err, size)
            bar.update(1)
        if path in self.expr_paths:
            self._expr(path, lambda: got)

    def total(self, k: int) -> np.ndarray:
        """The sum of the terms of order ≤ ``k``, [batch, seq, d_vocab]: the order sums of the
        streams unembedded once, plus the constant."""
        logits = self.logit(self.sums[: k + 1].sum(0))
        return logits + self.constant().numpy() if self.arch.biases else logits

    def stream_bound(self, k: int) -> float:
        """``max_i Σ_p ||read(R_p)_i||`` over the paths of order ≤ ``k``."""
        return float(self.norms[: k + 1].sum(0).amax()) if self.norms.numel() else 0.0

    def term_worst(self, whole: float, floor: float):
        """``(rel, abs, name)`` of the worst checked term (in the stream; the constant in the
        logits, relative to the logits' own scale)."""
        worst = (None, None, None)
        for err, size, paths in self.worst:
            rel, abs_, i = worst_of(err, torch.clamp(size, min=whole), floor)
            worst = _worse(worst, (rel, abs_, str(paths[i])))
        if hasattr(self, "constant_error"):
            err, size = self.constant_error
            rel, abs_, _ = worst_of(err, size, self.run.logit_scale)
            worst = _worse(worst, (rel, abs_, UNEMBEDDING_BIAS))
        return worst


def _worse(current, candidate):
    from tensoralgebra.numeric.expansion_check import worse

    return worse(current, candidate)


def rule_based_fits(run, top) -> bool:
    """Whether the rule-based expansion of the logits is checked: at most ``expansion_limit``
    terms, whose streams fit in a quarter of the memory budget."""
    if count_terms(factored_logits(run.arch)) > run.expansion_limit:
        return False
    n = len(logit_sides(run.arch, top))
    stream = run.b.batch * run.b.seq * run.b.weights.d_model * run.b.weights.dtype.itemsize
    return n * stream <= run.max_bytes // 4


def logit_values(stream: LogitStream) -> LazyValues:
    """The held terms as ``{LogitPath: logits [batch, seq, d_vocab]}`` (numpy), unembedded
    when looked up."""
    held, unembedding = stream.held, stream.paths[-1]

    def compute(path):
        if path.source == UNEMBEDDING_BIAS and path == unembedding:
            return stream.constant().numpy()
        return stream.logit(held[path])

    def compute_many(paths):
        if unembedding in paths:  # the one constant: rare enough to take alone
            return np.stack([compute(path) for path in paths])
        return stream.logit(torch.stack([held[path] for path in paths]))

    keys = list(held) + ([unembedding] if stream.arch.biases else [])
    return LazyValues(keys, compute, compute_many)


def enumerated_logits(arch):
    return cmp.Enumerated(logit_paths, lambda a: len(logit_sides(a, None)), arch)
