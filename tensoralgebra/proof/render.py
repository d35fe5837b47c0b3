r"""Theorems in print: Markdown (with LaTeX math) and LaTeX, statement first, then each
derivation with its steps' justifications, then the facts checked beside them.

The derivations are rendered by :mod:`tensoralgebra.latex.render`: a derivation without a
left-hand side prints its first expression alone, and each later one after ``=`` with its
justification on the left.

>>> from tensoralgebra.expr import MODEL, Space, symbol
>>> from tensoralgebra.proof import Theorem
>>> a, b, c = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "abc")
>>> t = Theorem("Distributivity", "A product distributes over a sum.", r"a (b + c) = a b + a c")
>>> _ = t.prove(t.start(a @ (b + c)).then(a @ b + a @ c, "distribute_product"))
>>> print(t.to_markdown())
### Distributivity
<BLANKLINE>
A product distributes over a sum.
<BLANKLINE>
$$
a (b + c) = a b + a c
$$
<BLANKLINE>
*Proof.*
<BLANKLINE>
$$
\begin{aligned}
 &\mathrel{\phantom{=}} a (b + c) \\
{\scriptstyle\text{(distributivity)}} &= a b + a c
\end{aligned}
$$
<BLANKLINE>
"""

from __future__ import annotations

from tensoralgebra.latex.render import escape_text, math_block, standalone
from tensoralgebra.latex.render import fragment as align

#: How each kind of fact checks, in words.
FACT_KINDS = {
    "exact": "exactly, with SymPy",
    "numeric": "numerically, with Hypothesis",
    "model": "with the torch model",
    "package": "through the package",
}


def _proof_heading(theorem, i: int, derivation) -> str:
    many = len(theorem.derivations) > 1
    if not many and derivation.title == theorem.title:
        return "Proof."
    return f"Proof {'(' + str(i) + ') ' if many else ''}- {derivation.title}."


def markdown(theorem) -> str:
    """The theorem as Markdown: a level-3 heading, the statement, display math, the proof."""
    parts = [f"### {theorem.title}", theorem.statement, f"$$\n{theorem.latex}\n$$"]
    for i, d in enumerate(theorem.derivations, 1):
        parts += [f"*{_proof_heading(theorem, i, d)}*", math_block(d)]
    if theorem.facts:
        items = "\n".join(f"- {f.text} ({FACT_KINDS[f.kind]})" for f in theorem.facts)
        parts.append("*Also checked:*\n\n" + items)
    return "\n\n".join(parts) + "\n"


def fragment(theorem) -> str:
    """The theorem as a LaTeX fragment (``\\subsection*``, the statement, ``align*`` blocks)."""
    parts = [
        rf"\subsection*{{{escape_text(theorem.title)}}}",
        r"\noindent " + escape_text(theorem.statement),
        rf"\[ {theorem.latex} \]",
    ]
    for i, d in enumerate(theorem.derivations, 1):
        parts += [rf"\paragraph{{{escape_text(_proof_heading(theorem, i, d))}}}", align(d)]
    if theorem.facts:
        items = "\n".join(
            rf"\item {escape_text(f.text)} ({FACT_KINDS[f.kind]})" for f in theorem.facts
        )
        parts.append("\\paragraph{Also checked.}\n\\begin{itemize}\n" + items + "\n\\end{itemize}")
    return "\n\n".join(parts) + "\n"


def document(theorem) -> str:
    """A standalone LaTeX document (article, amsmath); landscape only if a line needs it."""
    return collection([theorem])


def collection(theorems, title: str | None = None) -> str:
    """One standalone LaTeX document of several theorems, in order, under ``title``."""
    derivations = [d for t in theorems for d in t.derivations]
    body = [fragment(t) for t in theorems]
    return standalone(body, derivations, escape_text(title) if title else None)
