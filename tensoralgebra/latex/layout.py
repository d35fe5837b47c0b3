r"""Line breaking for derivations: widths of LaTeX math estimated, terms packed into lines.

An ``align*`` row cannot break by itself, so long sums are cut into rows here: between terms
where possible, inside a term (after its Σ binders, at a top-level ``\cdot`` or ``\otimes``)
where a term alone is too wide. Widths are estimated in ems of a 10pt font from the LaTeX source
(letters, operators with their spacing, sub- and superscripts at 70%, a display Σ as wide as its
limits); the test suite compiles the results and checks that no line overflows the page.

>>> round(width(r"\mathrm{Id} \otimes W_U W_E"), 1)
5.3
>>> pack([["a"], ["+ b"], ["+ c"]], budget=2.5)
[('a + b', True), ('+ c', True)]
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}_^]|\s+|.")
# Widths in em (10pt Computer Modern), spacing around binary operators and relations included.
_COMMANDS = {
    r"\otimes": 1.33,
    r"\cdot": 0.72,
    r"\in": 1.3,
    r"\cup": 1.11,
    r"\sum": 1.44,
    r"\quad": 1.0,
    r"\qquad": 2.0,
    r"\,": 0.17,
    r"\ ": 0.33,
    r"\cdots": 1.3,
    r"\ldots": 1.3,
    r"\backslash": 0.5,
}
_SIZING = {r"\big", r"\Big", r"\bigl", r"\bigr", r"\left", r"\right", r"\scriptstyle"}
_WRAPPERS = {r"\mathrm", r"\text", r"\texttt", r"\mathit"}
_CHARS = {"+": 1.33, "=": 1.33, "-": 1.33, "(": 0.39, ")": 0.39, ",": 0.28, ".": 0.28, "'": 0.3}
_TEXT = {" ": 0.33, "I": 0.36, "i": 0.28, "l": 0.28}
SCRIPT = 0.7


def width(latex: str) -> float:
    """The estimated width of ``latex`` (math mode, display style) in em."""
    tokens = [t for t in _TOKEN.findall(latex) if not t.isspace()]
    w, _ = _sequence(tokens, 0, text=False)
    return w


def _sequence(tokens: list[str], i: int, text: bool) -> tuple[float, int]:
    total = 0.0
    while i < len(tokens) and tokens[i] != "}":
        w, i = _atom(tokens, i, text)
        scripts = []
        while i < len(tokens) and tokens[i] in ("_", "^"):
            s, i = _atom(tokens, i + 1, text)
            scripts.append(s * SCRIPT + 0.05)
        if scripts:
            # A display Σ puts its limits underneath; other scripts stack beside the base.
            w = max(w, max(scripts)) if w == _COMMANDS[r"\sum"] else w + max(scripts)
        total += w
    return total, i


def _atom(tokens: list[str], i: int, text: bool) -> tuple[float, int]:
    if i >= len(tokens):
        return 0.0, i
    tok = tokens[i]
    if tok == "{":
        w, i = _sequence(tokens, i + 1, text)
        return w, i + 1
    if tok in _WRAPPERS:
        return _atom(tokens, i + 1, text=True)
    if tok == r"\underbrace":
        body, i = _atom(tokens, i + 1, text)
        if i < len(tokens) and tokens[i] == "_":
            label, i = _atom(tokens, i + 1, text)
            body = max(body, label * SCRIPT)
        return body, i
    if tok in _SIZING:
        return (0.0 if tok == r"\scriptstyle" else 0.05), i + 1
    if tok.startswith("\\"):
        if tok in _COMMANDS:
            return _COMMANDS[tok], i + 1
        return (0.5 if len(tok) == 2 else 0.6), i + 1
    if text:
        return _TEXT.get(tok, 0.72 if tok.isupper() else 0.5), i + 1
    if tok in _CHARS:
        return _CHARS[tok], i + 1
    return (0.97 if tok == "W" else 0.8 if tok.isupper() else 0.5 if tok.isdigit() else 0.55), i + 1


def pack(units: list[list[str]], budget: float) -> list[tuple[str, bool]]:
    """Pack units (the terms of a sum, each a list of pieces it may break between, joiners
    included) into lines of at most ``budget`` em where possible.

    Returns ``(line, starts_a_unit)`` pairs: a line that continues a unit cut in the middle is
    marked ``False`` (the renderer indents it further).
    """
    lines: list[tuple[str, bool]] = []
    current: list[str] = []
    current_w, starts = 0.0, True

    def flush(next_starts: bool) -> None:
        nonlocal current, current_w, starts
        if current:
            lines.append((" ".join(current), starts))
        current, current_w, starts = [], 0.0, next_starts

    for pieces in units:
        text = " ".join(pieces)
        w = width(text)
        if current and current_w + w > budget:
            flush(True)
        if w <= budget or len(pieces) == 1:
            current.append(text)
            current_w += w
            continue
        for j, piece in enumerate(pieces):
            pw = width(piece)
            if current and current_w + pw > budget:
                flush(j == 0)
            current.append(piece)
            current_w += pw
        flush(True)  # the next unit starts a line of its own, not the tail of a cut unit
    flush(True)
    return lines
