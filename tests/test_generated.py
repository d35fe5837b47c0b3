"""The site's generated equations, numbers and figures (docs/_ext/generated.py).

Small Sphinx projects, built here, show that ``ta-math`` emits exactly the package's LaTeX, that
``ta-value`` and ``ta-figure`` put computed values into the page, that the constructs see the
names the page's examples define, and that each bad construct fails the build naming the page
and the line. The learn pages themselves run without Sphinx (``run_page``), as the build runs
them.
"""

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "docs" / "_ext"
sys.path.insert(0, str(EXT))
import generated  # noqa: E402

import tensoralgebra as ta  # noqa: E402

CONF = f"""
import sys
sys.path.insert(0, {str(EXT)!r})
extensions = ["myst_parser", "sphinx.ext.mathjax", "checked_examples", "generated"]
myst_enable_extensions = ["dollarmath", "amsmath"]
exclude_patterns = ["_build"]
"""

GOOD = """\
# Generated

```python
import tensoralgebra as ta

arch = ta.Architecture.schematic(n_layers=2)
print(ta.count_logit_paths(ta.Architecture(heads=(2, 2))))
```

```text
9
```

```{ta-math}
ta.logits(arch)
```

```{ta-math}
ta.derive_logits(ta.Architecture.schematic(n_layers=1))
```

```{ta-math}
:lhs: T
ta.expand(ta.logits(arch))
```

```{ta-math}
one = ta.logits(ta.Architecture.schematic(n_layers=1))
(one, ta.expand(one))
```

There are {ta-value}`ta.count_logit_paths(ta.Architecture(heads=(3, 3)))` paths and
{ta-value}`f"{1 / 3:.3f}"` of a third.

```{ta-figure} The losses of *two* models
:alt: a line
from matplotlib.figure import Figure
fig = Figure(figsize=(2, 2))
fig.subplots().plot([0, 1], [1, 0])
fig
```
"""

# (the page's body after a title line, the line of the fault, a fragment of the build's message)
BAD = [
    ("```{ta-math}\n1 / 0\n```\n", 3, "raised ZeroDivisionError"),
    ("```{ta-math}\nundefined_name\n```\n", 3, "NameError"),
    ("```{ta-math}\n42\n```\n", 3, "got int: 42"),
    ("```{ta-math}\nx = 1\n```\n", 3, "must end with an expression"),
    ("```{ta-math}\n(ta.logits(\n```\n", 3, "the code is not Python"),
    ("```{ta-math}\n:lhs: T\nta.derive_logits(ta.Architecture((1,)))\n```\n", 3, ":lhs: goes with"),
    ("Some {ta-value}`0.5` text.\n", 3, "ta-value got the float 0.5"),
    ("Some {ta-value}`[1, 2]` text.\n", 3, "got list"),
    ("Some {ta-value}`ta.nothing_here` text.\n", 3, "AttributeError"),
    ("```{ta-figure} x\n:alt: a\n42\n```\n", 3, "draws a matplotlib Figure, got int"),
    ("```{ta-figure} x\nfrom matplotlib.figure import Figure\nFigure()\n```\n", 3, ":alt:"),
]


def build(tmp: Path, pages: dict[str, str], *, strict: bool = False):
    """Build ``pages`` (name → Markdown) with Sphinx; returns (app, warnings text)."""
    from sphinx.application import Sphinx

    src = tmp / "src"
    src.mkdir()
    (src / "conf.py").write_text(CONF)
    index = "# Index\n\n```{toctree}\n" + "\n".join(pages) + "\n```\n"
    (src / "index.md").write_text(index)
    for name, text in pages.items():
        (src / f"{name}.md").write_text(text)
    warnings = io.StringIO()
    app = Sphinx(
        src,
        src,
        tmp / "html",
        tmp / "doctrees",
        "html",
        status=None,
        warning=warnings,
        freshenv=True,
    )
    app.build()
    return app, warnings.getvalue()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return build(tmp_path_factory.mktemp("good"), {"page": GOOD})


def math_blocks(app, docname):
    from docutils import nodes

    return [n.astext() for n in app.env.get_doctree(docname).findall(nodes.math_block)]


