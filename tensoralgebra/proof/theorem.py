"""A theorem: its statement, the derivations that prove it, and the facts checked beside them.

A proof file builds one :class:`Theorem`: the statement in words and in LaTeX, optionally as an
:class:`~tensoralgebra.proof.Equation` that later proofs cite, one or more derivations (each
step justified by rules or cited equations, checked by
:func:`~tensoralgebra.proof.check_derivation`), and *facts*: checks that are not chains of
rewrites (an index formula against ``numpy.kron``, a forward pass of the torch model, a bound),
registered with :meth:`Theorem.fact` and each tagged with how it checks (``exact`` for SymPy,
``numeric`` for Hypothesis, ``model`` for the torch model, ``package`` for the package's own
functions).

>>> from tensoralgebra.expr import MODEL, Space, symbol
>>> a, b, c = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "abc")
>>> t = Theorem("Distributivity", "A product distributes over a sum.", r"a (b + c) = a b + a c",
...             equation=Equation("distributivity", a @ (b + c), a @ b + a @ c))
>>> _ = t.prove(t.start(a @ (b + c)).then(a @ b + a @ c, "distribute_product"))
>>> @t.fact("numeric")
... def scalars_too():
...     '''Numbers distribute as well.'''
...     assert 2 * (3 + 4) == 2 * 3 + 2 * 4
>>> report = t.check(examples=3)
>>> report.ok, report.steps, report.total
(True, 1, 5)
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

from tensoralgebra.derivation import Derivation
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.nodes import Expr
from tensoralgebra.proof.equations import Equation
from tensoralgebra.proof.report import CheckResult, ProofReport, short
from tensoralgebra.proof.rewriting import same

#: How a fact checks, as :meth:`Theorem.fact` accepts it.
FACT_KINDS = ("exact", "numeric", "model", "package")


@dataclass(frozen=True)
class Fact:
    """A check beside the derivations: ``run()`` raises (an AssertionError) when it fails."""

    name: str
    kind: str
    text: str
    run: Callable[[], None]


class Theorem:
    """A statement (plain ``statement``, LaTeX ``latex``), its derivations and its facts.

    ``equation``, when given, is the statement as an equation: some derivation must lead from its
    left-hand side to its right-hand side, and later proofs may cite it (``theorem.equation``).
    """

    def __init__(self, title: str, statement: str, latex: str, equation: Equation | None = None):
        self.title, self.statement, self.latex, self.equation = title, statement, latex, equation
        self.derivations: list = []
        self.options: list[dict] = []  # check options of each derivation
        self.facts: list[Fact] = []

    def __repr__(self) -> str:
        return f"Theorem({self.title!r})"

    def start(self, expr: Expr, title: str | None = None, lhs: str = "") -> Derivation:
        """A new derivation from ``expr`` (see :meth:`tensoralgebra.Derivation.start`)."""
        return Derivation.start(title or self.title, expr, lhs)

    def prove(self, derivation, **options):
        """Add ``derivation`` to the proof, checked with ``options`` (``exact_sizes=...`` for a
        derivation whose exact values are large); returns it."""
        self.derivations.append(derivation)
        self.options.append(options)
        return derivation

    def fact(self, kind: str, text: str | None = None):
        """Register the decorated function as a fact of kind ``kind`` (see :data:`FACT_KINDS`);
        ``text`` (by default the first line of its docstring) says what it checks."""
        if kind not in FACT_KINDS:
            raise TensorAlgebraError(f"a fact's kind is one of {FACT_KINDS}, got {kind!r}")

        def register(fn: Callable[[], None]) -> Callable[[], None]:
            doc = (fn.__doc__ or fn.__name__.replace("_", " ")).strip().splitlines()[0]
            self.facts.append(Fact(fn.__name__, kind, text or doc, fn))
            return fn

        return register

    @property
    def steps(self) -> int:
        """How many steps the derivations take in all."""
        return sum(len(d.steps) - 1 for d in self.derivations)

    def _statement_result(self) -> list[CheckResult]:
        if self.equation is None:
            return []
        lhs, rhs = self.equation.lhs, self.equation.rhs
        for d in self.derivations:
            first, last = d.steps[0].expr, d.steps[-1].expr
            if (same(first, lhs) and same(last, rhs)) or (same(first, rhs) and same(last, lhs)):
                return [CheckResult("statement", "statement", True)]
        message = f"no derivation leads from {short(lhs)} to {short(rhs)}"
        return [CheckResult("statement", "statement", False, message)]

    def check(self, **options) -> ProofReport:
        """Check every derivation (``options`` as for
        :func:`~tensoralgebra.proof.check_derivation`), the statement, and every fact."""
        started = time.perf_counter()
        results: list[CheckResult] = []
        for i, (d, own) in enumerate(zip(self.derivations, self.options), 1):
            prefix = f"derivation {i}, " if len(self.derivations) > 1 else ""
            for r in d.check(**{**own, **options}).results:
                results.append(replace(r, subject=prefix + r.subject))
        results += self._statement_result()
        for f in self.facts:
            results.append(_run_fact(f))
        if not results:  # a theorem that checks nothing proves nothing
            message = "no checks: the theorem has no derivation step, statement or fact"
            results.append(CheckResult(f"theorem {self.title!r}", "checks", False, message))
        return ProofReport(self.title, self.steps, tuple(results), time.perf_counter() - started)

    def to_markdown(self) -> str:
        """The statement, the derivations and the facts, in Markdown with LaTeX math."""
        from tensoralgebra.proof.render import markdown

        return markdown(self)

    def to_latex(self) -> str:
        """The statement, the derivations and the facts, as a LaTeX fragment."""
        from tensoralgebra.proof.render import fragment

        return fragment(self)

    def to_document(self) -> str:
        """A standalone LaTeX document of :meth:`to_latex`."""
        from tensoralgebra.proof.render import document

        return document(self)


def _run_fact(f: Fact) -> CheckResult:
    subject = f"fact {f.name} ({f.text})"
    try:
        f.run()
    except (Exception, SystemExit) as error:  # a fact fails by raising: report it, not crash
        where = traceback.extract_tb(error.__traceback__)[-1]
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        message = f"{type(error).__name__} at line {where.lineno}" + (
            f": {short(detail, 160)}" if detail else ""
        )
        return CheckResult(subject, f.kind, False, message)
    return CheckResult(subject, f.kind, True)
