"""The symbolic checks of a :func:`~tensoralgebra.verify` run: printed expressions of terms
evaluated symbol by symbol, the rule-based expansion matched with the enumerated terms, and an
expression a user gives (``expansion=``) against the forward pass.

:class:`ExpressionChecks` is part of :class:`~tensoralgebra.numeric.quantities.Run` and uses its
state (the model, the bindings, the evaluator, the limits).
"""

from __future__ import annotations

import numpy as np
import torch

from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.expr.expand import cycle_collection_paused, expand
from tensoralgebra.expr.expand import terms as expansion_terms
from tensoralgebra.expr.traversal import count_terms, instantiate
from tensoralgebra.numeric import budget
from tensoralgebra.numeric import comparison as cmp
from tensoralgebra.numeric.arrays import nonfinite_rows, worst
from tensoralgebra.numeric.expansion_check import (
    Messages,
    compare_terms,
    concrete_count,
    flat_terms,
)
from tensoralgebra.numeric.logit_check import (
    LogitStream,
    enumerated_logits,
    logit_values,
    rule_based_fits,
)
from tensoralgebra.numeric.report import Check
from tensoralgebra.numeric.score_check import HeadSides, LayerSides
from tensoralgebra.progress import progress
from tensoralgebra.scores import count_score_paths, score_paths
from tensoralgebra.symbols import W_U


class ExpressionChecks:
    """Checks of expressions, for :class:`~tensoralgebra.numeric.quantities.Run`."""

    def _skipped(self, count, what, notes) -> None:
        notes.add(
            f"the rule-based expansion was not checked: {what} has {count:,} terms, over "
            f"expansion_limit={self.expansion_limit:,} (or its values over a quarter of the "
            "memory budget; raise it to check them: expanding and evaluating takes some tens of "
            "microseconds a term)"
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
            flat_terms(expr, self.arch.heads), known, values, self.evaluate_many,
            self.term_error(want, bound), cmp.name, "the expression", strict=False,
            batch_bytes=budget.term_batch(self.max_bytes),
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
        fits = n <= self.expansion_limit
        sides = LayerSides(self, layer, side_top, fits, set(), fits)
        sides.walk()
        hs = HeadSides(sides, head)
        bound = self.score_bound(sides, head)
        values = self.score_values(sides, hs, head) if fits else {}
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
        count = count_terms(factored)
        if count > self.expansion_limit:
            self._skipped(count, what, notes)
            return {}
        with cycle_collection_paused():
            return self._rule_based(factored, enumerate_terms, against, failures, notes)

    def _rule_based(self, factored, enumerate_terms, against, failures, notes) -> dict:
        values, want, bound = against
        expanded = expand(factored, max_terms=None)
        # (after the expansion: the enumerated terms' nodes are then found, not validated again)
        known = {t.expr: t for t in enumerate_terms()}
        if instantiate(factored, self.arch.heads) is factored:
            terms = expansion_terms(expanded)  # no sum over heads to write out, in it or after
        else:
            terms = flat_terms(expanded, self.arch.heads)
        result = compare_terms(
            terms, known, values, self.evaluate_many, self.term_error(want, bound), cmp.name,
            "ta.expand", strict=True, batch_bytes=budget.term_batch(self.max_bytes),
        )  # fmt: skip
        cmp.merge(result, failures, notes)
        self.done = result.by_key  # the printed expressions these terms are need no second look
        total = np.zeros_like(want) if result.total is None else result.total
        sum_rel = self.compare(total, want, bound, failures, None, "the sum of ta.expand's terms")[
            1
        ]
        return {"expanded": result.evaluated, "expanded_rel": worst([sum_rel, result.worst[0]])}

    # --- values -------------------------------------------------------------------------------

    def exprs(self, keys, values_of, whole, floor, failures) -> dict:
        """The printed expressions of ``keys`` (key, where) evaluated and compared with
        ``values_of(wheres)`` [n, ...], a batch at a time. A key the rule-based expansion
        matched (:attr:`done`) was evaluated there already from an equal expression, against
        the same value and scale: its error is taken from there, not computed twice."""
        with cycle_collection_paused():
            return self._exprs(keys, values_of, whole, floor, failures)

    def _exprs(self, keys, values_of, whole, floor, failures) -> dict:
        worst_rel, todo = [], []
        for key, at in keys:
            if key not in self.done:
                todo.append((key, at))
                continue
            _, rel, where = self.done[key]
            if where:  # (the term itself is checked already)
                failures.add(f"the expression of term {cmp.name(key)}: {where}")
            worst_rel.append(rel)
        largest = cmp.largest_entry(whole)
        batch, per_batch, start = budget.term_batch(self.max_bytes), 1, 0
        while start < len(todo):
            stop = start + per_batch
            got = self.evaluate_many([key.expr for key, _ in todo[start:stop]])
            per_batch = max(1, batch // max(1, got[0].nbytes))
            want = values_of([at for _, at in todo[start:stop]])
            for i, where in nonfinite_rows(got).items():
                failures.add(f"the expression of term {cmp.name(todo[start + i][0])}: {where}")
            worst_rel += cmp.term_errors(got, want, largest, floor)[1].tolist()
            start = stop
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

    def evaluate_many(self, exprs: list) -> np.ndarray:
        """The values of terms of one quantity, [len(exprs), ...] (score terms' products
        batched: :meth:`~tensoralgebra.numeric.evaluation.Evaluator.values`)."""
        return self.numpy(self.evaluator.values(exprs))

    def evaluate(self, expr) -> np.ndarray:
        """The value of a term: every term evaluated here is concrete (an enumerated term's
        expression, or one of :func:`flat_terms`)."""
        return self.numpy(self.evaluator.value(expr))
