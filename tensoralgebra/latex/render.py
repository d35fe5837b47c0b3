r"""Rendering derivations: ``align*`` fragments, standalone documents, Markdown and PDF.

Each step is one or more rows: the first row of the derivation is ``T &= ...``, the first row of
every later step carries its justification on the left of its ``=``, and a step too long for one
line continues on rows ``&\quad + ...`` (a term cut in the middle continues on ``&\qquad``).
The final step puts each group of terms under an ``\underbrace`` with its label; a group too wide
for one line (an underbrace cannot span lines) becomes a block of rows with a brace and its label
on the right.

PDFs are compiled by a TeX engine found on ``PATH`` (:data:`ENGINES`, in that order);
``scripts/install-tex`` in the repository installs one (Debian's TeX Live packages).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tensoralgebra.derivation.backends import provide
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import terms
from tensoralgebra.latex.layout import pack, width
from tensoralgebra.printing.latex import term_pieces

#: The TeX engines looked for, in order of preference.
ENGINES = ("pdflatex", "lualatex", "xelatex")
#: The text width of an A4 page with 2 cm margins at 10pt, in em.
TEXT_WIDTH = 48.0
#: The widest the left column may make the lines (a derivation's own is usually less).
LINE_WIDTH = 34.0
#: Room kept for the ``=`` and for the width estimate's error (at most 10% too narrow).
RELATION, SAFETY = 1.6, 1.1
#: A labelled block of a wide group has at most this many rows (it cannot break across pages).
BLOCK_ROWS = 12
_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    **{c: "\\" + c for c in "_#%&${}"},
}


_ROW_START = re.compile(r"^(&\\q?quad |& )|( \\\\)$")


class TeXError(TensorAlgebraError):
    """No TeX engine was found, or the engine failed to compile a document."""


def escape_text(text: str) -> str:
    r"""Plain text made safe for LaTeX's text mode (``a_b`` → ``a\_b``)."""
    return "".join(_TEXT_ESCAPES.get(c, c) for c in text)


def _justification(text: str) -> str:
    return rf"{{\scriptstyle\text{{({escape_text(text)})}}}}" if text else ""


def line_width(derivation, text_width: float = TEXT_WIDTH) -> float:
    """The width the right-hand column of ``derivation`` may fill, in em: the page (``text_width``
    em wide) less its widest left-hand entry (the left-hand side, or a justification in script
    size), the ``=`` and a margin for the estimate; at least :data:`LINE_WIDTH`, or what a
    narrower page leaves."""
    lefts = [width(derivation.lhs)] + [
        width(rf"\text{{({s.justification})}}") * 0.7 for s in derivation.steps[1:]
    ]
    floor = min(LINE_WIDTH, text_width - RELATION)
    return max(floor, (text_width - max(lefts) - RELATION) / SAFETY)


def top_level(pieces: list[str], budget: float) -> list[str]:
    r"""``pieces`` rejoined so that each has balanced parentheses: a line breaks between the
    factors of a term's top-level product or Kronecker product, not inside a parenthesised
    factor (which would leave an orphan ``W_E)`` on a line of its own). Only a factor wider
    than a whole line (``budget`` em) keeps its inner breaks.

    >>> top_level(["A^{h}", r"\otimes (W_U", "W_{OV}^{h}", "W_E)"], budget=30)
    ['A^{h}', '\\otimes (W_U W_{OV}^{h} W_E)']
    >>> top_level(["A^{h}", r"\otimes (W_U", "W_{OV}^{h}", "W_E)"], budget=3)
    ['A^{h}', '\\otimes (W_U', 'W_{OV}^{h}', 'W_E)']
    """
    segments: list[list[str]] = []
    depth = 0
    for piece in pieces:
        if depth > 0:
            segments[-1].append(piece)
        else:
            segments.append([piece])
        depth += piece.count("(") - piece.count(")")
    out: list[str] = []
    for segment in segments:
        joined = " ".join(segment)
        out += [joined] if width(joined) <= budget else segment
    return out


def _units(items, first: bool, budget: float) -> list[list[str]]:
    units = []
    for i, term in enumerate(items):
        pieces = top_level(term_pieces(term), budget)
        if i > 0 or not first:
            pieces[0] = "+ " + pieces[0]
        units.append(pieces)
    return units


def _rows(first_left: str | None, lines: list[tuple[str, bool]]) -> list[str]:
    """The rows of one step; ``first_left=None``: the first expression of a derivation without a
    left-hand side, aligned with the expressions after the ``=`` of the later rows."""
    rows = []
    for i, (line, starts) in enumerate(lines):
        if i == 0:
            relation = r"\mathrel{\phantom{=}}" if first_left is None else "="
            rows.append(f"{first_left or ''} &{relation} {line}")
        else:
            rows.append(("&\\quad " if starts else "&\\qquad ") + line)
    return rows


