"""``tensoralgebra demo``: the paper's two-layer logit expansion, derived, counted and checked.

Every agreement the demo states is computed, not asserted: the expansion's terms against the
enumerated paths (term by term, and per order) and both against the closed-form counts. A failed
agreement is printed as ``FAILED`` and makes :func:`run` return 1.

Each section is a function of the :class:`Report` and the architecture, so further sections
(numeric checks, LaTeX) slot into :data:`SECTIONS`.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

import tensoralgebra as ta
from tensoralgebra import cli_derive, cli_scores
from tensoralgebra.cli_format import packed, stacked
from tensoralgebra.expr.nodes import Expr, MatrixSymbol
from tensoralgebra.expr.traversal import walk

#: The architecture of the paper's two-layer discussion, small enough to print every term.
DEMO_ARCHITECTURE = ta.Architecture(heads=(2, 2))
#: The lines of the demo fit a terminal this wide.
WIDTH = 100


class Report:
    """The demo's output and the outcome of its checks."""

    def __init__(self, write: Callable[[str], None] = print):
        self._write = write
        self.checks = 0
        self.failures: list[str] = []

    def line(self, text: str = "") -> None:
        """Print one line."""
        self._write(text)

    def lines(self, texts: Sequence[str]) -> None:
        """Print several lines."""
        for text in texts:
            self._write(text)

    def check(self, ok: bool, claim: str, failure: str = "") -> None:
        """Print ``claim`` if ``ok``, else ``failure`` (or the claim) marked FAILED."""
        self.checks += 1
        if ok:
            self._write(claim)
        else:
            self.failures.append(claim.strip())
            self._write(f"{failure or claim}   <-- FAILED")


def term_order(term: Expr) -> int:
    """A term's path order read off the term itself: the number of patterns ``A`` in it."""
    return sum(1 for e in walk(term) if isinstance(e, MatrixSymbol) and e.name == "A")


def three_way(report: Report, label: str, expansion: int, paths: int, closed: int) -> None:
    """Check that three counts of the same terms agree, and say so."""
    noun = "term" if closed == 1 else "terms"
    report.check(
        expansion == paths == closed,
        f"{label}{closed:>3} {noun + ':':<6} expansion == paths == closed form",
        f"{label}  expansion {expansion}, paths {paths}, closed form {closed}",
    )


def describe(arch: ta.Architecture) -> str:
    """``"2 layers of 2 heads"``, or the heads of each layer when they differ."""
    heads = arch.heads or ()
    layers = f"{arch.n_layers} layer{'s' * (arch.n_layers != 1)}"
    if len(set(heads)) == 1:
        return f"{layers} of {heads[0]} head{'s' * (heads[0] != 1)}"
    return f"{layers} with {', '.join(map(str, heads)) or 'no'} heads"


def intro(report: Report, arch: ta.Architecture) -> None:
    """What is being expanded."""
    report.line("tensoralgebra demo: the logits of an attention-only transformer, expanded")
    report.line("(Elhage et al. 2021; layers and heads count from 0: L1H0 is layer 1, head 0)")
    report.line()
    report.line(f"{arch!r}: {describe(arch)}")


def factored(report: Report, arch: ta.Architecture) -> None:
    """The factored expression, one layer per line."""
    report.line()
    report.line("Factored, attention patterns A frozen (the last layer stands leftmost):")
    report.lines(stacked(ta.logits(arch), lead="  T ="))


def derivation(report: Report, arch: ta.Architecture) -> None:
    """The expansion pass by pass, with the rules applied; the final sum one term per line,
    each beside the logit path it belongs to."""
    logits = ta.logits(arch)
    steps = ta.expansion_steps(logits)
    report.line()
    report.line("Expanded pass by pass (rules applied, then the whole expression):")
    for step in steps[1:]:
        uses = Counter(app.rule for app in step.applications)
        report.line(f"  {step.name}: " + ", ".join(f"{r} ×{n}" for r, n in uses.items()))
        if step is steps[-1]:
            paths = ta.logit_paths(arch)
            terms = ta.terms(step.expr)
            notes = [str(p) if p.expr == t else "?" for p, t in zip(paths, terms)]
            report.lines(stacked(step.expr, lead="    =", notes=notes))
        else:
            report.lines(packed(step.expr, lead="    =", width=WIDTH))
    report.check(
        steps[-1].expr == ta.expand(logits),
        "  the last pass gives ta.expand(T)",
        "  the last pass differs from ta.expand(T)",
    )


