"""What checking reports: one :class:`CheckResult` per check, gathered in a :class:`ProofReport`.

>>> r = ProofReport("a proof", 1, (CheckResult("step 1 (a b)", "rule", True),
...                           CheckResult("step 1 (a b)", "exact", False, "entry (0, 0) differs")))
>>> r.ok, r.passed, r.total
(False, 1, 2)
>>> print(r.failures()[0])
step 1 (a b): [exact] entry (0, 0) differs
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tensoralgebra.errors import TensorAlgebraError


class ProofError(TensorAlgebraError, AssertionError):
    """A derivation or a theorem did not check; the message lists every failed check.

    An :class:`AssertionError` too, so that pytest reports it as a failed assertion."""


def short(value: object, limit: int = 100) -> str:
    """``str(value)`` cut to ``limit`` characters (with ``…``)."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class CheckResult:
    """One check: what was checked (``subject``), which check, whether it passed, and why not."""

    subject: str
    check: str
    ok: bool
    message: str = ""

    def __str__(self) -> str:
        return f"{self.subject}: [{self.check}] " + (self.message if not self.ok else "passed")


@dataclass(frozen=True)
class ProofReport:
    """The results of checking ``name``: ``steps`` derivation steps and every check's result."""

    name: str
    steps: int
    results: tuple[CheckResult, ...]
    seconds: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(r.ok for r in self.results)

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(r.ok for r in self.results)

    @property
    def total(self) -> int:
        """How many checks ran."""
        return len(self.results)

    def failures(self) -> list[CheckResult]:
        """The checks that failed, in order."""
        return [r for r in self.results if not r.ok]

    def raise_for_failures(self) -> ProofReport:
        """Raise :class:`ProofError` listing every failed check; return ``self`` if none."""
        bad = self.failures()
        if bad:
            lines = "\n".join(f"  {r}" for r in bad)
            raise ProofError(f"{self.name}: {len(bad)} of {self.total} checks failed:\n{lines}")
        return self
