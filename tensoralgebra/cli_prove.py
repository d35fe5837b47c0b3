"""``tensoralgebra prove``: run the proofs of the repository's ``proofs/`` folder.

    tensoralgebra prove [NAME ...] [--dir DIR] [--examples N]

Each proof file holds one theorem; every step of its derivations is re-derived by its rules,
checked exactly with SymPy and numerically with Hypothesis, and its facts are run. Prints one line
per proof (steps, checks passed, time) and every failed check; exit status 1 if any check failed.
"""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``prove`` subcommand to the ``tensoralgebra`` parser."""
    parser = commands.add_parser(
        "prove",
        help="check the proofs in proofs/ (every step re-derived, exactly and numerically)",
        description="Check the theorems of the proofs/ folder: each derivation step by its "
        "rules, exactly with SymPy and numerically with Hypothesis, and each fact.",
        epilog="examples:\n  tensoralgebra prove\n  tensoralgebra prove mixed_product 07\n"
        "  tensoralgebra prove --dir path/to/proofs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser.set_defaults(run=run_prove)


def run_prove(args: argparse.Namespace) -> int:
    """Run the proofs, print the table and the failures; 0 if all passed, else 1."""
    from tensoralgebra.errors import TensorAlgebraError
    from tensoralgebra.proof.runner import find_proofs, run_proofs, table, use_profile

    if args.examples is not None and args.examples < 1:
        raise TensorAlgebraError(f"--examples must be at least 1, got {args.examples}")
    find_proofs(args.names, args.dir)  # bad names or folder: a usage error before any work
    use_profile()
    options = {} if args.examples is None else {"examples": args.examples}
    rows = run_proofs(args.names, args.dir, **options)
    print(table(rows), flush=True)
    failures = [(name, f) for name, r in rows for f in r.failures()]
    for name, failure in failures:
        print(f"{name}: {failure}")
    return 1 if failures else 0
