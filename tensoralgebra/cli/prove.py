"""``tensoralgebra prove``: run the proofs of the repository's ``proofs/`` folder.

Each proof file holds one theorem; every step of its derivations is re-derived by its rules,
checked exactly with SymPy and numerically with Hypothesis, and its facts are run. Prints one line
per proof (steps, checks passed, time) and every failed check; exit status 1 if any check failed.
"""

from __future__ import annotations

import argparse

from tensoralgebra import validation
from tensoralgebra.cli import options, output

_EXAMPLES = """\
  tensoralgebra prove
  tensoralgebra prove mixed_product 07
  tensoralgebra prove --dir path/to/proofs"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prove`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "prove",
        help="check the proofs in proofs/ (every step re-derived, exactly and numerically)",
        description="Check the theorems of the proofs/ folder: each derivation step by its "
        "rules, exactly with SymPy and numerically with Hypothesis, and each fact.",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="proofs to run: file stem (02_mixed_product), name (mixed_product) or number (2)",
    )
    parser.add_argument("--dir", metavar="DIR", help="the proofs folder (default: the checkout's)")
    parser.add_argument(
        "--examples",
        metavar="N",
        type=int,
        help="Hypothesis examples per derivation in the numeric check (default 20)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the proofs, print the table and the failures; 0 if all passed, else 1."""
    # SymPy and Hypothesis: only when proofs run.
    from tensoralgebra.proof.runner import find_proofs, prove_profile, run_proofs, table

    if args.examples is not None:
        validation.positive_integer(args.examples, "--examples")
    find_proofs(args.names, args.dir)  # bad names or folder: a usage error before any work
    options = {} if args.examples is None else {"examples": args.examples}
    with prove_profile():
        rows = run_proofs(args.names, args.dir, **options)
    output.emit([table(rows)])
    failures = [(name, f) for name, r in rows for f in r.failures()]
    output.emit(f"{name}: {failure}" for name, failure in failures)
    return 1 if failures else 0
