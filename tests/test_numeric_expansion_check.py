"""verify checks the rule-based expansion and users' expressions; NaN and inf never pass."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import tensoralgebra as ta
from tensoralgebra.expr import rules
from tensoralgebra.expr.nodes import Sum
from tensoralgebra.numeric import evaluation, stacks
from tensoralgebra.testing import (
    assert_expansion,
    assert_logit_expansion,
    assert_score_expansion,
)

ARCH = ta.Architecture((2, 1))
TOKENS = [[1, 2, 3], [4, 0, 2]]


def model(dtype="float64", scale=1.0):
    w = ta.Weights.random(ARCH, d_model=8, d_head=2, d_vocab=5, n_ctx=4, dtype=dtype, seed=3)
    factor = np.asarray(scale, dtype=w.dtype)
    return ta.AttentionOnlyTransformer(
        ta.Weights(
            W_E=w.W_E * factor, W_U=w.W_U, W_Q=w.W_Q, W_K=w.W_K, W_V=w.W_V, W_O=w.W_O, n_ctx=4
        )
    )


def no_json_constants(name):
    raise ValueError(f"bare {name} in JSON")


@pytest.fixture
def distribute_drops_a_term(monkeypatch):
    """``rules.distribute`` losing the last term of every distribution it makes."""
    original = rules.distribute

    def dropping(expr, kind):
        out = original(expr, kind)
        if out is None or len(out.args) < 2:
            return out
        return out.args[0] if len(out.args) == 2 else Sum(out.args[:-1])

    monkeypatch.setattr(rules, "distribute", dropping)


def test_a_rule_that_drops_a_term_fails_verify_and_every_assertion(distribute_drops_a_term):
    m = model()
    report = ta.verify(m, TOKENS)
    assert not report.ok
    logits = report.checks[0]
    assert not logits.ok and logits.sum_rel < 1e-12  # the enumerated paths alone still agree
    assert logits.expanded == 5 and logits.expanded_rel > 1e-3
    assert any("ta.expand lacks 1 of the 6 terms: L0H1→L1H0" in f for f in logits.failures)
    assert "! ta.expand lacks 1 of the 6 terms" in report.table()
    for assertion in (assert_expansion, assert_logit_expansion, assert_score_expansion):
        with pytest.raises(AssertionError, match=r"ta\.expand lacks"):
            assertion(m, TOKENS)


def test_a_rule_that_drops_a_term_is_reported_unchecked_above_the_limit(
    distribute_drops_a_term,
):
    report = ta.verify(model(), TOKENS, expansion_limit=4)
    assert report.ok  # the limit is the caller's choice; the report says what was not checked
    logits = report.checks[0]
    assert logits.expanded is None
    assert "the rule-based expansion was not checked" in logits.notes[0]
    assert "has 6 terms, over expansion_limit=4" in logits.notes[0]
    assert "note: the rule-based expansion was not checked" in report.table()


@pytest.mark.parametrize("of", ["logits", (1, 0)])
def test_a_users_expansion_with_a_term_removed_fails_and_a_correct_one_passes(of):
    m = model()
    factored = ta.logits(ARCH) if of == "logits" else ta.scores(ARCH, *of)
    expanded = ta.expand(factored)
    for right in (expanded, factored):
        report = ta.verify(m, TOKENS, expansion=right, of=of)
        assert report.ok and len(report.checks) == 1, report.table()
    removed = ta.terms(expanded)[2]
    report = ta.verify(
        m, TOKENS, expansion=Sum(ta.terms(expanded)[:2] + ta.terms(expanded)[3:]), of=of
    )
    [check] = report.checks
    assert not check.ok and check.sum_rel > 1e-3
    assert check.terms == check.expected_terms - 1
    assert any("the expression lacks 1 of the" in f and str(removed) in f for f in check.failures)
    repeated = Sum(ta.terms(expanded) + ta.terms(expanded)[:1])
    [check] = ta.verify(m, TOKENS, expansion=repeated, of=of).checks
    assert not check.ok and any("more than once" in f for f in check.failures)


def test_a_schematic_expansion_and_one_up_to_an_order_are_checked_too():
    m = model()
    schematic = ta.expand(ta.logits(ta.Architecture.schematic(2)))
    assert ta.verify(m, TOKENS, expansion=schematic).ok
    full = ta.expand(ta.logits(ARCH))
    [check] = ta.verify(m, TOKENS, max_order=1, expansion=full).checks
    assert check.ok and check.terms == 4 and check.name == "expansion of logits order≤1"


def test_an_overflowing_forward_pass_warns_and_fails_verify_saying_where():
    m = model("float32", scale=1e20)  # scores of order 1e40: beyond float32
    with pytest.warns(RuntimeWarning, match=r"the forward pass is not finite: logits\[0, 0, 0\]"):
        m.run(TOKENS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # verify reports it; it neither warns nor prints
        report = ta.verify(m, TOKENS)
    assert not report.ok
    logits = report.checks[0]
    assert "the forward pass's patterns[0] [batch, head, query, key]" in logits.failures[0]
    assert any("the forward pass's logits: [0, 0, 0] is nan" in f for f in logits.failures)
    data = json.loads(report.to_json(), parse_constant=no_json_constants)
    assert data["ok"] is False and data["checks"][0]["sum_rel"] == "nan"
    assert data == report.to_dict()


def test_an_evaluator_returning_nan_fails_every_check_it_touches(monkeypatch):
    m = model()
    value, values = evaluation.Evaluator.value, evaluation.Evaluator.values
    monkeypatch.setattr(evaluation.Evaluator, "value", lambda self, e: value(self, e) * np.nan)
    monkeypatch.setattr(evaluation.Evaluator, "values", lambda self, e: values(self, e) * np.nan)
    report = ta.verify(m, TOKENS)
    assert not report.ok
    for check in report.checks:
        if check.exprs:  # the partial sums evaluate no expression
            assert not check.ok and np.isnan(check.expr_rel)
            assert any("the expression of term" in f and "is nan" in f for f in check.failures)
    json.loads(report.to_json(), parse_constant=no_json_constants)
    with pytest.raises(AssertionError, match="is nan"):
        assert_expansion(m, TOKENS)


def test_one_nan_term_among_finite_ones_is_not_dropped_by_max(monkeypatch):
    """The error of a single term that is NaN, after finite ones, still fails the check."""
    m = model()
    streams, poisoned = stacks.path_streams, []

    def last_is_nan(b, before=None, max_order=None, chunk=stacks.CHUNK):
        for paths, values in streams(b, before, max_order, chunk):
            if before is None:  # the logits' streams
                values = np.array(values)
                values[-1] = np.nan
                poisoned.append(str(paths[-1]))
            yield paths, values

    monkeypatch.setattr(stacks, "path_streams", last_is_nan)
    logits = ta.verify(m, TOKENS).checks[0]
    assert poisoned
    path = poisoned[-1]
    assert not logits.ok and np.isnan(logits.term_rel)
    assert any(f"term {p}: a value is not finite" in logits.failures for p in poisoned)
    assert np.isnan(logits.sum_rel) and path in {p for p in poisoned}


def test_evaluate_warns_when_its_value_is_not_finite():
    m = model("float32", scale=1e20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = m.run(TOKENS)
    with pytest.warns(RuntimeWarning, match="is not finite"):
        ta.evaluate(ta.logits(ARCH), m, trace)


@pytest.mark.parametrize(
    ("assertion", "of"),
    [
        (assert_logit_expansion, "logits"),
        (lambda *a, **o: assert_score_expansion(*a, head=(1, 0), **o), (1, 0)),
        (assert_score_expansion, (1, 0)),
    ],
)
def test_the_assertions_fail_on_a_users_expansion_with_a_term_removed(assertion, of):
    m = model()
    expanded = ta.expand(
        ta.logits(m.weights.architecture)
        if of == "logits"
        else ta.scores(m.weights.architecture, *of)
    )
    missing = Sum(ta.terms(expanded)[:2] + ta.terms(expanded)[3:])
    with pytest.raises(AssertionError, match="lacks 1 of"):
        assertion(m, TOKENS, expansion=missing, of=of)
