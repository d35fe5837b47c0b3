"""The checks of one :func:`~tensoralgebra.verify` run, quantity by quantity: the logits (all,
and up to each order) and each head's scores, or an expression a user gives.

Terms are streamed (:mod:`~tensoralgebra.numeric.logit_check`,
:mod:`~tensoralgebra.numeric.score_check`): totals are running sums over every term; per-term
checks against batched path-restricted passes cover every term up to ``term_budget`` per
quantity, a stratified sample beyond (:mod:`~tensoralgebra.numeric.term_sample`). Every
comparison also looks for values that are not finite, and names where they are.
"""

from __future__ import annotations

import numpy as np
import torch

from tensoralgebra.expr.traversal import count_terms
from tensoralgebra.factored import logits as factored_logits
from tensoralgebra.numeric import budget
from tensoralgebra.numeric import comparison as cmp
from tensoralgebra.numeric.arrays import worst
from tensoralgebra.numeric.evaluation import Evaluator
from tensoralgebra.numeric.expansion_check import (
    Messages,
    worse,
)
from tensoralgebra.numeric.expression_checks import ExpressionChecks
from tensoralgebra.numeric.logit_check import (
    LazyValues,
    LogitStream,
    logit_values,
    rule_based_fits,
)
from tensoralgebra.numeric.report import Check
from tensoralgebra.numeric.score_check import (
    LayerSides,
    check_head,
    pair_value,
    pair_values,
    plan,
    score_path,
)
from tensoralgebra.numeric.streamed import tensor
from tensoralgebra.numeric.yardsticks import Yardsticks
from tensoralgebra.progress import progress
from tensoralgebra.scores import count_score_paths, score_paths
from tensoralgebra.scores import scores as factored_scores
from tensoralgebra.symbols import W_U


