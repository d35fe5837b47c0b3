"""The ``proofs/`` folder: finding, loading and running its theorems, and the summary table.

Each file ``NN_name.py`` of the folder defines ``THEOREM``, a :class:`~tensoralgebra.proof.Theorem`.
The folder is the one beside the package in a checkout of the repository (the package is
installed from it in editable mode), or any folder given explicitly.

>>> [path.stem for path in find_proofs(names=["2", "mixed_product"])]
['02_mixed_product']
>>> rows = [("01_example", ProofReport("x", 2, (CheckResult("step 1", "rule", True),), 0.25))]
>>> print(table(rows))
proof       steps  checks    time
01_example      2     1/1  0.25 s
1 proof: 1/1 checks passed in 0.25 s
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.proof.report import CheckResult, ProofReport, short
from tensoralgebra.proof.theorem import Theorem

#: The file names of proofs: two digits (the teaching order), an underscore, a name.
PATTERN = "[0-9][0-9]_*.py"


#: The Hypothesis profile :func:`prove_profile` loads (see there).
PROFILE = "tensoralgebra-prove"


def _load_profile() -> None:
    """Load the Hypothesis profile of the ``prove`` command for the rest of the process.

    Facts run without a deadline (a first call that imports torch or compiles is slow, not
    wrong) and without an example database (the command writes nothing into the folder it runs
    from); under ``CI=true`` their examples are derandomized, as in the test suite. Callers use
    :func:`prove_profile`, which restores the settings it found (a test session's own profile).
    """
    from hypothesis import HealthCheck, settings

    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    settings.register_profile(
        PROFILE,
        deadline=None,
        max_examples=60,
        derandomize=ci,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(PROFILE)


@contextlib.contextmanager
def prove_profile() -> Iterator[None]:
    """Run the block under the profile of the ``prove`` command (see :func:`_load_profile`),
    then restore the Hypothesis settings that were in force before."""
    from hypothesis import settings

    previous = settings.default
    _load_profile()
    try:
        yield
    finally:
        settings.register_profile(f"{PROFILE}-previous", parent=previous)
        settings.load_profile(f"{PROFILE}-previous")


def proofs_dir(directory: str | Path | None = None) -> Path:
    """``directory``, or the ``proofs/`` folder beside the package; a clear error if missing."""
    if directory is None:
        import tensoralgebra

        path = Path(tensoralgebra.__file__).resolve().parent.parent / "proofs"
        hint = (
            "the package is not running from a checkout of the repository; pass the proofs "
            "folder of a checkout with --dir"
        )
    else:
        path, hint = Path(directory), "pass the proofs/ folder of a checkout of the repository"
    if not path.is_dir():
        raise TensorAlgebraError(f"no proofs folder at {path}: {hint}")
    return path


def find_proofs(names: Iterable[str] = (), directory: str | Path | None = None) -> list[Path]:
    """The proof files of the folder, in order; ``names`` selects some, each given as the file's
    stem (``02_mixed_product``), its name without the number (``mixed_product``) or the number
    (``02`` or ``2``)."""
    folder = proofs_dir(directory)
    files = sorted(folder.glob(PATTERN))
    if not files:
        raise TensorAlgebraError(f"no proofs in {folder}: no file matches {PATTERN}")
    names = list(names)
    if not names:
        return files
    chosen: list[Path] = []
    for name in names:
        number = name.zfill(2) if name.isdigit() else None
        hits = [f for f in files if name in (f.stem, f.stem[3:]) or f.stem[:2] == number]
        if not hits:
            known = ", ".join(f.stem for f in files)
            raise TensorAlgebraError(f"no proof named {name!r} in {folder}; the proofs are {known}")
        chosen += [f for f in hits if f not in chosen]
    return sorted(chosen)


def load_proof(path: str | Path) -> Theorem:
    """The ``THEOREM`` of the proof file ``path`` (imported once, as the module named by its
    stem, which is how pytest imports it too)."""
    path = Path(path).resolve()
    module = sys.modules.get(path.stem)
    if module is None or Path(getattr(module, "__file__", "")).resolve() != path:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise TensorAlgebraError(f"cannot import the proof file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        try:
            spec.loader.exec_module(module)
        except SystemExit as stop:  # a proof file that exits must not end the whole run
            del sys.modules[path.stem]
            raise TensorAlgebraError(
                f"{path.name} exited (SystemExit: {stop.code!r}) while being imported; a proof "
                "file defines THEOREM and only runs main() under if __name__ == '__main__'"
            ) from None
        except BaseException:
            del sys.modules[path.stem]
            raise
    theorem = getattr(module, "THEOREM", None)
    if not isinstance(theorem, Theorem):
        raise TensorAlgebraError(
            f"{path.name} defines no THEOREM (a tensoralgebra.proof.Theorem), found "
            f"{type(theorem).__name__}"
        )
    return theorem


def load_proofs(
    names: Iterable[str] = (), directory: str | Path | None = None
) -> list[tuple[str, Theorem]]:
    """``(stem, theorem)`` for each selected proof file (see :func:`find_proofs`)."""
    return [(path.stem, load_proof(path)) for path in find_proofs(names, directory)]


def run_proofs(
    names: Iterable[str] = (), directory: str | Path | None = None, **options
) -> list[tuple[str, ProofReport]]:
    """Check each selected proof: ``(stem, report)``. A file that fails to import, exits,
    defines no theorem or raises while checking is reported as one failed check naming the
    file, not raised: the other proofs still run."""
    out = []
    for path in find_proofs(names, directory):
        started = time.perf_counter()
        try:
            report = load_proof(path).check(**options)
        except (Exception, SystemExit) as error:  # a broken proof file is a failed proof
            message = f"{type(error).__name__}: {short(error, 200)}"
            failed = (CheckResult(f"file {path.name}", "import", False, message),)
            report = ProofReport(path.stem, 0, failed, time.perf_counter() - started)
        out.append((path.stem, report))
    return out


def table(rows: list[tuple[str, ProofReport]]) -> str:
    """The summary table: one line per proof (steps, checks passed, time) and a total line."""
    width = max(len("proof"), *(len(name) for name, _ in rows))
    lines = [f"{'proof':<{width}}  steps  checks    time"]
    for name, r in rows:
        checks = f"{r.passed}/{r.total}"
        mark = "" if r.ok else "  FAILED"
        lines.append(f"{name:<{width}}  {r.steps:>5}  {checks:>6}  {r.seconds:>4.2f} s{mark}")
    passed, total = sum(r.passed for _, r in rows), sum(r.total for _, r in rows)
    seconds = sum(r.seconds for _, r in rows)
    failed = sum(not r.ok for _, r in rows)
    proofs = f"{len(rows)} proof{'s' * (len(rows) != 1)}"
    verdict = f"{failed} failed, " if failed else ""
    lines.append(f"{proofs}: {verdict}{passed}/{total} checks passed in {seconds:.2f} s")
    return "\n".join(lines)


def main(path: str | Path) -> int:
    """Run one proof file as a script (``python proofs/02_mixed_product.py``): check it, print
    each failed check and a summary; 0 if every check passed, else 1.

    The file is loaded again under its own name inside :func:`prove_profile`, so that its facts
    run with that profile, whatever ran first as ``__main__``.
    """
    path = Path(path)
    with prove_profile():
        rows = run_proofs([path.stem], path.parent)
    for _, report in rows:
        for failure in report.failures():
            print(failure)
    print(table(rows))
    return 0 if all(r.ok for _, r in rows) else 1
