"""Checking a derivation: every step re-derived three ways.

For each step after the first, :func:`check_derivation` runs

- ``rule``: the step's justification re-applied to the previous expression (its rules wherever
  they apply, or at one position; its cited equations replaced, either way round), the result
  compared with the step's expression up to nesting, the order of terms and the names of bound
  variables (:func:`~tensoralgebra.proof.rewriting.same`); cited definitions are unfolded on
  both sides, and a step may also read right to left (its justification applied to it gives
  the previous expression);
- ``exact``: the previous expression and the step's expression given symbolic entries
  (:data:`~tensoralgebra.proof.evaluate.EXACT_SIZES`) and compared as polynomials with SymPy;
- ``numeric``: both evaluated with Gaussian entries on sizes, head counts and seeds drawn by
  Hypothesis, and compared to floating-point accuracy.

A step that does not follow fails with a message naming the step (its number and expression),
its justification and what that justification produced instead.

>>> import tensoralgebra as ta
>>> report = ta.derive_logits(ta.Architecture.schematic(n_layers=1)).check(examples=5)
>>> report.ok, report.passed, report.total
(True, 9, 9)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tensoralgebra.derivation.backends import provide
from tensoralgebra.expr.nodes import Expr
from tensoralgebra.proof.equations import Equation, unfold
from tensoralgebra.proof.evaluate import (
    EXACT_SIZES,
    exact_values,
    first_difference,
    layers_used,
    numeric_values,
)
from tensoralgebra.proof.report import CheckResult, ProofReport, short
from tensoralgebra.proof.rewriting import (
    replace_all,
    replacements_once,
    rewrite_everywhere,
    rewrites_once,
    same,
)

#: Hypothesis examples per derivation in the numeric check, unless told otherwise.
EXAMPLES = 20
#: Relative agreement the numeric check asks for (float64 evaluation of small matrices).
TOLERANCE = 1e-9


def justification(step) -> str:
    """What a step names: its rules and cited equations, comma-separated."""
    names = [*step.rules, *(c.name for c in getattr(step, "cites", ()))]
    return ", ".join(names) if names else "regrouping the terms"


def subject(number: int, step) -> str:
    """``step 3 (A B ⊗ W V)``: how messages name a step."""
    return f"step {number} ({short(step.expr)})"


def _identities(cites: Sequence[Equation]) -> list[Equation]:
    return [c for c in cites if not c.unfolds]


def _everywhere(prev: Expr, step) -> Expr:
    """The previous expression with the step's equations and rules applied wherever they fit."""
    out = prev
    for eq in _identities(step.cites):
        forward = replace_all(out, eq.lhs, eq.rhs)
        out = forward if forward != out else replace_all(out, eq.rhs, eq.lhs)
    return rewrite_everywhere(out, tuple(step.rules)) if step.rules else out


def _candidates(prev: Expr, step):
    yield _everywhere(prev, step)
    identities = _identities(step.cites)
    if len(step.rules) > 1 and not identities:
        out = prev
        for name in step.rules:  # one rule after the other, each wherever it applies
            out = rewrite_everywhere(out, (name,))
            yield out
    if len(step.rules) + len(identities) == 1:  # a single justification: also at one position
        if step.rules:
            yield from rewrites_once(prev, step.rules[0])
        else:
            eq = identities[0]
            yield from replacements_once(prev, eq.lhs, eq.rhs)
            yield from replacements_once(prev, eq.rhs, eq.lhs)


def check_rule(number: int, prev: Expr, step) -> CheckResult:
    """The ``rule`` check of one step (see the module docstring)."""
    definitions = tuple(c for c in step.cites if c.unfolds)
    target, source = unfold(step.expr, definitions), unfold(prev, definitions)
    for candidate in _candidates(prev, step):
        if same(unfold(candidate, definitions), target):
            return CheckResult(subject(number, step), "rule", True)
    # Equality reads both ways: a step may undo its justification (``A ⊗ W = (A Id) ⊗ (Id W)``).
    for candidate in _candidates(step.expr, step):
        if same(unfold(candidate, definitions), source):
            return CheckResult(subject(number, step), "rule", True)
    produced = _everywhere(prev, step)
    named = justification(step)
    if produced == prev and (step.rules or _identities(step.cites)):
        why = f"{named} does not apply to the previous expression {short(prev)}"
    else:
        why = f"{named} produces {short(produced)} instead"
    return CheckResult(subject(number, step), "rule", False, f"does not follow: {why}")


