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

from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.expr.expand import expand
from tensoralgebra.expr.traversal import count_terms
from tensoralgebra.factored import logits as factored_logits
from tensoralgebra.numeric import budget, stacks
from tensoralgebra.numeric import comparison as cmp
from tensoralgebra.numeric.arrays import first_nonfinite, worst
from tensoralgebra.numeric.evaluation import Evaluator
from tensoralgebra.numeric.expansion_check import (
    Messages,
    compare_terms,
    concrete_count,
    flat_terms,
    worse,
)
from tensoralgebra.numeric.logit_check import (
    LazyValues,
    LogitStream,
    enumerated_logits,
    logit_values,
    rule_based_fits,
)
from tensoralgebra.numeric.real_symbols import ln_bias
from tensoralgebra.numeric.report import Check
from tensoralgebra.numeric.score_check import (
    LayerSides,
    check_head,
    pair_value,
    plan,
    score_path,
)
from tensoralgebra.numeric.streamed import tensor
from tensoralgebra.progress import progress
from tensoralgebra.scores import count_score_paths, score_paths
from tensoralgebra.scores import scores as factored_scores
from tensoralgebra.symbols import W_K, W_Q, W_QK, W_U, W_pos


class Run:
    """One ``verify`` run: a model, tokens, the reference trace and the bindings."""

    def __init__(self, model, tokens, reference, bindings, tol, limits):
        self.model, self.tokens, self.reference, self.b = model, tokens, reference, bindings
        self.arch = model.architecture
        self.tol, self.expr_limit = tol, limits["expr_limit"]
        self.expansion_limit = limits["expansion_limit"]
        self.term_budget, self.seed = limits["term_budget"], limits["seed"]
        self.max_bytes = limits["max_bytes"]
        self.chunk, self.block = limits["chunk"], limits["block"]
        cache = budget.evaluator_cache(self.max_bytes)
        self.evaluator = Evaluator(bindings, cache, concrete=True)
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
        sides = LayerSides(self, layer, side_top, need_all, wanted)
        sides.walk()
        return [
            self.scores(sides, head, top, per_term, (pairs, how, expr_codes, rule))
            for head in range(self.arch.heads[layer])
        ]

    def scores(self, sides, head, top, per_term, plan_) -> Check:
        pairs, how, expr_codes, rule = plan_
        layer, side_top = sides.layer, sides.side_top
        self.evaluator.clear()
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
        fields |= self.exprs(keys, lambda at: pair_value(hs, *at), want, bound, failures)
        failures.extend(rule_failures)
        expected = count_score_paths(self.arch, layer, head, max_order=side_top)
        errors = self.compare(hs.total().numpy(), want, bound, failures, None)
        return self.check(
            f"scores L{layer}H{head}", terms, expected, errors, fields, failures, notes
        )

    def score_values(self, sides, hs, head) -> LazyValues:
        nq, nk = len(sides.q_paths), len(sides.k_paths)
        keys = {score_path(sides, head, i, j): (i, j) for i in range(nq) for j in range(nk)}
        return LazyValues(keys, lambda key: pair_value(hs, *keys[key]))

    def _skipped(self, count, what, notes) -> None:
        notes.add(
            f"the rule-based expansion was not checked: {what} has {count:,} terms, over "
            f"expansion_limit={self.expansion_limit:,} (or its values over a quarter of the "
            "memory budget; raise it to check them: expanding and evaluating takes about half a "
            "millisecond a term)"
        )

    def expr_error(self, key, value, failures) -> tuple[float, float]:
        """``(abs error, scale)`` of the printed expression of ``key`` evaluated against the
        stacks' ``value``; ``scale`` is the larger of both's and the logits' size (the caller
        divides by the larger of it and the rounding floor, known once every term is summed)."""
        got = self.evaluate(key.expr)
        want = np.asarray(value.numpy() if isinstance(value, torch.Tensor) else value)
        what = f"the expression of term {cmp.name(key)}"
        scale = cmp.scale(want, want, self.logit_scale)
        return self.compare(got, want, self.logit_scale, failures, None, what)[0], scale

    def _expr_failures(self, rels, failures) -> dict:
        if any(not np.isfinite(r) for r in rels):
            failures.add("the expression of a term: a value is not finite")
        return {}

    def _final_size(self) -> float:
        """``max_i ||read(x)_i||`` of the forward pass's final stream (what the terms sum to)."""
        final = tensor(np.array(self.reference.residual[-1]))
        read = self.model.read_frozen(final, self.model.ln_final_w, self.final_scale)
        return float(torch.linalg.vector_norm(read, dim=-1).amax()) if read.numel() else 0.0

    def given(self, expr, target, top) -> Check:
        """``expr``, an expression of the logits or of one head's scores, against the forward
        pass (its value) and the enumerated terms (its terms)."""
        n = concrete_count(expr, self.arch.heads)
        if n > self.expansion_limit:
            raise ExpansionLimitError(
                f"expansion= has {n:,} terms once its sums over heads are written out, over "
                f"expansion_limit={self.expansion_limit:,}",
                option="expansion_limit",
                value=n,
            )
        failures, notes = Messages(), Messages()
        name, want, bound, values, enumerated = self.target(target, top, failures)
        known = {}
        if len(enumerated) <= self.expansion_limit:
            known = {t.expr: t for t in enumerated}
        else:
            notes.add(
                f"its terms were not matched with the {len(enumerated):,} enumerated terms, over "
                f"expansion_limit={self.expansion_limit:,}: compared by value only"
            )
        result = compare_terms(
            flat_terms(expr, self.arch.heads), known, values, self.evaluate,
            self.term_error(want, bound), cmp.name, "the expression", strict=False,
        )  # fmt: skip
        cmp.merge(result, failures, notes)
        total = np.zeros_like(want) if result.total is None else result.total
        errors = self.compare(total, want, bound, failures, None)
        expected = len(values) if known and not result.unknown else None
        label = f"expansion of {name}" + ("" if top is None else f" order≤{top}")
        fields = dict(zip(("term_rel", "term_abs", "worst_term"), result.worst))
        return self.check(label, result.evaluated, expected, errors, fields, failures, notes)

    def target(self, target, top, failures):
        """``(name, forward value, error floor, {key: term value}, enumerated terms)`` of the
        logits (``target == "logits"``) or of one head's scores (``target == (layer, head)``).
        Values are looked up lazily from held streams (held only up to ``expansion_limit``
        terms: beyond it the terms are compared by value only and never looked up)."""
        arch = self.arch
        if target == "logits":
            want = self.reference.logits if top is None else self.ablated(top).logits
            self.forward_problems(arch.n_layers, want, "the forward pass's logits", failures)
            stream = LogitStream(self, top, False, rule_based_fits(self, top))
            with progress(None, "logit terms", unit="term") as bar:
                stream.walk(bar)
            last = arch.n_layers if top is None else top
            bound = self.logit_bound(stream, last, cmp.norm2(self.numpy(self.b.matrix(W_U))))
            values = logit_values(stream) if stream.held is not None else {}
            return "logits", want, bound, values, enumerated_logits(arch)
        layer, head = target
        side_top = None if top is None else min(top, layer)
        want = (self.reference if top is None else self.ablated(top)).head_scores(layer, head)
        name = f"scores L{layer}H{head}"
        self.forward_problems(layer, want, f"the forward pass's {name}", failures)
        n = count_score_paths(arch, layer, head, max_order=side_top)
        sides = LayerSides(self, layer, side_top, n <= self.expansion_limit, set())
        sides.walk()
        from tensoralgebra.numeric.score_check import HeadSides

        hs = HeadSides(sides, head)
        bound = self.score_bound(sides, head)
        values = self.score_values(sides, hs, head) if n <= self.expansion_limit else {}
        return (
            name,
            want,
            bound,
            values,
            cmp.Enumerated(score_paths, count_score_paths, arch, layer, head),
        )

    def rule_based(self, factored, what, enumerate_terms, against, failures, notes) -> dict:
        """``ta.expand(factored)``'s terms evaluated and matched with the enumerated ones:
        ``expanded`` (how many) and ``expanded_rel`` (the worst of their sum against the forward
        pass and of each term against its enumerated term's value)."""
        values, want, bound = against
        count = count_terms(factored)
        if count > self.expansion_limit:
            notes.add(
                f"the rule-based expansion was not checked: {what} has {count:,} terms, over "
                f"expansion_limit={self.expansion_limit:,} (raise it to check them: expanding and "
                "evaluating takes about half a millisecond a term)"
            )
            return {}
        known = {t.expr: t for t in enumerate_terms()}
        terms = flat_terms(expand(factored, max_terms=None), self.arch.heads)
        result = compare_terms(
            terms, known, values, self.evaluate, self.term_error(want, bound), cmp.name,
            "ta.expand", strict=True,
        )  # fmt: skip
        cmp.merge(result, failures, notes)
        self.done = result.by_key  # the printed expressions these terms are need no second look
        total = np.zeros_like(want) if result.total is None else result.total
        sum_rel = self.compare(total, want, bound, failures, None, "the sum of ta.expand's terms")[
            1
        ]
        return {"expanded": result.evaluated, "expanded_rel": worst([sum_rel, result.worst[0]])}

    # --- values -------------------------------------------------------------------------------

    def exprs(self, keys, value_of, whole, floor, failures) -> dict:
        """The printed expressions of ``keys`` (key, where) evaluated and compared with
        ``value_of(where)``. A key the rule-based expansion matched (:attr:`done`) was
        evaluated there already from an equal expression, against the same value and scale:
        its error is taken from there, not computed twice."""
        worst_rel = []
        for key, at in keys:
            what = f"the expression of term {cmp.name(key)}"  # (the term itself is checked already)
            if key in self.done:
                _, rel, where = self.done[key]
                if where:
                    failures.add(f"{what}: {where}")
                worst_rel.append(rel)
                continue
            got, value = self.evaluate(key.expr), value_of(at)
            worst_rel.append(
                self.compare(got, value, cmp.scale(value, whole, floor), failures, None, what)[1]
            )
        return {"exprs": len(keys), "expr_rel": worst(worst_rel)}

    def deferred_exprs(self, stream, done, failures) -> list[float]:
        """The errors of the logit terms' printed expressions left for after the rule-based
        expansion (when its values are held): taken from it where it matched the term, else
        evaluated against the held value (relative as :meth:`LogitStream.expr_rels`)."""
        rels, values = [], logit_values(stream) if stream.deferred else {}
        for path in stream.deferred:
            what = f"the expression of term {cmp.name(path)}"
            if path in done:
                _, rel, where = done[path]
                if where:
                    failures.add(f"{what}: {where}")
                rels.append(rel)
            else:
                stream.expr_rel.append(self.expr_error(path, values[path], failures))
        return rels

    def evaluate(self, expr) -> np.ndarray:
        """The value of a term: every term evaluated here is concrete (an enumerated term's
        expression, or one of :func:`flat_terms`)."""
        return self.numpy(self.evaluator.value(expr))

    def numpy(self, value) -> np.ndarray:
        return self.b.ops.to_numpy(value)

    def ablated(self, k: int):
        if k not in self.by_order:
            self.by_order[k] = self.model.record(self.tokens, frozen=self.reference, keep_order=k)
        return self.by_order[k]

    # --- comparisons, bounds, problems --------------------------------------------------------

    def compare(self, got, want, floor, failures, want_name, got_name="the sum of the terms"):
        """``(abs, rel)`` error of ``got`` against ``want``, relative to the larger of
        ``max |want|`` and ``floor``, with a failure for each of them that is not finite (and
        named: a ``None`` name is not looked at)."""
        for what, array in ((want_name, want), (got_name, got)):
            where = None if what is None else first_nonfinite(array)
            if where:
                failures.add(f"{what}: {where}")
        return cmp.errors(got, want, cmp.scale(want, want, floor))

    def term_error(self, want, bound):
        return lambda got, expected: cmp.errors(got, expected, cmp.scale(expected, want, bound))

    def check(self, name, terms, expected, errors, fields, failures, notes=None) -> Check:
        notes = () if notes is None else notes.as_tuple()
        return Check(
            name, terms, expected, *errors, **fields,
            failures=failures.as_tuple(), notes=notes, tolerance=self.tol,
        )  # fmt: skip

    def forward_problems(self, before: int, want, name: str, failures: Messages) -> None:
        """Values of the forward pass that are not finite: the patterns of the layers before
        ``before``, and ``want`` (the quantity checked), named ``name``."""
        for layer in range(before):
            where = first_nonfinite(self.reference.patterns[layer])
            if where:
                what = f"the forward pass's patterns[{layer}] [batch, head, query, key]"
                failures.add(f"{what}: {where}")
        where = first_nonfinite(want)
        if where:
            failures.add(f"{name}: {where}")

    @staticmethod
    def term_problems(worst_term: tuple, failures: Messages) -> None:
        rel = worst_term[0]
        if rel is not None and not np.isfinite(rel):
            failures.add(f"term {worst_term[2]}: its error against its restricted pass is {rel}")

    def logit_bound(self, stream, k: int, unembed: float) -> float:
        """``||W_U||_2 max_i Σ_p ||r_{p,i}||`` over the streams of the paths of order ≤ ``k``
        as the unembedding reads them (through the final frozen LayerNorm), plus the size of
        the logits' constant: the size rounding errors scale with.

        A logit is ``W_U r`` summed over paths, so its rounding errors scale with
        ``||W_U||_2`` times the size of the terms it is the sum of; the values themselves are
        no yardstick when they cancel to nearly zero (one position, a narrow model)."""
        bound = stream.stream_bound(k) * unembed
        if self.arch.biases:
            constant = stacks.unembedding_constant(self.b)
            bound += cmp.largest(self._float64(constant)) + unembed * self._ln_bias_norm(None)
        return bound

    def _ln_bias_norm(self, layer: int | None) -> float:
        return float(np.linalg.norm(ln_bias(self.b.weights, layer)))

    def score_bound(self, sides, head: int) -> float:
        """``||W_QK||_2 (max_i Σ_p ||r_{p,i}||)²`` over the side streams (see
        :meth:`logit_bound`). In real architectures the product of the sizes of the query and
        key sides, each ``||W_Q||_2 max_i Σ_p ||N r_p W̃^T||_i`` plus shortformer positions and
        the head's own constant."""
        layer, streams = sides.layer, sides.stream_size
        if self.arch.is_idealised:
            form = self._float64(self.b.matrix(W_QK((layer, head))))
            return streams**2 * cmp.norm2(form)
        out = 1.0
        for reads, side in ((W_Q, "query"), (W_K, "key")):
            norm = cmp.norm2(self._float64(self.b.matrix(reads((layer, head)))))
            size = streams * norm
            if self.arch.positional == "shortformer":
                size += norm * cmp.largest(self._float64(self.b.matrix(W_pos)).T)
            if self.arch.biases:
                own = stacks.own_constant(self.b, layer, head, side)
                size += cmp.largest(self._float64(own)) + norm * self._ln_bias_norm(layer)
            out *= size
        return out

    def _float64(self, value) -> np.ndarray:
        return np.asarray(self.numpy(value), dtype=np.float64)


def _constant_key(path) -> bool:
    """A key side constant along keys: a layer's constant source without LayerNorm."""
    from tensoralgebra.paths import bias_layer

    if path.source == "key bias":
        return True
    return bias_layer(path.source) is not None and path.normalization is None


def _logit_paths(arch):
    from tensoralgebra.paths import logit_paths

    return logit_paths(arch)
