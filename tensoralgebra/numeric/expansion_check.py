"""Expressions of the logits or of a head's scores, checked term by term against the enumeration.

Two kinds of expression are checked this way by :func:`~tensoralgebra.verify`: the rule-based
expansion itself (``ta.expand(ta.logits(arch))``, ``ta.expand(ta.scores(arch, layer, head))``),
so that a rule that loses, repeats or changes a term is caught; and an expression a user gives
(``expansion=``). Each term is evaluated (:mod:`~tensoralgebra.numeric.evaluation`) and matched
with the enumerated term it equals (:func:`~tensoralgebra.logit_paths`,
:func:`~tensoralgebra.score_paths`); the sum of the evaluated terms is compared with the forward
pass, and each matched term with its enumerated term's value. Terms that are missing, repeated
or unknown are named.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(1, 2))
>>> [str(t) for t in flat_terms(ta.expand(ta.logits(ta.Architecture.schematic(2))), arch.heads)][:3]
['Id ⊗ W_U W_E', 'A^{L0H0} ⊗ W_U W_OV^{L0H0} W_E', 'A^{L1H0} ⊗ W_U W_OV^{L1H0} W_E']
>>> concrete_count(ta.expand(ta.logits(ta.Architecture.schematic(2))), arch.heads)
6
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from tensoralgebra.expr.nodes import Expr, IndexedSum, Sum
from tensoralgebra.expr.traversal import instantiate
from tensoralgebra.numeric.arrays import first_nonfinite, nonfinite_rows

#: The most terms of the rule-based expansion ``verify`` evaluates for one quantity (the logits,
#: or one head's scores). Expanding by the rules and evaluating takes some tens of microseconds
#: a term, so this keeps the check to a fraction of a second a quantity; above it the report
#: says it was skipped.
EXPANSION_LIMIT = 4096
#: How many terms a message lists before "and N more".
LISTED = 3


def flat_terms(expr: Expr, heads: tuple[int, ...]) -> tuple[Expr, ...]:
    """The terms of ``expr`` with every sum over heads written out for a model with ``heads``
    per layer, and sums of sums flattened."""
    out: list[Expr] = []
    stack = [instantiate(expr, heads)]
    while stack:
        e = stack.pop()
        if isinstance(e, Sum):
            stack.extend(reversed(e.args))
        else:
            out.append(e)
    return tuple(out)


def concrete_count(expr: Expr, heads: tuple[int, ...]) -> int:
    """How many terms :func:`flat_terms` gives, counted without writing them out."""
    if isinstance(expr, Sum):
        return sum(concrete_count(a, heads) for a in expr.args)
    if isinstance(expr, IndexedSum):
        n = sum(heads[layer] for layer in expr.over.layers if layer < len(heads))
        return n * concrete_count(expr.body, heads)
    return 1


@dataclass
class Messages:
    """Messages of one kind, the first few kept and the rest counted."""

    items: list[str] = field(default_factory=list)
    more: int = 0
    limit: int = 5

    def add(self, message: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(message)
        else:
            self.more += 1

    def extend(self, other: Messages) -> None:
        """Add ``other``'s messages after these (its uncounted ones counted)."""
        for message in other.items:
            self.add(message)
        self.more += other.more

    def as_tuple(self) -> tuple[str, ...]:
        return tuple(self.items) + ((f"... and {self.more} more",) if self.more else ())


@dataclass
class TermComparison:
    """The outcome of :func:`compare_terms`."""

    evaluated: int
    total: object  # the sum of the evaluated terms, or None if none was in scope
    worst: tuple  # (rel, abs, name) of the matched term furthest from its enumerated value
    recognised: int
    unknown: int
    failures: Messages
    notes: Messages
    #: ``{key: (abs, rel, where)}`` of every matched term: its error against its enumerated
    #: value and where its value is not finite (``None``: finite everywhere)
    by_key: dict = field(default_factory=dict)