def _compare_exact(chain, steps, sizes, heads) -> list[CheckResult]:
    values = exact_values(chain, sizes, heads)
    out = []
    for number in range(1, len(chain)):
        diff = first_difference(values[number - 1], values[number])
        message = ""
        if diff is not None:
            (i, j), delta = diff
            message = (
                f"exact check failed (SymPy, sizes {sizes}, heads per layer {heads}): "
                f"entry ({i}, {j}) of the previous expression minus this one is "
                f"{short(delta, 120)}, not 0"
            )
        out.append(CheckResult(subject(number, steps[number]), "exact", diff is None, message))
    return out


def _compare_numeric(chain, steps, layers: int, examples: int) -> list[CheckResult]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    failed: dict[int, str] = {}
    # From 2: on 1×1 matrices every product commutes, so a step with swapped factors would pass.
    dims = st.integers(2, 4)
    sizes_st = st.fixed_dictionaries({name: dims for name in EXACT_SIZES})

    @settings(
        parent=settings.default,
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        sizes=sizes_st,
        heads=st.lists(st.integers(1, 3), min_size=layers, max_size=layers),
        seed=st.integers(0, 2**32 - 1),
    )
    def run(sizes: Mapping[str, int], heads: list[int], seed: int) -> None:
        values = numeric_values(chain, sizes, heads, seed)
        for number in range(1, len(chain)):
            a, b = values[number - 1], values[number]
            if a.shape != b.shape:
                failed.setdefault(number, f"numeric check failed: shapes {a.shape} and {b.shape}")
                continue
            gap = float(np.abs(a - b).max(initial=0.0))
            if not gap <= TOLERANCE * (1.0 + float(np.abs(a).max(initial=0.0))):
                failed.setdefault(
                    number,
                    f"numeric check failed (sizes {dict(sizes)}, heads per layer {tuple(heads)}, "
                    f"seed {seed}): the previous expression and this one differ by {gap:.3g}",
                )

    run()
    return [
        CheckResult(subject(n, steps[n]), "numeric", n not in failed, failed.get(n, ""))
        for n in range(1, len(chain))
    ]


def check_derivation(
    derivation,
    *,
    exact: bool = True,
    numeric: bool = True,
    examples: int = EXAMPLES,
    exact_sizes: Mapping[str, int] | None = None,
) -> ProofReport:
    """Check every step of ``derivation`` (see the module docstring): a :class:`ProofReport`.

    ``exact_sizes`` overrides :data:`~tensoralgebra.proof.evaluate.EXACT_SIZES`; ``examples``
    is the number of Hypothesis examples of the numeric check.
    """
    steps = derivation.steps
    results = [check_rule(n, steps[n - 1].expr, steps[n]) for n in range(1, len(steps))]
    definitions = tuple(
        dict.fromkeys(c for s in steps for c in getattr(s, "cites", ()) if c.unfolds)
    )
    chain = [unfold(s.expr, definitions) for s in steps]
    layers = layers_used(chain)
    if exact and len(chain) > 1:
        sizes = {**EXACT_SIZES, **(exact_sizes or {})}
        heads = (2 if layers <= 2 else 1,) * layers
        results += _compare_exact(chain, steps, sizes, heads)
    if numeric and len(chain) > 1:
        results += _compare_numeric(chain, steps, layers, examples)
    return ProofReport(derivation.title, len(steps) - 1, tuple(results))


# ``Derivation.check`` delegates here (see tensoralgebra.derivation.backends).
provide("check", check_derivation)
