"""The TeX engine the ``tex`` tests compile with: under CI=true its absence fails the test (CI
must compile every rendered derivation); elsewhere such tests are skipped with the reason."""

from __future__ import annotations

import os
import re

import pytest

from tensoralgebra.latex.render import ENGINES, compile_tex, find_tex_engine


def require_tex() -> str:
    """The engine's path, or fail (CI) / skip (elsewhere) naming the engines looked for."""
    engine = find_tex_engine()
    if engine:
        return engine
    reason = f"no TeX engine on PATH (looked for {', '.join(ENGINES)}); run scripts/install-tex"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


def compiles(document: str, pdf) -> str:
    """Compile ``document`` to ``pdf`` (the test fails if it does not) and return the log; a
    line wider than the page fails the test too."""
    log = compile_tex(document, pdf, require_tex())
    overfull = re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)
    assert not overfull, f"lines wider than the page by {overfull} pt"
    return log
