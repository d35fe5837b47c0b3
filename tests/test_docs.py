"""The documentation's examples run, and print what the pages say they print.

On every page of docs/, the ```python blocks run in order in one namespace; a ```text block that
follows a ```python block directly is the output that code must print
(docs/_ext/checked_examples.py).
"""

import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
# The site's build checks the pages with the same code (a Sphinx extension in docs/_ext).
sys.path.insert(0, str(DOCS / "_ext"))
from checked_examples import check_page  # noqa: E402


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_examples_print_what_the_page_says(page):
    check_page(page)


def test_the_rules_table_lists_every_rule():
    from tensoralgebra.expr import RULES

    page = (DOCS / "expressions.md").read_text()
    missing = [name for name in RULES if f"| `{name}` |" not in page]
    assert not missing, f"docs/expressions.md's rules table lacks {missing}"
