"""Equations, numbers and figures that the package computes when the site is built.

Three MyST constructs, each a Python expression evaluated at build time in the page's namespace
(``ta`` is ``tensoralgebra``, ``np`` is numpy, and every name the page's ```python blocks
define: they all run when the page is read, before its constructs, see checked_examples.py):

- ```{ta-math}``` (display math): the body evaluates to an expression (printed by
  ``ta.to_latex``), a derivation (its rows, as ``ta.Derivation._repr_latex_`` gives them), an
  equation (``tensoralgebra.proof.Equation``: ``lhs = rhs``), a LaTeX string the package wrote,
  or a tuple of these, joined by ``=``. ``:lhs: T`` writes an expression as ``T = ...``, broken
  into rows by the package's derivation renderer. The body may hold statements before its last
  line, the expression.
- {ta-value}`expr` (inline): a string or an integer, put in the text; a float is refused (a
  page formats its numbers: ``f"{x:.3f}"``).
- ```{ta-figure} caption``` (a figure; ``:alt:`` is required): a matplotlib ``Figure``, saved as
  a PNG into the build (``docs/_build/generated``), never committed.

Whatever raises, or gives a value of another kind, fails the build (a warning, and the build
runs with ``-W``) naming the page and the line. :func:`run_page` does what the build does for
one page without Sphinx: ``python docs/_ext/generated.py PAGE [--figures DIR]`` prints every
equation and number of the page and saves its figures (``scripts/run-page`` runs it).
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

#: Where the build writes the figures, relative to the documentation's source folder.
FIGURES = Path("_build") / "generated"
#: Resolution of the figures' PNGs.
DPI = 120
#: The key of the page's namespace in Sphinx's per-document ``env.temp_data``.
NAMESPACE = "examples_namespace"


class GeneratedError(Exception):
    """A construct's code raised, or gave a value of a kind the construct cannot show."""


def base_namespace(namespace: dict | None = None) -> dict:
    """``namespace`` (a fresh dict by default) with ``ta`` and ``np`` added when missing."""
    import numpy as np

    import tensoralgebra as ta

    namespace = {} if namespace is None else namespace
    namespace.setdefault("ta", ta)
    namespace.setdefault("np", np)
    return namespace


def evaluate(code: str, namespace: dict, filename: str = "<page>", line: int = 1):
    """Run ``code`` in ``namespace``: its statements, then its last line, an expression, whose
    value is returned. Anything that goes wrong is a :class:`GeneratedError` whose message holds
    the exception and the last frames of its traceback (lines counted in the page)."""
    try:
        tree = ast.parse(code, filename, "exec")
    except SyntaxError as error:
        raise GeneratedError(f"the code is not Python: {error.msg} in {error.text!r}") from None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise GeneratedError(f"the code must end with an expression, got {code.strip()!r}")
    ast.increment_lineno(tree, line - 1)
    *statements, last = tree.body
    try:
        exec(compile(ast.Module(statements, []), filename, "exec"), namespace)
        return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
    except Exception as error:
        trace = "".join(traceback.format_exception(error, limit=-3))
        raise GeneratedError(f"{code.strip()!r} raised {type(error).__name__}:\n{trace}") from None


#: The width of the site's text column for the derivations' line breaking, in the ems of the
#: package's width estimate (made for a printed A4 page of 48 em): MathJax draws math larger
#: than a 10pt page, and furo's column is about 46 em of body text.
WEB_TEXT_WIDTH = 34.0


