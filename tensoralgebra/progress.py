"""Progress bars for long work: on standard error, and only when it is a terminal.

A bar shows how far a long run has gone (terms checked, training steps) without touching
standard output, so piped or redirected output stays clean and tests see no bar. Pass
``enabled=True`` or ``False`` to override the terminal test.

>>> import io, contextlib
>>> with contextlib.redirect_stderr(io.StringIO()):  # not a terminal: no bar
...     with progress(total=3, description="terms") as bar:
...         for _ in range(3):
...             bar.update(1)
>>> bar.disable
True
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(
    total: int | None,
    description: str,
    *,
    unit: str = "it",
    enabled: bool | None = None,
    leave: bool = False,
) -> tqdm:
    """A ``tqdm`` bar of ``total`` steps (``None``: unknown) named ``description``, written to
    standard error, disabled unless standard error is a terminal (or ``enabled`` says so). Use it
    as a context manager; ``bar.set_postfix(...)`` adds figures such as a loss."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        disable=not enabled,
        leave=leave,
        dynamic_ncols=True,
        unit_scale=True,
    )
