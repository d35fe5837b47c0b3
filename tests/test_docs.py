"""The documentation's examples run, and print what the pages say they print.

On every page of docs/, the ```python blocks run in order in one namespace; a ```text block that
follows a ```python block directly is the output that code must print.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def examples(page: Path) -> list[tuple[str, str | None]]:
    """(code, expected output or None) for each python block of the page, in order."""
    text = page.read_text()
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(text)]
    out = []
    for i, (lang, body, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        adjacent = following and following[0] == "text" and not text[end : following[2]].strip()
        out.append((body, following[1] if adjacent else None))
    return out


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_examples_print_what_the_page_says(page):
    namespace: dict = {}
    for code, expected in examples(page):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, str(page), "exec"), namespace)
        if expected is not None:
            got = [line.rstrip() for line in printed.getvalue().rstrip().splitlines()]
            want = [line.rstrip() for line in expected.rstrip().splitlines()]
            assert got == want, f"{page.name}: the example\n{code}\nprinted\n{printed.getvalue()}"


def test_the_rules_table_lists_every_rule():
    from tensoralgebra.expr import RULES

    page = (DOCS / "expressions.md").read_text()
    missing = [name for name in RULES if f"| `{name}` |" not in page]
    assert not missing, f"docs/expressions.md's rules table lacks {missing}"
