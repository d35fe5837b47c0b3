"""``tensoralgebra demo``: a guided tour of the logit expansion of a two-layer model.

Eight numbered sections: the model, its factored logits, the expansion rule by rule, the term
counts checked three ways, the attention scores of a second-layer head, numeric checks on a
random model, the same expansion on the shipped trained model ``two-layer-induction`` (checked
against its forward passes, and the paper's induction circuit found in it), and the derivation
in LaTeX (written to a file, never to the terminal). Every
agreement the tour states is computed, not asserted: a disagreement prints ``FAILED`` beside the
check's name and the command exits 1.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import tensoralgebra as ta
from tensoralgebra.cli import options, output
from tensoralgebra.cli.layout import stacked
from tensoralgebra.scores import SCORE_KINDS

#: The model of the paper's two-layer discussion, small enough to print every term.
ARCHITECTURE = ta.Architecture(heads=(2, 2))
#: The shipped model of section 7: two layers of two heads, trained on repeated random tokens.
TRAINED = "two-layer-induction"
#: Where the derivation goes without ``--out``.
DEFAULT_TEX = Path(tempfile.gettempdir()) / "tensoralgebra-demo.tex"
#: What each rule of the expansion does, in words (other rules: their name).
RULE_WORDS = {
    "distribute_product": "multiplies out the product of sums",
    "mixed_product": "(a ⊗ b)·(c ⊗ d) = ac ⊗ bd, once per product, leaving one ⊗ in each",
    "order_terms": "sorts the terms by path order",
}
_KIND_WORDS = {"none": "no composition", "Q": "Q-composition", "K": "K-composition"}
_KIND_WORDS["QK"] = "both"


def _terms(n: int) -> str:
    return f"{n} term{'s' * (n != 1)}"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "demo",
        help="a guided tour: the 2-layer, 2-heads-per-layer expansion, derived and checked",
        description="A short guided tour: the logits of a model with 2 layers of 2 heads, "
        "expanded rule by rule into path terms, counted three ways, checked on a random model, "
        "and derived in LaTeX (written to a file). Exit status 1 if any check disagrees.",
        **options.described("  tensoralgebra demo --out demo.tex", options.ASCII_NOTE),
    )
    parser.add_argument(
        "--out", metavar="FILE.tex", help=f"where to write the LaTeX (default {DEFAULT_TEX})"
    )
    parser.set_defaults(run=run)


class Tour:
    """The tour's lines and the outcome of its named checks."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self.sections: list[str] = []
        self.checks: list[str] = []
        self.failures: list[str] = []

    def section(self, title: str) -> None:
        """Start the next numbered section."""
        self.write(f"\n{len(self.sections) + 1}. {title}")
        self.sections.append(title)

    def check(self, ok: bool, name: str, detail: str = "") -> None:
        """One named check: ``[ok]`` or ``FAILED`` in front of its name."""
        self.checks.append(name)
        if not ok:
            self.failures.append(name)
        self.write(f"   {'[ok]' if ok else 'FAILED'} {name}{detail}")


def model(tour: Tour, arch: ta.Architecture) -> None:
    heads = arch.heads
    tour.section(f"The model: {arch!r}, {len(heads)} layers of {heads[0]} heads, attention only")
    tour.write("   Names count from 0 as Python does (L1H0 is head 0 of layer 1, H0 the heads of")
    tour.write("   layer 0); the paper and the LaTeX at the end count from 1 (H₁, H₂).")


def factored(tour: Tour, arch: ta.Architecture) -> None:
    tour.section("The logits, factored: patterns A frozen, the last layer leftmost")
    tour.write("\n".join(stacked(ta.logits(arch), lead="   T =")))