def counts(report: Report, arch: ta.Architecture) -> None:
    """Terms per order and kind, three ways: expansion, enumerated paths, closed form."""
    expansion = ta.terms(ta.expand(ta.logits(arch)))
    paths = list(ta.logit_paths(arch))
    report.line()
    report.line("Terms per order: ta.expand vs ta.logit_paths vs ta.count_logit_paths:")
    for order in range(arch.n_layers + 1):
        three_way(
            report,
            f"  order {order}  {ta.path_kind(order):<8}",
            sum(1 for t in expansion if term_order(t) == order),
            sum(1 for p in paths if p.order == order),
            ta.count_logit_paths(arch, order=order),
        )
    three_way(report, f"  {'all':<17}", len(expansion), len(paths), ta.count_logit_paths(arch))
    formula = math.prod(1 + h for h in arch.heads) * len(arch.sources)
    factors = [str(1 + h) for h in arch.heads] or ["1"]
    sources = f" × {len(arch.sources)} sources" if len(arch.sources) > 1 else ""
    report.check(
        ta.count_logit_paths(arch) == formula,
        f"  Π_l (1 + |H_l|){sources} = {' · '.join(factors)}{sources} = {formula}",
        f"  Π_l (1 + |H_l|) = {formula}, but ta.count_logit_paths says otherwise",
    )
    report.check(
        tuple(p.expr for p in paths) == expansion,
        f"  term by term: expansion term i is logit path i's term, for all {len(paths)}",
        "  term by term: the expansion's terms are not the paths' terms, in order",
    )


def schematic(report: Report, arch: ta.Architecture) -> None:
    """The same expansion with the head sets left symbolic: one grouped term per layer subset."""
    sketch = ta.Architecture.schematic(n_layers=arch.n_layers)
    logits = ta.logits(sketch)
    expansion = ta.terms(ta.expand(logits))
    paths = list(ta.logit_paths(sketch))
    report.line()
    report.line(f"Schematic, head sets H_l symbolic ({sketch!r}):")
    report.lines(packed(logits, lead="  T =", width=WIDTH))
    report.lines(stacked(ta.expand(logits), lead="    ="))
    three_way(report, "  grouped", len(expansion), len(paths), ta.count_logit_paths(sketch))
    report.check(
        len(expansion) == 2**sketch.n_layers and tuple(p.expr for p in paths) == expansion,
        f"  2^L = {2**sketch.n_layers}: one Σ term per subset of layers, each its path's term",
        "  the grouped terms are not 2^L, or not the paths' terms in order",
    )


def numeric(report: Report, arch: ta.Architecture) -> None:
    """The printed terms on a random model: summed, and one by one, against forward passes."""
    weights = ta.Weights.random(arch, d_model=32, d_head=8, d_vocab=50, n_ctx=16, seed=0)
    model = ta.AttentionOnlyTransformer(weights)
    tokens = np.random.default_rng(1).integers(0, 50, size=(2, 16))
    trace = model.run(tokens)
    terms = ta.terms(ta.expand(ta.logits(arch)))
    total = sum(ta.evaluate(term, model, trace) for term in terms)
    error = float(np.abs(total - trace.logits).max() / np.abs(trace.logits).max())
    verified = ta.verify(model, tokens)
    worst = max(c.term_rel for c in verified.checks if c.term_rel is not None)
    report.line()
    report.check(
        error <= verified.tolerance,
        f"Random float64 model: Σ of the {len(terms)} terms == its logits (rel. error {error:.0e})",
        f"Random float64 model: Σ of the terms is off its logits by {error:.1e} (relative)",
    )
    scored = sum(c.name.startswith("scores") for c in verified.checks)
    report.check(
        verified.ok,
        f"  each term == its path-restricted forward pass; {scored} heads' score terms too "
        f"(worst {worst:.0e})",
        "  ta.verify found disagreements:\n" + verified.table(),
    )


def latex(report: Report, arch: ta.Architecture) -> None:
    """The schematic two-layer derivation as LaTeX source, wrapped to the terminal (white space
    is free in LaTeX math, so the wrapped source typesets the same)."""
    report.line()
    for line in cli_derive.demo_section():
        report.lines(textwrap.wrap(line, WIDTH, subsequent_indent="    ", break_long_words=False))


#: The demo, section by section.
SECTIONS: tuple[Callable[[Report, ta.Architecture], None], ...] = (
    intro,
    factored,
    derivation,
    counts,
    schematic,
    cli_scores.demo_section,
    numeric,
    latex,
)


def run(arch: ta.Architecture = DEMO_ARCHITECTURE, write: Callable[[str], None] = print) -> int:
    """Print the demo for ``arch``; 0 if every check agreed, 1 otherwise."""
    report = Report(write)
    for section in SECTIONS:
        section(report, arch)
    report.line()
    if report.failures:
        report.line(f"{len(report.failures)} of {report.checks} checks FAILED.")
        return 1
    report.line(f"All {report.checks} checks agree.")
    return 0
