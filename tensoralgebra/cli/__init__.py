"""The ``tensoralgebra`` command: a thin driver over one module per command.

Each command module (:data:`COMMANDS`) has ``register(subparsers)``, which adds its parser with
its help and sets ``run``, and ``run(args) -> int``. Modules are imported when the parser is
built, and import what their command needs (torch, SymPy, networkx) only when it runs.

This driver is the one place where failures become messages: bad input (a
:class:`~tensoralgebra.errors.TensorAlgebraError`, an output file that cannot be written) is one
line on standard error and exit status 2; a size refused with a value that fits
(:class:`~tensoralgebra.errors.ExpansionLimitError`) names the flag to use; a reader that leaves
early (``| head``) ends the command quietly.

Exit status: 0 success, 1 a demo, verify or prove check failed, 2 bad input or a listing over
the limit, 141 the reader of the output left (as Unix tools, 128 + SIGPIPE).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from tensoralgebra import __version__
from tensoralgebra.cli import options, output
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError

#: The commands, in the order ``--help`` lists them: each a module of this package.
COMMANDS = (
    "demo",
    "expand",
    "count",
    "scores",
    "verify",
    "top_paths",
    "paths",
    "graph",
    "derive",
    "prove",
    "train",
    "circuits",
    "models",
)

#: Exit status for bad input, as argparse uses.
USAGE_ERROR = 2
#: Exit status when the reader of standard output left: 128 + SIGPIPE, as Unix tools.
BROKEN_PIPE = 141


class CommandLineError(Exception):
    """Bad command-line syntax: the message is the whole line to print."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block: the message already names the argument.
        raise CommandLineError(f"{self.prog}: error: {message} (see {self.prog} --help)")


_EXAMPLES = """\
  tensoralgebra demo                            a guided tour: 2 layers of 2 heads
  tensoralgebra expand --heads 2,2              every logit term, one per line
  tensoralgebra count --heads 96x96 --order 2   closed-form counts
  tensoralgebra verify --heads 2,2 --seed 0     a random model, checked term by term"""
_STATUS = "exit status: 0 success, 1 a check failed, 2 bad input or a listing over the limit"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tensoralgebra`` command, every command registered."""
    parser = _Parser(
        prog="tensoralgebra",
        description="The mathematics of attention-only transformers (Elhage et al. 2021, 'A "
        "Mathematical Framework for Transformer Circuits'): expand the logits and every head's "
        "attention scores into path terms, check them against forward passes, list them as "
        "graph paths, typeset the derivations and check the proofs.",
        **options.described(_EXAMPLES, _STATUS, options.ASCII_NOTE),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def _attach_values(argv: Sequence[str]) -> list[str]:
    # argparse reads "-1,2" as an option, so "--heads -1,2" would fail with "expected one
    # argument" instead of naming the negative count: glue such values to their option.
    out: list[str] = []
    for token in argv:
        if out and out[-1] == "--heads" and token.startswith("-") and not token.startswith("--"):
            out[-1] = f"--heads={token}"
        else:
            out.append(token)
    return out


def message(error: TensorAlgebraError) -> str:
    """The line that explains ``error`` on the command line: a size refused with a value that
    fits names the flag that takes it (``--max-order 1``), not the library's parameter."""
    if isinstance(error, ExpansionLimitError) and error.option is not None:
        return f"{error.reason}: {options.advice(error.option, error.value)}"
    return str(error)


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    prog = parser.prog
    try:
        args = parser.parse_args(argv)
        prog = f"{parser.prog} {args.command}"
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    except CommandLineError as error:
        print(error, file=sys.stderr)
    except TensorAlgebraError as error:
        print(f"{prog}: error: {message(error)}", file=sys.stderr)
    except MemoryError:
        print(f"{prog}: error: out of memory: ask for smaller sizes", file=sys.stderr)
    return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = _attach_values(sys.argv[1:] if argv is None else argv)
    try:
        with output.notation_for_the_terminal():
            return _run(build_parser(), argv)
    except BrokenPipeError:
        # The reader (e.g. `| head`) left: stop quietly, and keep Python's exit-time flush from
        # raising again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