def to_math(value, lhs: str | None = None) -> str:
    """The LaTeX of a ``ta-math`` value (see the module's docstring)."""
    import tensoralgebra as ta
    from tensoralgebra.expr import Expr
    from tensoralgebra.latex.render import math_block
    from tensoralgebra.proof import Equation

    if isinstance(value, ta.Derivation) and lhs is None:
        block = math_block(value, text_width=WEB_TEXT_WIDTH)
        return block.strip().removeprefix("$$").removesuffix("$$").strip()
    if isinstance(value, Expr) and lhs is not None:
        return to_math(ta.Derivation.start("", value, lhs=lhs))
    if lhs is not None:
        raise GeneratedError(f":lhs: goes with an expression, got {type(value).__name__}")
    if isinstance(value, Expr):
        return ta.to_latex(value)
    if isinstance(value, Equation):
        return f"{ta.to_latex(value.lhs)} = {ta.to_latex(value.rhs)}"
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, tuple) and value and not any(isinstance(v, tuple) for v in value):
        return " = ".join(to_math(v) for v in value)
    raise GeneratedError(
        "ta-math shows an expression, a derivation, an equation, a LaTeX string or a tuple of "
        f"them, got {type(value).__name__}: {value!r:.80}"
    )


def to_text(value) -> str:
    """The text of a ``ta-value`` value: a string, or an integer (``True``/``False`` refused)."""
    import numpy as np

    if isinstance(value, str) and value:
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        raise GeneratedError(f"ta-value got the float {value!r}: format it, f'{{x:.3f}}'")
    raise GeneratedError(f"ta-value shows a string or an integer, got {type(value).__name__}")


def to_png(value) -> bytes:
    """The PNG of a ``ta-figure`` value: a matplotlib ``Figure``."""
    from matplotlib.figure import Figure

    if not isinstance(value, Figure):
        raise GeneratedError(f"ta-figure draws a matplotlib Figure, got {type(value).__name__}")
    buffer = io.BytesIO()
    value.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


# --- Reading a page without Sphinx -------------------------------------------------------------