def _elided(derivation, step) -> int:
    return len(terms(step.expr)) - len(derivation.shown(terms(step.expr)))


def _step_lines(derivation, step, text_width: float) -> list[tuple[str, bool]]:
    shown = derivation.shown(terms(step.expr))
    budget = line_width(derivation, text_width)
    units = _units(shown, True, budget)
    if len(shown) < len(terms(step.expr)):
        units.append([r"+ \cdots"])
    return pack(units, budget)


def _blocks(label: str, items, budget: float) -> list[str]:
    r"""A group too wide for an underbrace: rows in ``aligned`` with a brace and the label on the
    right, in blocks of at most :data:`BLOCK_ROWS` rows (a block cannot break across pages); the
    blocks after the first are labelled "(continued)", so each group has one label."""
    inner_budget = budget - width(rf"\text{{{label}}}") - 2
    inner = pack(_units(items, True, inner_budget), inner_budget)
    chunks: list[list[str]] = []
    for text, starts in inner:
        if not chunks or (starts and len(chunks[-1]) >= BLOCK_ROWS):
            # A new block starts with a term, its "+" outside the block.
            chunks.append(["& " + (text.removeprefix("+ ") if chunks else text)])
        else:
            chunks[-1].append(("&\\quad " if starts else "&\\qquad ") + text)
    return [
        "\\left.\\begin{aligned}\n"
        + " \\\\\n".join(rows)
        + "\n\\end{aligned}\\right\\}\\ \\text{"
        + (label if k == 0 else "(continued)")
        + "}"
        for k, rows in enumerate(chunks)
    ]


def _group_lines(derivation, step, text_width: float) -> list[tuple[str, bool]]:
    budget = line_width(derivation, text_width)
    lines: list[tuple[str, bool]] = []
    units: list[list[str]] = []
    final = derivation.steps[-2]  # the terms before grouping: what ``\cdots`` stands for
    for group in step.groups:
        shown = derivation.shown(group.terms)
        if not shown:
            continue
        plus = "+ " if units or lines else ""
        body = " + ".join(" ".join(term_pieces(t)) for t in shown)
        label = group.label
        if len(shown) < len(group.terms):
            body += r" + \cdots"
        brace = rf"{plus}\underbrace{{{body}}}_{{\text{{{label}}}}}"
        if width(brace) <= budget:
            units.append([brace])
            continue
        lines += pack(units, budget)
        units = []
        for k, block in enumerate(_blocks(label, shown, budget)):
            lines.append(((plus if k == 0 else "+ ") + block, True))
    hidden = _elided(derivation, final)
    if hidden:
        count = f"{hidden} more term{'s' * (hidden != 1)}, order"
        units.append([rf"+ \underbrace{{\cdots}}_{{\text{{{count}}} > {derivation.max_order}}}"])
    return lines + pack(units, budget)


def _lines(derivation, text_width: float = TEXT_WIDTH) -> list[str]:
    """Every line of math the derivation prints, without labels and alignment points."""
    out = []
    for step in derivation.steps:
        lines = _step_or_group_lines(derivation, step, text_width)
        for text, _ in lines:
            out += [_ROW_START.sub("", t) for t in text.split("\n") if "aligned}" not in t]
    return out


def _step_or_group_lines(derivation, step, text_width: float) -> list[tuple[str, bool]]:
    if step.groups:
        return _group_lines(derivation, step, text_width)
    return _step_lines(derivation, step, text_width)


def rows(derivation, text_width: float = TEXT_WIDTH) -> list[str]:
    """The rows of the derivation (``align`` syntax, without the row separators), its lines
    broken to fit a page ``text_width`` em wide (by default an A4 page's text)."""
    out = []
    for i, step in enumerate(derivation.steps):
        left = (derivation.lhs or None) if i == 0 else _justification(step.justification)
        out += _rows(left, _step_or_group_lines(derivation, step, text_width))
    return out


def fragment(derivation) -> str:
    r"""The derivation as an ``align*`` environment."""
    return "\\begin{align*}\n" + " \\\\\n".join(rows(derivation)) + "\n\\end{align*}"


def math_block(derivation, text_width: float = TEXT_WIDTH) -> str:
    r"""The derivation as ``$$\begin{aligned}...\end{aligned}$$`` (Markdown, notebooks), its
    lines broken for a page ``text_width`` em wide."""
    body = " \\\\\n".join(rows(derivation, text_width))
    return "$$\n\\begin{aligned}\n" + body + "\n\\end{aligned}\n$$"


