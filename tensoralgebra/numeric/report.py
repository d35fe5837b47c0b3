"""The outcome of :func:`~tensoralgebra.verify`: one row per check, printable as a table,
JSON or a dict.

Errors are maxima over every entry: ``abs`` is ``max |got - want|``, ``rel`` divides it by
``max |want|`` of the whole logits or scores for a sum, and for a term by the larger of the term's
and the whole's ``max |want|`` (a term that cancels inside itself is only as accurate as the
numbers it was made of). An error that is NaN or infinite fails its check, and so does any value
that is not finite (the check's ``failures`` say where).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

#: Relative tolerance by dtype. float64 agrees to rounding (errors ~1e-14 relative); float32
#: rounds at 6e-8 and loses up to a few digits over products of several layers and sums of many
#: terms, so it is allowed 1e-4.
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


@dataclass(frozen=True)
class Check:
    """One verified quantity: the logits (all, or up to an order) or one head's scores.

    ``terms``: how many terms the expansion has (``expected_terms`` by the closed form; ``None``
    when there is nothing to count, as for a factored expression); ``sum_abs``/``sum_rel``: the
    sum of the terms against the forward pass; ``term_abs``/``term_rel``: the worst single term
    against the path-restricted forward pass (``worst_term`` names it; ``None`` when terms were
    not checked one by one: a logit term's error is in the residual stream as the unembedding
    reads it, a score term's a bound through its sides, exact where the bound is over the
    tolerance, and ``notes`` say so); ``exprs``: how many terms' printed expressions were
    evaluated and compared, with ``expr_rel`` the worst; ``expanded``: how many terms of the
    rule-based expansion (``ta.expand``) were evaluated, with ``expanded_rel`` the worst of their
    sum against the forward pass and of each against its enumerated term (``None``: not checked, and
    ``notes`` says why). ``checked``: how many terms were checked one by one against their
    path-restricted passes, and ``checked_how`` how (``"all 3,125"``, or a stratified sample
    drawn from a seed); ``None`` when no term was. ``failures`` says what failed besides the
    sizes of errors (terms missing, extra or repeated, values that are not finite, and where);
    ``notes`` what was not checked.
    """

    name: str
    terms: int
    expected_terms: int | None
    sum_abs: float
    sum_rel: float
    term_abs: float | None = None
    term_rel: float | None = None
    worst_term: str | None = None
    exprs: int = 0
    expr_rel: float | None = None
    expanded: int | None = None
    expanded_rel: float | None = None
    failures: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    tolerance: float = 1e-10
    checked: int | None = None
    checked_how: str | None = None

    @property
    def ok(self) -> bool:
        errors = [self.sum_rel, self.term_rel, self.expr_rel, self.expanded_rel]
        within = all(e is None or e <= self.tolerance for e in errors)  # NaN fails too
        counted = self.expected_terms is None or self.terms == self.expected_terms
        return within and counted and not self.failures


@dataclass(frozen=True)
class VerifyReport:
    """Every check of one :func:`~tensoralgebra.verify` run; ``ok`` if all passed."""

    architecture: str
    sizes: dict
    dtype: str
    tolerance: float
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready): a number that is not finite is the string ``"nan"``,
        ``"inf"`` or ``"-inf"`` (JSON has no such numbers; ``None`` means "not checked")."""
        checks = [
            {k: _json_number(v) for k, v in asdict(c).items()} | {"ok": c.ok} for c in self.checks
        ]
        for check in checks:
            check["failures"], check["notes"] = list(check["failures"]), list(check["notes"])
        return {
            "architecture": self.architecture,
            "sizes": dict(self.sizes),
            "dtype": self.dtype,
            "tolerance": self.tolerance,
            "ok": self.ok,
            "checks": checks,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON, always valid (``allow_nan=False``: no bare ``NaN``)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def table(self) -> str:
        """A text table, one check per line; failures (``!``) and notes under their check."""
        sizes = ", ".join(f"{k} {v}" for k, v in self.sizes.items())
        width = max([16, *(len(c.name) for c in self.checks)])
        lines = [
            f"verify {self.architecture}: {sizes}, {self.dtype}, "
            f"relative tolerance {self.tolerance:.0e}",
            f"{'check':<{width}} {'terms':>6}  {'sum rel err':>11}  {'term rel err':>12}  "
            f"{'expr rel err':>12}  {'expand rel err':>14}  worst term",
        ]
        for c in self.checks:
            lines.append(
                f"{c.name:<{width}} {c.terms:>6}  {_e(c.sum_rel):>11}  {_e(c.term_rel):>12}  "
                f"{_e(c.expr_rel):>12}  {_e(c.expanded_rel):>14}  {c.worst_term or '-'}"
                + ("" if c.ok else "   <-- FAILED" + _count_note(c))
            )
            if c.checked_how:
                lines.append(f"    per-term: {c.checked_how}")
            lines += [f"    ! {f}" for f in c.failures] + [f"    note: {n}" for n in c.notes]
        failed = sum(not c.ok for c in self.checks)
        lines.append(_outcome(len(self.checks), failed))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        outcome = "ok" if self.ok else f"{sum(not c.ok for c in self.checks)} FAILED"
        return (
            f"VerifyReport({self.architecture}, {self.dtype}: {len(self.checks)} checks, {outcome})"
        )


def _outcome(n: int, failed: int) -> str:
    if failed:
        return f"{failed} check{'s' if failed > 1 else ''} FAILED"
    return f"all {n} checks ok"


def _e(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _json_number(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # 'nan', 'inf', '-inf'
    return value


def _count_note(c: Check) -> str:
    if c.expected_terms is None or c.terms == c.expected_terms:
        return ""
    return f" ({c.terms} terms, the closed form says {c.expected_terms})"
