"""``verify``: the expansion checked against real forward passes, sum and term by term.

For the logits and for every head's scores (MATH.md §5), with the patterns of one forward pass
frozen:

- the sum of all terms (computed with shared prefixes, :mod:`~tensoralgebra.numeric.stacks`)
  against the forward pass: the logits, or the head's recorded (unscaled, pre-mask) scores;
- every term against the forward pass restricted to its path (``model.run(..., keep=path)``);
  a score term ``(q, k)`` against the head's conventional Q/K projections of the streams that
  the restricted passes of ``q`` and ``k`` feed into its layer;
- the printed expression of each term (all of them, or an evenly spaced sample of
  ``expr_limit``), evaluated symbol by symbol, against the same value;
- for ``k`` below the top order, the terms of order ≤ k against the order-by-order ablated pass
  (``keep_order=k``); with ``max_order`` the sums are checked against that pass too.

>>> import tensoralgebra as ta
>>> model = ta.AttentionOnlyTransformer(ta.Weights.random(
...     ta.Architecture(heads=(2, 2)), d_model=16, d_head=4, d_vocab=20, n_ctx=8))
>>> report = ta.verify(model, [[1, 5, 2, 7, 7, 3], [0, 1, 2, 3, 4, 5]])
>>> report.ok, [(c.name, c.terms) for c in report.checks][:4]
(True, [('logits', 9), ('logits order≤0', 1), ('logits order≤1', 5), ('scores L0H0', 1)])
>>> max(c.sum_rel for c in report.checks) < 1e-12
True
"""

from __future__ import annotations

import numpy as np

import tensoralgebra as ta
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric import stacks
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.evaluation import Evaluator
from tensoralgebra.numeric.report import TOLERANCE, Check, VerifyReport
from tensoralgebra.paths import check_order
from tensoralgebra.symbols import W_QK, W_U


def verify(
    model,
    tokens,
    max_order: int | None = None,
    *,
    trace=None,
    backend: str = "numpy",
    per_term: bool = True,
    expr_limit: int = 256,
    tolerance: float | None = None,
) -> VerifyReport:
    """Check the logit and score expansions of ``model`` on ``tokens`` [batch, seq].

    ``max_order``: only paths of order ≤ it (each side of a score term likewise). ``trace``: the
    forward pass to check against (default: a fresh ``model.run(tokens)``); pass one recorded
    earlier to check that the model still computes it. ``per_term=False`` skips the one restricted
    forward pass per logit path. ``tolerance``: relative, by default
    :data:`~tensoralgebra.numeric.report.TOLERANCE` of the model's dtype. Errors are relative to
    the size of what is compared, and at least to the size rounding errors scale with:
    ``||W_U||_2 max_i Σ_p |r_{p,i}|`` for logits and ``||W_QK||_2 (max_i Σ_p |r_{p,i}|)²`` for
    scores, over the path streams ``r_p`` (values that cancel to nearly zero are no yardstick).
    """
    arch = model.architecture
    array = model.tokens(tokens)
    reference = model.run(array) if trace is None else trace
    if not np.array_equal(reference.tokens, array):
        raise TensorAlgebraError("the trace given was recorded on other tokens than these")
    top = check_order(arch, max_order)
    dtype = str(model.weights.dtype)
    tol = TOLERANCE[dtype] if tolerance is None else tolerance
    run = _Run(model, array, reference, Bindings(model, reference, backend), tol, expr_limit)
    checks = run.logits(top, per_term)
    for layer in range(arch.n_layers):
        side_top = None if top is None else min(top, layer)
        for head in range(arch.heads[layer]):
            checks.append(run.scores(layer, head, side_top, top, per_term))
    weights = model.weights
    sizes = {
        "d_model": weights.d_model,
        "d_head": weights.d_head,
        "d_vocab": weights.d_vocab,
        "n_ctx": weights.n_ctx,
        "batch": array.shape[0],
        "seq": array.shape[1],
    }
    return VerifyReport(repr(arch), sizes, dtype, tol, tuple(checks))