def notes(derivation) -> list[str]:
    """Sentences that explain the notation of this derivation (LaTeX text with ``$...$``)."""
    out = [
        "Layers count from 1, as in the paper: $H_l$ is the set of heads of layer $l$, and "
        "$h_l$ ranges over $H_l$."
    ]
    if r"\mathrm{L" in derivation.steps[0].expr._repr_latex_():
        out.append(
            r"Concrete heads keep their names from the code, which count layers and heads from "
            r"0: $A^{\mathrm{L1H0}}$ is the pattern of head 0 of the second layer."
        )
    hidden = _elided(derivation, derivation.steps[-2]) if len(derivation.steps) > 1 else 0
    if hidden:
        out.append(
            rf"Terms of order above {derivation.max_order} ({hidden} of them) are written "
            r"$\cdots$."
        )
    return out


def markdown(derivation) -> str:
    """The title in bold, the derivation as display math, and the notes."""
    parts = [f"**{derivation.title}**", math_block(derivation), " ".join(notes(derivation))]
    return "\n\n".join(parts) + "\n"


def document(derivation) -> str:
    """A standalone LaTeX document (article, amsmath); landscape only if a line needs it."""
    body = [" ".join(notes(derivation)), fragment(derivation)]
    return standalone(body, [derivation], escape_text(derivation.title))


def standalone(body: list[str], derivations, title: str | None = None) -> str:
    """The document around ``body`` (LaTeX lines), under a ``title`` already escaped; landscape
    only if a line of one of ``derivations`` needs it."""
    over = [width(line) / line_width(d) for d in derivations for line in _lines(d)]
    landscape = ",landscape" if over and max(over) > 1.2 else ""
    heading = [rf"\section*{{{title}}}"] if title else []
    return "\n".join(
        [
            r"\documentclass[10pt]{article}",
            rf"\usepackage[a4paper,margin=2cm{landscape}]{{geometry}}",
            r"\usepackage{amsmath,amssymb}",
            r"\allowdisplaybreaks",
            r"\pagestyle{empty}",
            r"\begin{document}",
            *heading,
            *body,
            r"\end{document}",
            "",
        ]
    )


def find_tex_engine() -> str | None:
    """The path of the first TeX engine of :data:`ENGINES` on ``PATH``, or ``None``."""
    for name in ENGINES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _engine(engine: str | None) -> str:
    found = shutil.which(engine) if engine else find_tex_engine()
    if found:
        return found
    looked = engine or ", ".join(ENGINES)
    raise TeXError(
        f"no TeX engine found on PATH (looked for {looked}); install one with scripts/install-tex "
        "from the repository (Debian/Ubuntu: apt-get install texlive-latex-base "
        "texlive-latex-recommended), or write the .tex file instead"
    )


def compile_tex(source: str, pdf: str | os.PathLike, engine: str | None = None) -> str:
    """Compile the LaTeX document ``source`` to ``pdf``; returns the engine's log."""
    exe = _engine(engine)
    pdf = Path(pdf)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "derivation.tex").write_text(source, encoding="utf-8")
        cmd = [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape"]
        try:
            done = subprocess.run(
                [*cmd, "derivation.tex"], cwd=tmp, capture_output=True, text=True, timeout=300
            )
        except subprocess.TimeoutExpired:
            raise TeXError(f"{exe} did not finish within 300 s") from None
        log_file = Path(tmp) / "derivation.log"
        log = log_file.read_text(errors="replace") if log_file.exists() else done.stdout
        built = Path(tmp) / "derivation.pdf"
        if done.returncode != 0 or not built.exists():
            errors = [line for line in log.splitlines() if line.startswith("!")]
            detail = "; ".join(errors[:3]) or f"exit status {done.returncode}"
            raise TeXError(f"{Path(exe).name} failed to compile the document: {detail}")
        pdf.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, pdf)
    return log


def to_pdf(derivation, path: str | os.PathLike, engine: str | None = None) -> Path:
    """Compile the derivation's standalone document to ``path`` (a clear error without TeX)."""
    compile_tex(document(derivation), path, engine)
    return Path(path)


# A derivation's rendering methods delegate here (see tensoralgebra.derivation.backends).
for _capability, _function in [
    ("fragment", fragment),
    ("document", document),
    ("markdown", markdown),
    ("math_block", math_block),
    ("pdf", to_pdf),
]:
    provide(_capability, _function)
