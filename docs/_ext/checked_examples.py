"""The documentation's examples run, and print what the pages say they print.

On every page of docs/, the ```python blocks run in order in one namespace; a ```text block that
follows a ```python block directly is the output that code must print. The test suite
(tests/test_docs.py) and the site's build (a Sphinx extension: ``setup`` below) both check the
pages with :func:`check_page`, so a page whose example output is wrong fails either.
"""

from __future__ import annotations

import contextlib
import io
import re
import traceback
from pathlib import Path

BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def examples(text: str) -> list[tuple[str, str | None]]:
    """(code, expected output or None) for each python block of a page's text, in order."""
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(text)]
    out = []
    for i, (lang, body, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        adjacent = following and following[0] == "text" and not text[end : following[2]].strip()
        out.append((body, following[1] if adjacent else None))
    return out


def check_page(page: Path, text: str | None = None, namespace: dict | None = None) -> int:
    """Run the examples of ``page`` (in ``namespace``, a fresh one by default); raise
    AssertionError at the first wrong output.

    Returns the number of examples run. An example that raises propagates its exception.
    """
    text = page.read_text() if text is None else text
    namespace = {} if namespace is None else namespace
    found = examples(text)
    for code, expected in found:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, str(page), "exec"), namespace)
        if expected is not None:
            got = [line.rstrip() for line in printed.getvalue().rstrip().splitlines()]
            want = [line.rstrip() for line in expected.rstrip().splitlines()]
            assert got == want, f"{page.name}: the example\n{code}\nprinted\n{printed.getvalue()}"
    return len(found)


def _check_source(app, docname: str, source: list[str]) -> None:
    # Every page is read afresh by the build (scripts/build-docs passes -E), so every example
    # runs against the package as it is now. A failure is a warning located at the page, which
    # the build's -W makes an error (--keep-going reports every failing page).
    from sphinx.util import logging

    page = Path(app.env.doc2path(docname))
    if page.suffix != ".md":
        return
    # The page's generated equations, numbers and figures (generated.py) see its examples' names.
    namespace = app.env.temp_data.setdefault("examples_namespace", {})
    try:
        check_page(page, source[0], namespace)
    except AssertionError as error:
        logging.getLogger(__name__).warning(
            f"an example printed something else: {error}", location=docname, type="examples"
        )
    except Exception:
        logging.getLogger(__name__).warning(
            f"an example raised:\n{traceback.format_exc(limit=-3)}",
            location=docname,
            type="examples",
        )


def setup(app) -> dict:
    """Sphinx extension: run every page's examples when the page is read."""
    app.connect("source-read", _check_source)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