DIRECTIVE = re.compile(
    r"^```\{(?P<kind>ta-math|ta-figure)\}[ \t]*(?P<arg>[^\n]*)\n(?P<options>(?::[\w-]+:[^\n]*\n)*)"
    r"(?P<body>.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
ROLE = re.compile(r"\{ta-value\}`(?P<body>[^`]+)`")
OPTION = re.compile(r"^:([\w-]+):[ \t]*(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Construct:
    """One ``ta-math``, ``ta-figure`` or ``ta-value`` of a page: its code and where it is."""

    kind: str
    code: str
    line: int
    options: dict
    argument: str = ""


def constructs(text: str) -> list[Construct]:
    """Every construct of a page's Markdown, in the order of the page."""
    found = []
    for m in DIRECTIVE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        options = dict(OPTION.findall(m.group("options")))
        body_line = line + 1 + m.group("options").count("\n")
        found.append(
            Construct(m.group("kind"), m.group("body"), body_line, options, m.group("arg"))
        )
    for m in ROLE.finditer(text):
        found.append(Construct("ta-value", m.group("body"), text.count("\n", 0, m.start()) + 1, {}))
    return sorted(found, key=lambda c: c.line)


def run_page(page: Path, figures: Path | None = None, out=sys.stdout) -> int:
    """Run ``page``'s examples (checked, as the build checks them), then show each construct:
    the LaTeX of the math, the numbers, and the figures saved into ``figures``. Returns the
    number of constructs; raises :class:`GeneratedError` naming the page and line on failure."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checked_examples import check_page

    text = page.read_text()
    namespace = base_namespace()
    check_page(page, text, namespace=namespace)
    found = constructs(text)
    for i, c in enumerate(found):
        try:
            value = evaluate(c.code, namespace, str(page), c.line)
            if c.kind == "ta-math":
                print(f"{page}:{c.line}: math\n{to_math(value, c.options.get('lhs'))}", file=out)
            elif c.kind == "ta-value":
                print(f"{page}:{c.line}: {c.code} = {to_text(value)}", file=out)
            else:
                png = to_png(value)
                if figures is not None:
                    figures.mkdir(parents=True, exist_ok=True)
                    (figures / f"{page.stem}-{i}.png").write_bytes(png)
                print(f"{page}:{c.line}: figure {c.argument!r} ({len(png):,} bytes)", file=out)
        except GeneratedError as error:
            raise GeneratedError(f"{page}:{c.line}: {error}") from None
    return len(found)


def main(argv=None) -> int:
    # The package of this checkout, not another installed one (as docs/conf.py does).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    parser = argparse.ArgumentParser(description=run_page.__doc__.split(":")[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--figures", type=Path, help="save the pages' figures here (PNG)")
    args = parser.parse_args(argv)
    for page in args.pages:
        if not page.is_file():
            print(f"run-page: {page} is not a file", file=sys.stderr)
            return 2
        try:
            run_page(page, args.figures)
        except (GeneratedError, AssertionError) as error:
            print(f"run-page: {error}", file=sys.stderr)
            return 1
    return 0


# --- The Sphinx extension ----------------------------------------------------------------------


def _namespace(env) -> dict:
    # checked_examples stores the namespace its examples ran in; a page without examples (or a
    # build without that extension) gets a fresh one.
    return base_namespace(env.temp_data.setdefault(NAMESPACE, {}))


def _directives():
    from docutils import nodes
    from docutils.parsers.rst import directives
    from sphinx.util.docutils import SphinxDirective

    class Generated(SphinxDirective):
        has_content = True

        def first_line(self) -> int:
            # The line of the page the body starts on, after the fence and the options (MyST
            # does not say where; the body's lines are found in the directive's text).
            lines, body = self.block_text.splitlines(), list(self.content)
            for i in range(1, len(lines)):
                if lines[i : i + len(body)] == body:
                    return self.lineno + i
            return self.lineno + 1

        def value(self):
            code = "\n".join(self.content)
            filename = str(self.env.doc2path(self.env.docname))
            try:
                return evaluate(code, _namespace(self.env), filename, self.first_line())
            except GeneratedError as error:
                raise self.error(f"{self.name}: {error}") from None

    class TaMath(Generated):
        option_spec: ClassVar[dict] = {"lhs": directives.unchanged_required}

        def run(self):
            try:
                latex = to_math(self.value(), self.options.get("lhs"))
            except GeneratedError as error:
                raise self.error(f"ta-math: {error}") from None
            node = nodes.math_block(latex, latex, nowrap=False, number=None, docname=None)
            node["docname"] = self.env.docname
            self.set_source_info(node)
            return [node]

    class TaFigure(Generated):
        optional_arguments = 1
        final_argument_whitespace = True
        option_spec: ClassVar[dict] = {"alt": directives.unchanged_required}

        def run(self):
            if "alt" not in self.options:
                raise self.error("ta-figure: give the figure's :alt: text")
            try:
                png = to_png(self.value())
            except GeneratedError as error:
                raise self.error(f"ta-figure: {error}") from None
            name = f"{self.env.docname.replace('/', '-')}-{self.lineno}.png"
            folder = Path(self.env.srcdir) / FIGURES
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(png)
            image = nodes.image(uri=f"/{FIGURES.as_posix()}/{name}", alt=self.options["alt"])
            figure = nodes.figure("", image)
            if self.arguments:
                caption, messages = self.state.inline_text(self.arguments[0], self.lineno)
                figure += nodes.caption(self.arguments[0], "", *caption)
                figure += messages
            self.set_source_info(figure)
            return [figure]

    return TaMath, TaFigure


def value_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{ta-value}`expr```: the value of ``expr``, computed at build time, as text."""
    from docutils import nodes

    env = inliner.document.settings.env
    try:
        shown = to_text(evaluate(text, _namespace(env), str(env.doc2path(env.docname)), lineno))
    except GeneratedError as error:
        message = inliner.reporter.error(f"ta-value: {error}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    return [nodes.inline(rawtext, shown, classes=["ta-value"])], []


def setup(app) -> dict:
    """Sphinx extension: the ``ta-math`` and ``ta-figure`` directives, the ``ta-value`` role."""
    math, figure = _directives()
    app.add_directive("ta-math", math)
    app.add_directive("ta-figure", figure)
    app.add_role("ta-value", value_role)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    raise SystemExit(main())