def expansion(tour: Tour, arch: ta.Architecture) -> None:
    logits = ta.logits(arch)
    steps = ta.expansion_steps(logits)
    sizes = [len(ta.terms(factor)) for factor in logits.args]
    tour.section("Expanded rule by rule (each rule with the number of times it applied)")
    for step in steps[1:]:
        for rule, n in Counter(app.rule for app in step.applications).items():
            times = "once" if n == 1 else f"{n} times"
            words = RULE_WORDS.get(rule, "")
            if rule == "distribute_product":
                words += f" ({'·'.join(map(str, sizes))} = {len(ta.terms(step.expr))} products)"
            tour.write(f"   {rule}, {times}: {words}".rstrip(": "))
    paths = list(ta.logit_paths(arch))
    final = steps[-1].expr
    notes = [str(p) for p in paths]
    tour.write("\n".join(stacked(final, lead="   T =", notes=notes)))
    tour.check(final == ta.expand(logits), "the last step is ta.expand(T)")


def counts(tour: Tour, arch: ta.Architecture) -> None:
    tour.section("Term counts, three ways: the expansion, the enumerated paths, the closed form")
    expanded = ta.terms(ta.expand(ta.logits(arch)))
    paths = list(ta.logit_paths(arch))
    for k in range(arch.n_layers + 1):
        three = (
            sum(1 for p, t in zip(paths, expanded) if p.order == k and p.expr == t),
            sum(1 for p in paths if p.order == k),
            ta.count_logit_paths(arch, order=k),
        )
        name = f"order {k} ({ta.path_kind(k)}): {_terms(three[2])} each way"
        tour.check(len(set(three)) == 1, name, "" if len(set(three)) == 1 else f" {three}")
    product = " · ".join(str(1 + h) for h in arch.heads)
    total = ta.count_logit_paths(arch)
    tour.check(
        len(expanded) == len(paths) == total,
        f"all: {total} = Π_l (1 + |H_l|) = {product}, the i-th term is the i-th path's",
    )


def scores(tour: Tour, arch: ta.Architecture) -> None:
    layer, head = 1, 0
    tour.section(f"Attention scores of L{layer}H{head}: its query and key read the stream R")
    bilinear = ta.scores(arch, layer, head)
    tour.write(
        f"   S = R W_QK^{{L{layer}H{head}}} Rᵀ: the form ({bilinear.form}) applied to (R, R)"
    )
    tour.write("   (scores unscaled: the model divides them by sqrt(d_head) before the softmax)")
    tour.write(f"   R = {bilinear.key}")
    expanded = ta.terms(ta.expand(bilinear))
    paths = list(ta.score_paths(arch, layer, head))
    for kind in SCORE_KINDS:
        listed = [p for p, t in zip(paths, expanded) if p.kind == kind and p.expr == t]
        closed = ta.count_score_paths(arch, layer, head, kind=kind)
        ok = len(listed) == closed == sum(p.kind == kind for p in paths)
        example = listed[0].expr if listed else "none listed"
        tour.check(ok, f"{kind:<4} {_terms(closed)} ({_KIND_WORDS[kind]}): {example}")


def numeric(tour: Tour, arch: ta.Architecture) -> None:
    import numpy as np  # with torch: only when the tour reaches its numbers

    tour.section("On a random float64 model (seed 0): numbers, not symbols")
    weights = ta.Weights.random(arch, d_model=32, d_head=8, d_vocab=50, n_ctx=16, seed=0)
    net = ta.AttentionOnlyTransformer(weights)
    tokens = np.random.default_rng(1).integers(0, 50, size=(2, 16))
    trace = net.run(tokens)
    terms = ta.terms(ta.expand(ta.logits(arch)))
    total = sum(ta.evaluate(term, net, trace) for term in terms)
    error = float(np.abs(total - trace.logits).max() / np.abs(trace.logits).max())
    report = ta.verify(net, tokens)
    logits = [c for c in report.checks if c.name == "logits"]
    ablated = [c for c in report.checks if c.name.startswith("logits order≤")]
    scored = [c for c in report.checks if c.name.startswith("scores")]
    rel = f" (relative error {error:.0e})"
    tour.check(error <= report.tolerance, f"Σ of the {len(terms)} terms above == the logits", rel)
    tour.check(all(c.ok for c in logits), "each term == the forward pass kept to its path alone")
    tour.check(all(c.ok for c in ablated), "terms of order ≤ k == the pass with orders > k cut")
    tour.check(
        all(c.ok for c in scored), f"each of the {len(scored)} heads' score terms == its scores"
    )