def _errors(got: np.ndarray, want: np.ndarray, scale: float | None = None) -> tuple[float, float]:
    """``(max |got - want|, that / max |want|)``; ``scale`` replaces ``max |want|``."""
    err = float(np.max(np.abs(got - want), initial=0.0))
    scale = float(np.max(np.abs(want), initial=0.0)) if scale is None else scale
    return err, (err / scale if scale > 0 else err)


class _Run:
    def __init__(self, model, tokens, reference, bindings, tol, expr_limit):
        self.model, self.tokens, self.reference, self.b = model, tokens, reference, bindings
        self.tol, self.expr_limit = tol, expr_limit
        self.evaluator = Evaluator(bindings)
        self.streams: dict = {}  # path -> the restricted pass's residual streams
        self.by_order: dict = {}  # k -> the keep_order=k trace

    def numpy(self, value) -> np.ndarray:
        return self.b.ops.to_numpy(value)

    def ablated(self, k: int):
        if k not in self.by_order:
            self.by_order[k] = self.model.run(self.tokens, frozen=self.reference, keep_order=k)
        return self.by_order[k]

    def logits(self, top: int | None, per_term: bool) -> list[Check]:
        arch = self.model.architecture
        values = {}
        for paths, chunk in stacks.logit_terms(self.b, top):
            values.update(zip(paths, self.numpy(chunk)))
        last = arch.n_layers if top is None else top
        want = self.reference.logits if top is None else self.ablated(top).logits
        name = "logits" if top is None else f"logits order≤{top}"
        unembed = np.linalg.norm(self._float64(self.b.matrix(W_U)), 2)
        bound = self.stream_bound(arch.n_layers, top) * unembed
        checks = [self._check(name, values, want, per_term, _count_logits(arch, last), bound)]
        for k in range(last):
            kept = {p: v for p, v in values.items() if p.order <= k}
            want, expected = self.ablated(k).logits, _count_logits(arch, k)
            bound = self.stream_bound(arch.n_layers, k) * unembed
            checks.append(self._sum_check(f"logits order≤{k}", kept, want, expected, bound))
        return checks

    def _sum_check(self, name, values, want, expected, bound) -> Check:
        total = sum(values.values())
        errors = _errors(total, want, _scale(want, want, bound))
        return Check(name, len(values), expected, *errors, tolerance=self.tol)

    def _check(self, name, values, want, per_term, expected, bound) -> Check:
        total = sum(values.values())
        fields = {}
        if per_term:
            worst = (-1.0, 0.0, None)
            for path, value in values.items():
                restricted = self.model.run(self.tokens, frozen=self.reference, keep=path)
                self.streams[path] = restricted.residual
                scale = _scale(restricted.logits, want, bound)
                err, rel = _errors(value, restricted.logits, scale)
                worst = max(worst, (rel, err, str(path)), key=lambda w: w[0])
            fields = {"term_rel": worst[0], "term_abs": worst[1], "worst_term": worst[2]}
        sampled = _sample(list(values), self.expr_limit)
        fields |= self._exprs([(p.expr, values[p]) for p in sampled], want, bound)
        errors = _errors(total, want, _scale(want, want, bound))
        return Check(name, len(values), expected, *errors, **fields, tolerance=self.tol)

    def _exprs(self, pairs, whole, floor: float = 0.0) -> dict:
        worst = 0.0
        for expr, value in pairs:
            got = self.numpy(self.evaluator.value(expr))
            worst = max(worst, _errors(got, value, _scale(value, whole, floor))[1])
        return {"exprs": len(pairs), "expr_rel": worst if pairs else None}

    def scores(self, layer, head, side_top, top, per_term) -> Check:
        values, worst = {}, (-1.0, 0.0, None)
        attention = self.model.layers[layer]
        want = self.reference.head_scores(layer, head)
        if top is not None:
            want = self.ablated(top).head_scores(layer, head)
        bound = self.score_bound(layer, head, side_top)
        for q_paths, k_paths, block in stacks.score_terms(self.b, layer, head, side_top):
            block = self.numpy(block)
            if per_term:
                truth = self._restricted_scores(attention, q_paths, k_paths, layer)[..., head, :, :]
            for i, q in enumerate(q_paths):
                for j, k in enumerate(k_paths):
                    values[(q, k)] = block[i, j]
                    if per_term:
                        scale = _scale(truth[i, j], want, bound)
                        err, rel = _errors(block[i, j], truth[i, j], scale)
                        worst = max(worst, (rel, err, f"{q} × {k}"), key=lambda w: w[0])
        official = list(ta.score_paths(self.model.architecture, layer, head, side_top))
        found = [(t.expr, values[(t.query, t.key)]) for t in official if (t.query, t.key) in values]
        fields = self._exprs(_sample(found, self.expr_limit), want, bound)
        if per_term:
            fields |= {"term_rel": worst[0], "term_abs": worst[1], "worst_term": worst[2]}
        expected = ta.count_score_paths(self.model.architecture, layer, head, max_order=side_top)
        terms = len(found) if len(found) == len(values) else -len(values)  # mismatch: never ok
        total = sum(values.values())
        return Check(
            f"scores L{layer}H{head}",
            terms,
            expected,
            *_errors(total, want, _scale(want, want, bound)),
            **fields,
            tolerance=self.tol,
        )

    def stream_bound(self, before: int, top: int | None) -> float:
        """``max_i Σ_p |r_{p,i}|`` over the path streams ``r_p`` of order ≤ ``top`` that
        ``before`` reads: the size of the terms a stream is the sum of.

        A logit or score is ``W_U r`` or ``r^T W_QK r'`` summed over paths, so its rounding
        errors scale with ``||W_U||_2`` times this, or ``||W_QK||_2`` times its square. The
        values themselves are no yardstick when they cancel to nearly zero (one position, a
        narrow model, paths that cancel), so errors are measured against these bounds too."""
        total = 0.0
        for _, stack in stacks.path_streams(self.b, before, top):
            total = total + np.linalg.norm(self._float64(stack), axis=-1).sum(axis=0)
        return float(np.max(total, initial=0.0))

    def score_bound(self, layer: int, head: int, side_top: int | None) -> float:
        """``||W_QK||_2 (max_i Σ_p |r_{p,i}|)²``: see :meth:`stream_bound`."""
        form = self._float64(self.b.matrix(W_QK((layer, head))))
        return self.stream_bound(layer, side_top) ** 2 * float(np.linalg.norm(form, 2))

    def _float64(self, value) -> np.ndarray:
        return np.asarray(self.numpy(value), dtype=np.float64)

    def _restricted_scores(self, attention, q_paths, k_paths, layer) -> np.ndarray:
        """Conventional scores [nq, nk, batch, n_heads, seq, seq] of the streams the restricted
        passes of the query and key paths feed into ``layer``."""
        import torch

        def stack(paths):
            return torch.from_numpy(np.stack([self.streams[p][layer] for p in paths]))

        with torch.no_grad():
            return attention.scores(stack(q_paths)[:, None], stack(k_paths)[None]).numpy()


def _scale(term: np.ndarray, whole: np.ndarray, floor: float = 0.0) -> float:
    """What a term's error is relative to: the largest of the term, the whole it is part of,
    and ``floor`` (the size rounding errors scale with: :meth:`_Run.stream_bound`).

    A term that nearly cancels inside itself (a small dot product of large vectors) is only
    as accurate as the numbers it was made of, so its own size alone is no yardstick.
    """
    term_max = np.max(np.abs(term), initial=0.0)
    return float(max(term_max, np.max(np.abs(whole), initial=0.0), floor))


def _count_logits(arch, top: int) -> int:
    return sum(ta.count_logit_paths(arch, order=k) for k in range(top + 1))


def _sample(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in picks]
