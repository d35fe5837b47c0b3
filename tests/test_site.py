"""The documentation site, loaded page by page in headless Chromium from file://.

The built site (``scripts/build-docs``) must pass every check of scripts/site_check.py; a small
site of broken pages shows that each check catches what it is for. Skipped, with the reason, when
Chromium (``scripts/install-chromium``) or the built site is missing.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import site_check  # noqa: E402

SITE = site_check.SITE
MATHJAX = ROOT / "docs" / "_build" / "vendor" / "static" / "mathjax" / "tex-svg-full.js"

needs_chromium = pytest.mark.skipif(
    site_check.find_chromium() is None,
    reason="chromium is not installed (scripts/install-chromium)",
)
needs_site = pytest.mark.skipif(
    not (SITE / "index.html").is_file(), reason="the site is not built (scripts/build-docs)"
)


@needs_site
def test_the_site_fetches_nothing_from_the_network():
    assert site_check.remote_resources(SITE) == []


@needs_site
def test_every_page_of_the_toctree_is_built():
    pages = {p.relative_to(SITE).as_posix() for p in site_check.pages_of(SITE)}
    sources = {
        p.relative_to(ROOT / "docs").with_suffix(".html").as_posix()
        for p in (ROOT / "docs").rglob("*.md")
        if "_build" not in p.parts
    }
    assert sources <= pages, sorted(sources - pages)


@needs_chromium
@needs_site
def test_every_page_passes_the_browser_check(tmp_path):
    problems = site_check.check_site(SITE, screenshots=tmp_path)
    assert problems == []
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert shots == sorted(
        [n.replace("/", "-").replace(".html", ".png") for n in site_check.MAIN_PAGES]
        + ["search.png"]
    )
    assert all(p.stat().st_size > 10_000 for p in tmp_path.glob("*.png"))


def _page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


MATHJAX_HEAD = f'<script src="{MATHJAX.as_uri()}"></script>'
# The site's MathJax configuration (docs/conf.py): an undefined macro is an error, not red text.
SITE_MATHJAX_HEAD = (
    "<script>window.MathJax = {tex: {packages: {'[-]': ['noundefined']}}}</script>" + MATHJAX_HEAD
)
# (page, its HTML, a fragment of the problem the check must report for it)
BROKEN = [
    ("raw-math.html", _page("<p>$$x^2$$ was never typeset</p>"), "raw TeX in the text"),
    ("raw-paren.html", _page(r"<p>\(x\) was never typeset</p>"), "raw TeX in the text"),
    ("no-mathjax.html", _page(r'<span class="math">\(x\)</span>'), "MathJax did not load"),
    (
        "unrendered.html",
        _page(r'<span class="math">\(x\)</span>'),
        "unrendered math: '\\\\(x\\\\)'",
    ),
    (
        "tex-error.html",
        _page(r'<span class="math">\(x^1^2\)</span>', MATHJAX_HEAD),
        "MathJax error",
    ),
    (
        "undefined-macro.html",
        _page(r'<span class="math">\(\nosuchmacro x\)</span>', SITE_MATHJAX_HEAD),
        "MathJax error: 'Undefined control sequence \\\\nosuchmacro'",
    ),
    ("console.html", _page("<script>console.error('boom')</script>"), "console error: boom"),
    ("exception.html", _page("<script>throw new Error('kaput')</script>"), "Error: kaput"),
    (
        "remote.html",
        _page('<img src="http://127.0.0.1:9/remote.png">'),
        "requests http://127.0.0.1:9/remote.png",
    ),
    (
        "remote-static.html",
        _page("", '<link rel="stylesheet" href="https://127.0.0.1:9/theme.css">'),
        "loads from the network",
    ),
    ("link.html", _page('<a href="missing.html">x</a>'), "which does not exist"),
    ("anchor.html", _page('<a href="index.html#nowhere">x</a>'), "has no such anchor"),
    ("outside.html", _page('<a href="../outside.txt">x</a>'), "outside the site"),
    ("image.html", _page('<img src="missing.png">'), "image did not load"),
]


@pytest.fixture(scope="module")
def broken_site_problems(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    site = root / "html"
    site.mkdir()
    (root / "outside.txt").write_text("not part of the site")
    for name, html, _ in BROKEN:
        (site / name).write_text(html)
    (site / "index.html").write_text(_page('<h1 id="top">A page without faults</h1>'))
    return site_check.check_site(site, search=False)


@needs_chromium
@pytest.mark.parametrize(("page", "html", "problem"), BROKEN, ids=[b[0] for b in BROKEN])
def test_the_check_reports_a_broken_page(broken_site_problems, page, html, problem):
    if MATHJAX.as_uri() in html and not MATHJAX.is_file():
        pytest.skip("MathJax is not installed (scripts/build-docs installs it)")
    mine = [p for p in broken_site_problems if p.startswith(f"{page}: ")]
    assert any(problem in p for p in mine), mine


@needs_chromium
def test_the_check_passes_a_page_without_faults(broken_site_problems):
    assert [p for p in broken_site_problems if p.startswith("index.html")] == []


@pytest.mark.skipif(site_check.find_chromium() is not None, reason="chromium is installed")
def test_without_chromium_the_check_says_how_to_install_it(tmp_path):
    assert site_check.check_site(tmp_path) == [
        "chromium is not installed (scripts/install-chromium installs it)"
    ]
