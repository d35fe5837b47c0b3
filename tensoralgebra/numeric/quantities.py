"""The checks of one :func:`~tensoralgebra.verify` run, quantity by quantity: the logits (all,
and up to each order) and each head's scores, or an expression a user gives.

Values compared are the terms' (from the shared-prefix stacks, [batch, seq, d_vocab] for a
logit term, [batch, seq, seq] for a score term) and the forward pass's (the logits, a head's
unscaled pre-mask scores, or those of a pass restricted to a path or to an order). Every
comparison also looks for values that are not finite, and names where they are.
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.expr.expand import expand
from tensoralgebra.expr.indices import Head
from tensoralgebra.expr.traversal import count_terms
from tensoralgebra.factored import logits as factored_logits
from tensoralgebra.numeric import comparison as cmp
from tensoralgebra.numeric import stacks
from tensoralgebra.numeric.arrays import first_nonfinite, worst
from tensoralgebra.numeric.evaluation import Evaluator
from tensoralgebra.numeric.expansion_check import (
    Messages,
    compare_terms,
    concrete_count,
    flat_terms,
    worse,
)
from tensoralgebra.numeric.real_symbols import ln_bias
from tensoralgebra.numeric.report import Check
from tensoralgebra.numeric.sides import restricted_scores
from tensoralgebra.paths import LogitPath, count_logit_paths, logit_paths
from tensoralgebra.scores import ScorePath, count_score_paths, score_paths
from tensoralgebra.scores import scores as factored_scores
from tensoralgebra.symbols import W_K, W_Q, W_QK, W_U, W_pos

_NONE = (None, None, None)  # no term compared yet: (rel, abs, name)


class Run:
    """One ``verify`` run: a model, tokens, the reference trace and the bindings."""

    def __init__(self, model, tokens, reference, bindings, tol, limits):
        self.model, self.tokens, self.reference, self.b = model, tokens, reference, bindings
        self.arch = model.architecture
        self.tol, self.expr_limit = tol, limits["expr_limit"]
        self.expansion_limit = limits["expansion_limit"]
        self.evaluator = Evaluator(bindings)
        self.streams: dict = {}  # path -> the restricted pass's residual streams
        self.by_order: dict = {}  # k -> the keep_order=k trace

    # --- the checks ---------------------------------------------------------------------------

    def all(self, top: int | None, per_term: bool) -> list[Check]:
        """The logits' checks, then every head's."""
        checks = self.logits(top, per_term)
        for layer in range(self.arch.n_layers):
            side_top = None if top is None else min(top, layer)
            for head in range(self.arch.heads[layer]):
                checks.append(self.scores(layer, head, side_top, top, per_term))
        return checks

    def logits(self, top: int | None, per_term: bool) -> list[Check]:
        arch, failures, notes = self.arch, Messages(), Messages()
        last = arch.n_layers if top is None else top
        want = self.reference.logits if top is None else self.ablated(top).logits
        name = "logits" if top is None else f"logits order≤{top}"
        self.forward_problems(arch.n_layers, want, f"the forward pass's {name}", failures)
        values = self.logit_values(top, failures)
        bound = self.logit_bound(top)
        fields = self.logit_terms(values, want, bound, failures) if per_term else {}
        sampled = cmp.sample(list(values), self.expr_limit)
        fields |= self.exprs([(p, values[p]) for p in sampled], want, bound, failures)
        fields |= self.rule_based(
            factored_logits(arch), "ta.expand(ta.logits(arch))", lambda: logit_paths(arch),
            (values, want, bound), failures, notes,
        )  # fmt: skip
        errors = self.compare(cmp.total(values), want, bound, failures, None)
        expected = cmp.count_logits(arch, last)
        checks = [self.check(name, len(values), expected, errors, fields, failures, notes)]
        for k in range(last):
            kept = {p: v for p, v in values.items() if p.order <= k}
            want = self.ablated(k).logits
            bound = self.logit_bound(k)
            failures = Messages()
            errors = self.compare(
                cmp.total(kept), want, bound, failures, f"the order≤{k} pass's logits"
            )
            expected = cmp.count_logits(arch, k)
            checks.append(
                self.check(f"logits order≤{k}", len(kept), expected, errors, {}, failures)
            )
        return checks

    def scores(self, layer, head, side_top, top, per_term) -> Check:
        failures, notes = Messages(), Messages()
        want = (self.reference if top is None else self.ablated(top)).head_scores(layer, head)
        bound = self.score_bound(layer, head, side_top)
        what = f"the forward pass's scores of L{layer}H{head}"
        self.forward_problems(layer, want, what, failures)
        values, worst_term = self.score_values(
            layer, head, side_top, per_term, want, bound, failures
        )
        official = list(score_paths(self.arch, layer, head, side_top))
        found = [(t, values[t]) for t in official if t in values]
        constant = sum(t.constant_along_keys for t in official)
        if constant:
            notes.add(
                f"{constant} of the {len(official)} terms are constant along keys: the softmax "
                "ignores them, so they cannot change the pattern (checked like the others)"
            )
        fields = self.exprs(cmp.sample(found, self.expr_limit), want, bound, failures)
        if per_term:
            fields |= dict(zip(("term_rel", "term_abs", "worst_term"), worst_term))
            self.term_problems(worst_term, failures)
        fields |= self.rule_based(
            factored_scores(self.arch, layer, head),
            f"ta.expand(ta.scores(arch, {layer}, {head}))",
            lambda: score_paths(self.arch, layer, head),
            (values, want, bound), failures, notes,
        )  # fmt: skip
        expected = count_score_paths(self.arch, layer, head, max_order=side_top)
        terms = len(found) if len(found) == len(values) else -len(values)  # mismatch: never ok
        errors = self.compare(cmp.total(values), want, bound, failures, None)
        return self.check(
            f"scores L{layer}H{head}", terms, expected, errors, fields, failures, notes
        )

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
        The enumerated terms are a lazy sequence: only its length is computed up front."""
        arch = self.arch
        if target == "logits":
            want = self.reference.logits if top is None else self.ablated(top).logits
            self.forward_problems(arch.n_layers, want, "the forward pass's logits", failures)
            values = self.logit_values(top, failures)
            bound = self.logit_bound(top)
            return (
                "logits",
                want,
                bound,
                values,
                cmp.Enumerated(logit_paths, count_logit_paths, arch),
            )
        layer, head = target
        side_top = None if top is None else min(top, layer)
        want = (self.reference if top is None else self.ablated(top)).head_scores(layer, head)
        name = f"scores L{layer}H{head}"
        self.forward_problems(layer, want, f"the forward pass's {name}", failures)
        bound = self.score_bound(layer, head, side_top)
        values = self.score_values(layer, head, side_top, False, want, bound, failures)[0]
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
        total = np.zeros_like(want) if result.total is None else result.total
        sum_rel = self.compare(total, want, bound, failures, None, "the sum of ta.expand's terms")[
            1
        ]
        return {"expanded": result.evaluated, "expanded_rel": worst([sum_rel, result.worst[0]])}

    # --- values -------------------------------------------------------------------------------

    def logit_values(self, top: int | None, failures: Messages) -> dict[LogitPath, np.ndarray]:
        """``{LogitPath: value}`` for the paths of order ≤ ``top``."""
        values = {}
        for paths, chunk in stacks.logit_terms(self.b, top):
            chunk = self.numpy(chunk)
            cmp.chunk_problems(chunk, paths, failures)
            values.update(zip(paths, chunk))
        return values

    def logit_terms(self, values, want, bound, failures) -> dict:
        """Each term against the forward pass restricted to its path."""
        worst_term = _NONE
        for path, value in values.items():
            restricted = self.model.record(self.tokens, frozen=self.reference, keep=path)
            self.streams[path] = restricted.residual
            scale = cmp.scale(restricted.logits, want, bound)
            what = f"the pass restricted to {path}"
            err, rel = self.compare(value, restricted.logits, scale, failures, what, None)
            worst_term = worse(worst_term, (rel, err, str(path)))
        self.term_problems(worst_term, failures)
        return dict(zip(("term_rel", "term_abs", "worst_term"), worst_term))

    def score_values(self, layer, head, side_top, per_term, want, bound, failures):
        """``{ScorePath: value}`` of head ``(layer, head)``, and with ``per_term`` the worst term
        against the scores of its query and key paths' restricted passes."""
        values, worst_term, index = {}, _NONE, Head(layer, head)
        real = () if self.arch.is_idealised else (layer, self.arch.positional == "shortformer")
        attention = self.model.layers[layer]
        for q_paths, k_paths, block in stacks.score_terms(self.b, layer, head, side_top):
            block = self.numpy(block)
            pairs = [f"{q} × {k}" for q in q_paths for k in k_paths]
            cmp.chunk_problems(block.reshape(-1, *block.shape[2:]), pairs, failures)
            if per_term:
                truth = self._restricted_scores(attention, q_paths, k_paths, layer, head)
            for i, q in enumerate(q_paths):
                for j, k in enumerate(k_paths):
                    values[ScorePath(q, k, index, *real)] = block[i, j]
                    if per_term:
                        scale = cmp.scale(truth[i, j], want, bound)
                        err, rel = cmp.errors(block[i, j], truth[i, j], scale)
                        worst_term = worse(worst_term, (rel, err, f"{q} × {k}"))
        return values, worst_term

    def exprs(self, pairs, whole, floor, failures) -> dict:
        """The printed expressions of ``pairs`` (key, value) evaluated and compared."""
        worst_rel = []
        for key, value in pairs:
            got = self.evaluate(key.expr)
            what = f"the expression of term {cmp.name(key)}"  # (the term itself is checked already)
            worst_rel.append(
                self.compare(got, value, cmp.scale(value, whole, floor), failures, None, what)[1]
            )
        return {"exprs": len(pairs), "expr_rel": worst(worst_rel)}

    def evaluate(self, expr) -> np.ndarray:
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

    def logit_bound(self, top: int | None) -> float:
        """``||W_U||_2 max_i Σ_p |r_{p,i}|`` (see :meth:`stream_bound`); in real architectures
        over the streams the unembedding reads through the final frozen LayerNorm, plus the
        size of the logits' constant."""
        unembed = cmp.norm2(self._float64(self.b.matrix(W_U)))
        bound = self.stream_bound(self.arch.n_layers, top, reader=None) * unembed
        if self.arch.biases:
            constant = stacks.unembedding_constant(self.b)
            bound += cmp.largest(self._float64(constant)) + unembed * self._ln_bias_norm(None)
        return bound

    def _ln_bias_norm(self, layer: int | None) -> float:
        return float(np.linalg.norm(ln_bias(self.b.weights, layer)))

    def stream_bound(self, before: int, top: int | None, reader: int | None = -1) -> float:
        """``max_i Σ_p |r_{p,i}|`` over the path streams ``r_p`` of order ≤ ``top`` that
        ``before`` reads: the size of the terms a stream is the sum of.

        A logit or score is ``W_U r`` or ``r^T W_QK r'`` summed over paths, so its rounding
        errors scale with ``||W_U||_2`` times this, or ``||W_QK||_2`` times its square. The
        values themselves are no yardstick when they cancel to nearly zero (one position, a
        narrow model, paths that cancel), so errors are measured against these bounds too."""
        total = 0.0
        for _, stack in stacks.path_streams(self.b, before, top):
            if reader != -1:  # what a reader sees: through its frozen LayerNorm
                stack = stacks.read(self.b, stack, reader)
            total = total + np.linalg.norm(self._float64(stack), axis=-1).sum(axis=0)
        return float(np.max(total, initial=0.0))

    def score_bound(self, layer: int, head: int, side_top: int | None) -> float:
        """``||W_QK||_2 (max_i Σ_p |r_{p,i}|)²``: see :meth:`stream_bound`. In real
        architectures the product of the sizes of the query and key sides, each
        ``||W_Q||_2 max_i Σ_p |N r_p W̃^T|_i`` plus shortformer positions and the head's own
        constant."""
        if self.arch.is_idealised:
            form = self._float64(self.b.matrix(W_QK((layer, head))))
            return self.stream_bound(layer, side_top) ** 2 * cmp.norm2(form)
        streams = self.stream_bound(layer, side_top, reader=layer)
        sides = []
        for reads, side in ((W_Q, "query"), (W_K, "key")):
            norm = cmp.norm2(self._float64(self.b.matrix(reads((layer, head)))))
            size = streams * norm
            if self.arch.positional == "shortformer":
                size += norm * cmp.largest(self._float64(self.b.matrix(W_pos)).T)
            if self.arch.biases:
                own = stacks.own_constant(self.b, layer, head, side)
                size += cmp.largest(self._float64(own)) + norm * self._ln_bias_norm(layer)
            sides.append(size)
        return sides[0] * sides[1]

    def _float64(self, value) -> np.ndarray:
        return np.asarray(self.numpy(value), dtype=np.float64)

    def _restricted_scores(self, attention, q_paths, k_paths, layer, head) -> np.ndarray:
        """Conventional scores of one head [nq, nk, batch, seq, seq] of the streams the
        restricted passes of the query and key paths feed into ``layer`` (in real
        architectures: :mod:`~tensoralgebra.numeric.sides`)."""
        import torch  # the model is a torch module: torch is loaded already

        if not self.arch.is_idealised:
            return restricted_scores(
                self.model, q_paths, k_paths, self.streams, self.reference, layer, head
            )

        def stack(paths):
            return torch.from_numpy(np.stack([self.streams[p][layer] for p in paths]))

        with torch.no_grad():
            query, key = stack(q_paths)[:, None], stack(k_paths)[None]
            return attention.head_scores(query, key, head).numpy()
