"""Sphinx configuration of the documentation site (built by scripts/build-docs)."""

import sys
from pathlib import Path

from docutils.transforms.parts import ContentsFilter
from sphinx.errors import ConfigError
from sphinx.transforms import SphinxContentsFilter

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

# MathJax is served from the site itself (no CDN, works from file://): scripts/build-docs
# installs it from npm into _build/vendor, which is copied into _static.
VENDOR = DOCS / "_build" / "vendor" / "static"
if not (VENDOR / "mathjax" / "tex-svg-full.js").is_file():
    raise ConfigError(f"MathJax is missing from {VENDOR}: build the site with scripts/build-docs")

# The pages' examples (run by checked_examples) use the test suite's Hypothesis profiles, so the
# build runs them exactly as tests/test_docs.py does (deterministic, no deadline).
import conftest  # noqa: E402, F401

# Sphinx drops cross-references from the titles it copies into tables of contents, but not
# downloads; a heading that links a file (docs/proofs.md links each proof's source) then breaks
# the table of contents. Drop them the same way, keeping their text.
SphinxContentsFilter.visit_download_reference = ContentsFilter.ignore_node_but_process_children

project = "tensoralgebra"
author = "the tensoralgebra authors"
copyright = "the tensoralgebra authors"
root_doc = "index"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
    "checked_examples",
    "explorer",
    "generated",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_ext", "_static", "Thumbs.db", ".DS_Store"]

# The pages are Markdown with $...$ and $$...$$ math, headings linked by their GitHub slugs.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 4

# SVG output: no web fonts to fetch, so math renders the same from file:// as from a server.
mathjax_path = "mathjax/tex-svg-full.js"
# An undefined macro is an error (which the browser check finds), not red text in the page.
mathjax3_config = {"tex": {"packages": {"[-]": ["noundefined"]}}}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = "tensoralgebra"
html_static_path = [str(VENDOR)]
html_show_sourcelink = True
html_copy_source = True
# The summaries under search results are fetched from the pages, which browsers refuse from
# file://: the results list the pages and their sections without them.
html_show_search_summary = False
pygments_style = "sphinx"
pygments_dark_style = "monokai"

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


def _drop_object_base(app, name, obj, options, bases) -> None:
    # "Bases: object" says nothing; the bases of exceptions (ValueError, ...) do.
    bases[:] = [base for base in bases if base is not object]


def setup(app) -> None:
    app.connect("autodoc-process-bases", _drop_object_base)