class Run(ExpressionChecks, Yardsticks):
    """One ``verify`` run: a model, tokens, the reference trace and the bindings; its
    expression checks and yardsticks are in :mod:`~tensoralgebra.numeric.expression_checks` and
    :mod:`~tensoralgebra.numeric.yardsticks`."""

    def __init__(self, model, tokens, reference, bindings, tol, limits):
        self.model, self.tokens, self.reference, self.b = model, tokens, reference, bindings
        self.arch = model.architecture
        self.tol, self.expr_limit = tol, limits["expr_limit"]
        self.expansion_limit = limits["expansion_limit"]
        self.term_budget, self.seed = limits["term_budget"], limits["seed"]
        self.max_bytes = limits["max_bytes"]
        self.chunk, self.block = limits["chunk"], limits["block"]
        cache = budget.evaluator_cache(self.max_bytes)
        self.evaluator = Evaluator(
            bindings, cache, concrete=True, batch_bytes=budget.term_batch(self.max_bytes)
        )
        self.by_order: dict = {}  # k -> the keep_order=k trace
        self.torch_dtype = torch.float32 if str(bindings.dtype) == "float32" else torch.float64
        self.final_scale = model.frozen_scale(reference, None)
        self.logit_scale = 0.0
        self.worse = worse
        self.done: dict = {}  # {key: (abs, rel, where)} of the last rule-based expansion checked

    # --- the checks ---------------------------------------------------------------------------

    def all(self, top: int | None, per_term: bool) -> list[Check]:
        """The logits' checks, then every head's."""
        checks = self.logits(top, per_term)
        # The scores are checked against the forward pass (or the order≤top pass) only: the
        # other ablated passes (logits [batch, seq, d_vocab] each) are done with.
        self.by_order = {k: v for k, v in self.by_order.items() if k == top}
        budget.release_freed()
        for layer in range(self.arch.n_layers):
            if self.arch.heads[layer]:
                side_top = None if top is None else min(top, layer)
                checks.extend(self.layer_scores(layer, side_top, top, per_term))
                budget.release_freed()
        return checks

    def logits(self, top: int | None, per_term: bool) -> list[Check]:
        arch, failures, notes = self.arch, Messages(), Messages()
        self.evaluator.clear()
        last = arch.n_layers if top is None else top
        want = self.reference.logits if top is None else self.ablated(top).logits
        name = "logits" if top is None else f"logits order≤{top}"
        self.forward_problems(arch.n_layers, want, f"the forward pass's {name}", failures)
        hold = rule_based_fits(self, top)
        stream = LogitStream(self, top, per_term, hold)
        self.logit_scale = float(np.max(np.abs(want), initial=0.0))
        with progress(stream.checked if per_term else None, "logit terms", unit="term") as bar:
            stream.walk(bar)
            stream.constant_check(bar)
        for message in stream.failures.as_tuple():
            failures.add(message)
        unembed = cmp.norm2(self.numpy(self.b.matrix(W_U)))
        bound = self.logit_bound(stream, last, unembed)
        fields, done, rule_failures = {}, {}, Messages()  # reported after the expressions'
        if hold:
            fields |= self.rule_based(
                factored_logits(arch), "ta.expand(ta.logits(arch))", lambda: _logit_paths(arch),
                (logit_values(stream), want, bound), rule_failures, notes,
            )  # fmt: skip
            done = self.done
        else:
            self._skipped(count_terms(factored_logits(arch)), "ta.expand(ta.logits(arch))", notes)
        expr_rel = self.deferred_exprs(stream, done, failures) + stream.expr_rels(bound)
        fields |= {"exprs": len(stream.expr_paths), "expr_rel": worst(expr_rel)}
        fields |= self._expr_failures(expr_rel, failures)
        failures.extend(rule_failures)
        if per_term:
            whole = self._final_size()
            worst_term = stream.term_worst(whole, stream.stream_bound(last))
            fields |= dict(zip(("term_rel", "term_abs", "worst_term"), worst_term))
            fields |= {"checked": stream.checked, "checked_how": stream.how}
            self.term_problems(worst_term, failures)
        if fields.get("term_abs") is not None:
            notes.add(
                "terms compared in the residual stream as the unembedding reads it: their "
                f"logits differ by at most ||W_U||_2 = {unembed:.3g} times the stream error, "
                f"≤ {unembed * fields['term_abs']:.3g}"
            )
        errors = self.compare(stream.total(last), want, bound, failures, None)
        expected = cmp.count_logits(arch, last)
        n = len(stream.paths)
        checks = [self.check(name, n, expected, errors, fields, failures, notes)]
        for k in range(last):
            want = self.ablated(k).logits
            failures = Messages()
            got = stream.total(k)
            errors = self.compare(
                got, want, self.logit_bound(stream, k, unembed), failures,
                f"the order≤{k} pass's logits",
            )  # fmt: skip
            expected = cmp.count_logits(arch, k)
            kept = sum(len(p.heads) <= k for p in stream.paths)
            checks.append(self.check(f"logits order≤{k}", kept, expected, errors, {}, failures))
            if k != top:  # only the order≤top pass is looked at again (by the scores)
                self.by_order.pop(k, None)
            del want, got
            budget.release_freed()
        return checks

    def layer_scores(self, layer, side_top, top, per_term) -> list[Check]:
        """The checks of every head of ``layer``: the sides streamed once for all of them."""
        pairs, how, (nq, nk) = plan(self, layer, side_top, per_term)
        # never a list of every code
        expr_codes = np.array(list(cmp.sample(range(nq * nk), self.expr_limit)), dtype=np.int64)
        rule = count_terms(factored_scores(self.arch, layer, 0)) <= self.expansion_limit
        need_all = (per_term and pairs is None) or rule
        codes = np.concatenate([np.zeros(0, np.int64) if pairs is None else pairs, expr_codes])
        wanted = {int(i) for i in np.unique(np.concatenate([codes // nk, codes % nk]))}
        sides = LayerSides(self, layer, side_top, need_all, wanted, rule)
        sides.walk()
        # A score term's side through no W_QK is the same for every head of the layer: the
        # evaluator keeps such sides from one head to the next, and is cleared once a layer.
        self.evaluator.clear()
        checks = []
        for head in range(self.arch.heads[layer]):
            checks.append(self.scores(sides, head, top, per_term, (pairs, how, expr_codes, rule)))
            budget.release_freed()  # a head's blocks of sides, before the next head's
        return checks

    def scores(self, sides, head, top, per_term, plan_) -> Check:
        pairs, how, expr_codes, rule = plan_
        layer, side_top = sides.layer, sides.side_top
        failures, notes = Messages(), Messages()
        want = (self.reference if top is None else self.ablated(top)).head_scores(layer, head)
        what = f"the forward pass's scores of L{layer}H{head}"
        self.forward_problems(layer, want, what, failures)
        if sides.bad is not None:
            failures.add(f"side {sides.bad}: a value is not finite")
        bound = self.score_bound(sides, head)
        whole = float(np.max(np.abs(want), initial=0.0))
        nq, nk = len(sides.q_paths), len(sides.k_paths)
        total = (nq * nk if pairs is None else len(pairs)) if per_term else None
        with progress(total, f"score terms L{layer}H{head}", unit="term") as bar:
            hs, worst_term, checked = check_head(
                self, sides, head, pairs if per_term else np.zeros(0, np.int64), bar, bound, whole
            )
        fields = {}
        if per_term:
            fields |= dict(zip(("term_rel", "term_abs", "worst_term"), worst_term))
            fields |= {"checked": checked, "checked_how": how}
            self.term_problems(worst_term, failures)
            if checked:
                notes.add(
                    "terms checked through their sides: a term's error is at most "
                    "||q - q'|| ||k|| + ||q'|| ||k - k'|| (q, k its stacks' query and key sides, "
                    "q', k' the restricted passes'), the figure reported; terms whose bound is "
                    "over the tolerance are computed both ways and compared entry by entry"
                )
        terms = len(sides.q_paths) * nk
        constant = sum(_constant_key(p) for p in sides.k_paths)
        if constant:
            notes.add(
                f"{constant * len(sides.q_paths)} of the {terms} terms are constant along keys: "
                "the softmax ignores them, so they cannot change the pattern (checked like the "
                "others)"
            )
        factored = factored_scores(self.arch, layer, head)
        label = f"ta.expand(ta.scores(arch, {layer}, {head}))"
        self.done, rule_failures = {}, Messages()  # reported after the expressions'
        if rule:
            fields |= self.rule_based(
                factored, label, lambda: score_paths(self.arch, layer, head),
                (self.score_values(sides, hs, head), want, bound), rule_failures, notes,
            )  # fmt: skip
        else:
            self._skipped(count_terms(factored), label, notes)
        ij = [(int(c) // nk, int(c) % nk) for c in expr_codes]
        keys = [(score_path(sides, head, i, j), (i, j)) for i, j in ij]
        fields |= self.exprs(keys, lambda ats: pair_values(hs, ats), want, bound, failures)
        failures.extend(rule_failures)
        expected = count_score_paths(self.arch, layer, head, max_order=side_top)
        errors = self.compare(hs.total().numpy(), want, bound, failures, None)
        return self.check(
            f"scores L{layer}H{head}", terms, expected, errors, fields, failures, notes
        )

    def score_values(self, sides, hs, head) -> LazyValues:
        nq, nk = len(sides.q_paths), len(sides.k_paths)
        keys = {score_path(sides, head, i, j): (i, j) for i in range(nq) for j in range(nk)}
        return LazyValues(
            keys,
            lambda key: pair_value(hs, *keys[key]),
            lambda some: pair_values(hs, [keys[key] for key in some]),
        )

    def _final_size(self) -> float:
        """``max_i ||read(x)_i||`` of the forward pass's final stream (what the terms sum to)."""
        final = tensor(np.array(self.reference.residual[-1]))
        read = self.model.read_frozen(final, self.model.ln_final_w, self.final_scale)
        return float(torch.linalg.vector_norm(read, dim=-1).amax()) if read.numel() else 0.0

    def ablated(self, k: int):
        if k not in self.by_order:
            self.by_order[k] = self.model.record(self.tokens, frozen=self.reference, keep_order=k)
        return self.by_order[k]


def _constant_key(path) -> bool:
    """A key side constant along keys: a layer's constant source without LayerNorm."""
    from tensoralgebra.paths import bias_layer

    if path.source == "key bias":
        return True
    return bias_layer(path.source) is not None and path.normalization is None


def _logit_paths(arch):
    from tensoralgebra.paths import logit_paths

    return logit_paths(arch)