def trained(tour: Tour, arch: ta.Architecture) -> None:
    from tensoralgebra import circuits  # torch and the shipped model: only when the tour is here

    net = ta.models.load(TRAINED)
    tour.section(f"A trained model: {TRAINED}, shipped with the package, of the same shape")
    tokens = circuits.repeated_random_tokens(net.weights.d_vocab, net.weights.n_ctx // 2, 2, 1)
    batch, seq = tokens.shape
    tour.write(
        f"   on {batch} random sequences of {seq // 2} tokens, each repeated once ({seq} tokens)"
    )
    report = ta.verify(net, tokens)
    tour.check(report.ok, f"all {len(report.checks)} checks of ta.verify on the trained model")
    found = circuits.detect_heads(net, tokens, which=("previous_token", "induction"))
    previous, induction = (found[name] for name in ("previous_token", "induction"))
    prev_head = max(((0, h) for h in range(arch.heads[0])), key=lambda lh: previous.score(*lh))
    ind_head = max(((1, h) for h in range(arch.heads[1])), key=lambda lh: induction.score(*lh))
    for name, scores, head in (
        ("previous-token", previous, prev_head),
        ("induction", induction, ind_head),
    ):
        value = scores.score(*head)
        detail = f": score {value:.2f}, uniform attention {scores.baseline:.2f}"
        tour.check(head in scores.flagged, f"L{head[0]}H{head[1]} is the {name} head", detail)
    k_comp = circuits.composition_scores(net, "K").largest(1)[0]
    pair = (f"L{prev_head[0]}H{prev_head[1]}", f"L{ind_head[0]}H{ind_head[1]}")
    tour.check(
        k_comp[:2] == pair,
        f"the largest K-composition: {k_comp[0]} → {k_comp[1]}, the induction circuit",
        f" ({k_comp[2]:.3f}; {k_comp[3]:+.3f} over random)",
    )
    # More sequences than verify's two: one token's loss varies much from sequence to sequence.
    many = circuits.repeated_random_tokens(net.weights.d_vocab, net.weights.n_ctx // 2, 16, 1)
    icl = circuits.in_context_learning_score(net, many)
    tour.check(
        icl.score < -3,
        "it learns in context: a late token's loss far below an early one",
        f" ({icl.losses[icl.late]:.2f} at {icl.late}, {icl.losses[icl.early]:.2f} at {icl.early})",
    )


def derivation(tour: Tour, arch: ta.Architecture, tex: str) -> None:
    tour.section("The derivation in LaTeX, the paper's notation, head sets left symbolic")
    d = ta.derive_logits(ta.Architecture.schematic(arch.n_layers))
    written = output.write_text(tex, d.to_document(), "--out", (".tex",))
    tour.write(f"   written to {written}")
    tour.write(
        f"   (typeset it: tensoralgebra derive --layers {arch.n_layers} --pdf derivation.pdf)"
    )


def tour(write: Callable[[str], None], tex: str, arch: ta.Architecture = ARCHITECTURE) -> int:
    """Print the tour of ``arch``, write its LaTeX to ``tex``; 0 if every check agreed, else 1."""
    guide = Tour(write)
    write("tensoralgebra demo: the logits of an attention-only transformer as a sum of path terms")
    write("(Elhage et al. 2021, 'A Mathematical Framework for Transformer Circuits')")
    for section in (model, factored, expansion, counts, scores, numeric, trained):
        section(guide, arch)
    derivation(guide, arch, tex)
    n = len(guide.checks)
    if guide.failures:
        write(f"\n{len(guide.failures)} of {n} checks FAILED: {'; '.join(guide.failures)}")
        return 1
    write(f"\nAll {n} checks agree.")
    return 0


def run(args: argparse.Namespace) -> int:
    """Print the tour; 0 if every check agreed, 1 otherwise."""
    tex = str(DEFAULT_TEX) if args.out is None else args.out
    output.check_output(tex, "--out", (".tex",))
    return tour(lambda line: output.emit([line]), tex)