def compare_terms(
    terms: Iterable[Expr],
    known: dict,
    values: dict,
    evaluate: Callable[[list[Expr]], np.ndarray],
    error: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    name: Callable[[object], str],
    label: str,
    strict: bool,
    batch_bytes: int = 2**22,
) -> TermComparison:
    """Evaluate ``terms`` and match them with the enumerated terms.

    ``known`` maps each enumerated term's expression to its key (a
    :class:`~tensoralgebra.LogitPath` or :class:`~tensoralgebra.ScorePath`, of any order);
    ``values`` maps the keys in scope (order ≤ max_order) to their values (a ``many(keys)``
    method, if it has one, gives several at once [n, ...]). Matched terms out of scope are
    skipped. ``evaluate(exprs)`` gives the values of a list of terms [n, ...];
    ``error(got, want)`` is ``(abs [n], rel [n])`` of ``n`` terms' values; ``name(key)`` names
    a term. ``strict``: terms that match no enumerated term are failures (the rule-based
    expansion must give exactly the enumerated terms); otherwise they are compared by value
    only, in the sum. Matched terms are evaluated and compared a batch of at most
    ``batch_bytes`` of values at a time (one term at least; their expected values take as much
    again).
    """
    failures, notes = Messages(), Messages()
    seen: Counter = Counter()
    total, unknown, evaluated, worst_seen = None, [], 0, (None, None, None)
    by_key: dict = {}
    keys: list = []  # matched terms not yet evaluated: their keys and expressions
    exprs: list = []
    per_batch = 1  # until a term's size is known

    def add(value) -> None:  # to the sum, in place once it is ours (a term can be large)
        nonlocal total
        if total is None:
            total = np.array(value, copy=True)  # (a term's value may be held elsewhere)
        else:
            total += value

    def compare_batch() -> None:
        nonlocal worst_seen, per_batch
        got = np.asarray(evaluate(exprs))
        per_batch = max(1, batch_bytes // max(1, got[0].nbytes))
        many = getattr(values, "many", None)
        want = many(keys) if many is not None else np.stack([values[k] for k in keys])
        err, rel = error(got, want)
        bad = nonfinite_rows(got)
        for i, where in bad.items():
            failures.add(f"{label}'s term {name(keys[i])}: value {where}")
        where = [bad.get(i) for i in range(len(keys))]
        by_key.update(zip(keys, zip(err.tolist(), rel.tolist(), where)))
        i = _worst_row(rel)
        worst_seen = worse(worst_seen, (float(rel[i]), float(err[i]), name(keys[i])))
        add(got[0] if len(got) == 1 else got.sum(axis=0))
        keys.clear()
        exprs.clear()

    for term in terms:
        key = known.get(term)
        if key is not None and key not in values:
            continue
        evaluated += 1
        if key is None:
            value = np.asarray(evaluate([term]))[0]
            where = first_nonfinite(value)
            if where:
                failures.add(f"{label}'s term {term}: value {where}")
            unknown.append(term)
            add(value)
            continue
        seen[key] += 1
        keys.append(key)
        exprs.append(term)
        if len(keys) >= per_batch:
            compare_batch()
    if keys:
        compare_batch()
    _count_problems(label, values, seen, unknown, strict, failures, notes, name)
    return TermComparison(
        evaluated, total, worst_seen, sum(seen.values()), len(unknown), failures, notes, by_key
    )


def _worst_row(rel: np.ndarray) -> int:
    """The row with the largest ``rel``, a NaN counting as the largest."""
    nan = np.isnan(rel)
    return int(np.argmax(nan)) if nan.any() else int(np.argmax(rel))


def _count_problems(label, values, seen, unknown, strict, failures, notes, name) -> None:
    """Missing, repeated and unknown terms: failures, or notes where they cannot be told."""
    missing = [k for k in values if not seen[k]]
    repeated = [k for k, n in seen.items() if n > 1]
    if unknown and not strict:
        if len(unknown) == 1 and not seen:
            notes.add(f"{label} is not a sum of enumerated terms: compared by value, as a whole")
        else:
            notes.add(
                f"{len(unknown)} of {label}'s terms are not written as enumerated terms (the "
                f"first: {_short(unknown[0])}): they are compared by value only, in the sum"
            )
        return
    if unknown:
        failures.add(
            f"{label} gave {len(unknown)} term(s) that are no enumerated term: "
            + _listed(unknown, _short)
        )
    if missing:
        failures.add(
            f"{label} lacks {len(missing)} of the {len(values)} terms: "
            + _listed(missing, lambda k: f"{name(k)} ({k.expr})")
        )
    if repeated:
        failures.add(f"{label} has terms more than once: " + _listed(repeated, name))


def _short(expr: Expr, width: int = 120) -> str:
    text = str(expr)
    return text if len(text) <= width else text[: width - 1] + "…"


def _listed(items: list, show: Callable[[object], str]) -> str:
    shown = "; ".join(show(i) for i in items[:LISTED])
    return shown + (f"; and {len(items) - LISTED} more" if len(items) > LISTED else "")


def worse(current: tuple, candidate: tuple) -> tuple:
    """The one of two ``(rel, abs, name)`` triples with the larger ``rel``, NaN counting as the
    largest (Python's ``max`` would keep whichever comes first)."""

    def key(triple):
        rel = triple[0]
        return -math.inf if rel is None else math.inf if math.isnan(rel) else rel

    return candidate if key(candidate) > key(current) else current