def test_a_good_page_builds_without_warnings(good):
    _, warnings = good
    assert warnings == ""


def test_the_math_is_the_packages_latex(good):
    app, _ = good
    S = ta.Architecture.schematic
    one = S(n_layers=1)
    assert math_blocks(app, "page") == [
        ta.to_latex(ta.logits(S(n_layers=2))),
        ta.derive_logits(one)._repr_latex_().strip("$\n"),
        ta.Derivation.start("", ta.expand(ta.logits(S(2))), lhs="T")._repr_latex_().strip("$\n"),
        ta.to_latex(ta.logits(one)) + " = " + ta.to_latex(ta.expand(ta.logits(one))),
    ]


def test_values_and_figures_are_put_into_the_page(good):
    app, _ = good
    html = (Path(app.outdir) / "page.html").read_text()
    assert '<span class="ta-value">16</span> paths' in html
    assert '<span class="ta-value">0.333</span> of a third' in html
    images = list((Path(app.outdir) / "_images").glob("page-*.png"))
    assert len(images) == 1 and images[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f'src="_images/{images[0].name}"' in html and 'alt="a line"' in html
    assert "<em>two</em>" in html  # the caption is Markdown


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    pages = {f"bad{i}": f"# Bad {i}\n\n{body}" for i, (body, _, _) in enumerate(BAD)}
    return build(tmp_path_factory.mktemp("bad"), pages)[1]


@pytest.mark.parametrize(("i", "case"), enumerate(BAD), ids=[c[2] for c in BAD])
def test_a_bad_construct_is_an_error_naming_page_and_line(bad, i, case):
    _, line, fragment = case
    lines = [w for w in bad.splitlines() if f"bad{i}.md:{line}: ERROR" in w]
    assert lines, bad
    assert fragment in bad.split(f"bad{i}.md:{line}: ERROR", 1)[1].split(".md:")[0]


def test_a_construct_that_raises_fails_the_build(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(CONF)
    (src / "index.md").write_text("# Index\n\nText.\n\n```{ta-math}\n1 / 0\n```\n")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(src), str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "index.md:5: ERROR: ta-math: '1 / 0' raised ZeroDivisionError" in done.stderr
    assert 'index.md", line 6' in done.stderr  # the traceback's line: the body's, in the page


# (value, the error's fragment) for the converters the directives and the role share
REFUSED = [
    (generated.to_math, 3, "got int"),
    (generated.to_math, "", "got str"),
    (generated.to_math, (), "got tuple"),
    (generated.to_math, ((ta.logits(ta.Architecture(())),),), "got tuple"),
    (generated.to_text, 1.5, "float 1.5"),
    (generated.to_text, True, "got bool"),
    (generated.to_text, "", "got str"),
    (generated.to_png, "figure", "got str"),
]


@pytest.mark.parametrize(("convert", "value", "fragment"), REFUSED)
def test_values_a_construct_cannot_show_are_refused(convert, value, fragment):
    with pytest.raises(generated.GeneratedError, match=fragment):
        convert(value)


def test_evaluate_counts_lines_in_the_page():
    code = textwrap.dedent("""\
        x = 1
        y = x / 0
        y""")
    with pytest.raises(generated.GeneratedError, match=r'page.md", line 11'):
        generated.evaluate(code, {}, "page.md", line=10)


LEARN = sorted((ROOT / "docs" / "learn").glob("*.md"))


@pytest.mark.parametrize("page", LEARN, ids=lambda p: p.name)
def test_the_learn_pages_run(page, tmp_path):
    out = io.StringIO()
    generated.run_page(page, tmp_path, out=out)
    assert "raised" not in out.getvalue()


def test_the_page_runner_names_page_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\nIt has {ta-value}`1 / 0` in it.\n")
    with pytest.raises(generated.GeneratedError, match=r"page.md:3: '1 / 0' raised Zero"):
        generated.run_page(page, out=io.StringIO())
    assert generated.main([str(page)]) == 1
    assert generated.main([str(tmp_path / "missing.md")]) == 2
