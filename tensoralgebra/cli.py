"""The ``tensoralgebra`` command: the logit expansion of an attention-only transformer.

Usage::

    tensoralgebra demo
    tensoralgebra expand (--heads SPEC | --layers L) [--positional standard] [--max-order K]
                         [--format text|json]
    tensoralgebra count  (--heads SPEC | --layers L) [--positional standard] [--order K]
                         [--format text|json]
    tensoralgebra verify --heads SPEC [--positional standard] [--d-model N] [--d-head N]
                         [--d-vocab N] [--n-ctx N] [--seed S] [--dtype float64|float32]
                         [--max-order K] [--format text|json]

``--heads SPEC`` gives each layer's head count, comma-separated (``2,2``: two layers of two
heads); an item ``NxH`` stands for N layers of H heads (``3x4`` is ``4,4,4``, ``1,2x3`` is
``1,3,3``); ``""`` is the zero-layer model and ``0`` a layer without heads. ``--layers L`` leaves
the head sets symbolic (the schematic architecture): its terms are grouped Σ terms.

``expand`` lists the terms (``ta.logit_paths``) and refuses to list more than
:data:`~tensoralgebra.expr.expand.MAX_TERMS` of them; ``count`` uses the closed form
(``ta.count_logit_paths``), instant at any size.

``verify`` builds a random model of that architecture and checks its logit and score expansions
against its forward passes (``ta.verify``).

Exit status: 0 success, 1 a demo or verify check failed, 2 bad input or a listing over the limit.

>>> parse_heads("2,2"), parse_heads("3x4"), parse_heads("1, 2x0"), parse_heads("")
((2, 2), (4, 4, 4), (1, 0, 0), ())
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import NoReturn

import tensoralgebra as ta
from tensoralgebra import cli_demo
from tensoralgebra.architecture import POSITIONAL_KINDS
from tensoralgebra.cli_format import (
    brief,
    count_column,
    json_lines,
    label,
    path_heads,
    path_record,
)
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import MAX_TERMS
from tensoralgebra.paths import check_order
from tensoralgebra.printing.text import to_text

#: Subcommands that live in modules of their own, each with ``register(commands)``; imported
#: when the parser is built, since they use this module's options and helpers.
SUBCOMMAND_MODULES = ("cli_scores", "cli_verify", "cli_graph", "cli_derive", "cli_prove")

#: Exit status for bad input, as argparse uses.
USAGE_ERROR = 2


class CommandLineError(Exception):
    """Bad command-line input: the message is the whole line to print."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block: the message already names the argument.
        raise CommandLineError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def parse_heads(spec: str) -> tuple[int, ...]:
    """Head counts per layer from ``--heads``: comma-separated counts, ``NxH`` for N layers of
    H heads, ``""`` for no layers. Negative counts pass through for the Architecture to refuse."""
    if not spec.strip():
        return ()
    heads: list[int] = []
    for item in spec.split(","):
        text = item.strip().lower()
        layers, x, count = text.partition("x")
        try:
            n, h = (int(layers), int(count)) if x else (1, int(text))
        except ValueError:
            raise TensorAlgebraError(
                f"--heads {spec!r}: {text!r} is neither a head count nor NxH (N layers of H heads)"
            ) from None
        if n < 0:
            raise TensorAlgebraError(f"--heads {spec!r}: {text!r} asks for {n} layers")
        heads += [h] * n
    return tuple(heads)


def architecture(args: argparse.Namespace) -> ta.Architecture:
    """The architecture that ``--heads`` or ``--layers`` and ``--positional`` describe."""
    positional = None if args.positional == "none" else args.positional
    try:
        if args.layers is not None:
            return ta.Architecture.schematic(args.layers, positional)
        return ta.Architecture(parse_heads(args.heads), positional)
    except TensorAlgebraError as error:
        # Say which option the bad value came from, unless the message already does.
        given, message = _given(args), str(error)
        raise TensorAlgebraError(message if given in message else f"{given}: {message}") from None


def _given(args: argparse.Namespace) -> str:
    return f"--layers {args.layers}" if args.layers is not None else f"--heads {args.heads!r}"


def cumulative_counts(arch: ta.Architecture, top: int) -> list[int]:
    """``[n_0, n_0 + n_1, ...]``: how many terms have order ≤ k, for k = 0..top (closed form)."""
    return list(accumulate(ta.count_logit_paths(arch, order=k) for k in range(top + 1)))


def _refuse(args: argparse.Namespace, upto: list[int]) -> NoReturn:
    top, fits = len(upto) - 1, [k for k, n in enumerate(upto) if n <= MAX_TERMS]
    # Order 0 always fits (one or two direct terms), so there is always a --max-order to offer.
    bound = f" of order ≤ {top}" if args.max_order is not None else ""
    raise TensorAlgebraError(
        f"{_given(args)} has {brief(upto[-1])} terms{bound}, more than the {MAX_TERMS} that "
        f"expand lists; lower --max-order (--max-order {fits[-1]} lists {upto[fits[-1]]}), "
        "or count them with 'tensoralgebra count'"
    )


def run_expand(args: argparse.Namespace) -> int:
    """``tensoralgebra expand``: every term, one per line (text) or as JSON."""
    arch = architecture(args)
    top = check_order(arch, args.max_order, "--max-order")
    top = arch.n_layers if top is None else top
    upto = cumulative_counts(arch, top)
    count = upto[-1]
    if count > MAX_TERMS:
        _refuse(args, upto)
    paths = list(ta.logit_paths(arch, top))
    if args.format == "json":
        head = {"architecture": arch.to_dict(), "max_order": args.max_order, "count": count}
        _emit(json_lines(head, "terms", map(path_record, paths)))
        return 0
    names = [path_heads(p) for p in paths]
    width = max(map(len, ["heads", *names]))
    bound = "" if args.max_order is None else f" of order ≤ {top}"
    _emit([f"# {label(arch)}: {count} term{'s' * (count != 1)}{bound}"])
    _emit([f"{'# kind':<8} {'order':>5}  {'heads':<{width}}  {'source':<8}  term"])
    _emit(
        f"{p.kind:<8} {p.order:>5}  {name:<{width}}  {p.source:<8}  {to_text(p.expr)}"
        for p, name in zip(paths, names)
    )
    return 0


def run_count(args: argparse.Namespace) -> int:
    """``tensoralgebra count``: the number of terms per order and in all, in closed form."""
    arch = architecture(args)
    order = check_order(arch, args.order, "--order")
    orders = range(arch.n_layers + 1) if order is None else (order,)
    rows = [(k, ta.path_kind(k), ta.count_logit_paths(arch, order=k)) for k in orders]
    total = ta.count_logit_paths(arch, order=order)
    if args.format == "json":
        head = {"architecture": arch.to_dict(), "order": order, "count": total}
        by_order = ({"order": k, "kind": kind, "count": n} for k, kind, n in rows)
        _emit(json_lines(head, "by_order", by_order))
        return 0
    grouped = " (grouped Σ terms, head sets symbolic)" if arch.is_schematic else ""
    labels = [f"order {k:<3} {kind:<8}" for k, kind, _ in rows]
    numbers = [n for _, _, n in rows]
    if order is None:
        labels.append(f"{'total':<18}")
        numbers.append(total)
    _emit([f"# {label(arch)}: logit terms in closed form{grouped}"])
    _emit(f"{text}  {number}" for text, number in zip(labels, count_column(numbers)))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """``tensoralgebra demo``: the two-layer expansion, printed and checked."""
    return cli_demo.run()


def _emit(lines: Iterable[str]) -> None:
    for line in lines:
        print(line)


def _architecture_options(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--heads",
        metavar="SPEC",
        help="head counts per layer: '2,2'; NxH = N layers of H heads ('3x4'); '' = no layers",
    )
    which.add_argument(
        "--layers", metavar="L", type=int, help="L layers with symbolic head sets (schematic)"
    )
    parser.add_argument(
        "--positional",
        choices=[kind or "none" for kind in POSITIONAL_KINDS],
        default="none",
        help="'standard' adds the position source Id ⊗ W_pos to the residual stream",
    )


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")


_EXAMPLES = """examples:
  tensoralgebra expand --heads 2,2             two layers of two heads
  tensoralgebra expand --heads 3x4 --max-order 1 --format json
  tensoralgebra expand --layers 2 --positional standard
  tensoralgebra count --heads 96x96 --order 2
  tensoralgebra verify --heads 2,2 --d-model 32 --d-head 8 --d-vocab 50 --n-ctx 16 --seed 0

exit status: 0 success, 1 a demo or verify check failed, 2 bad input or a listing over the limit"""
_WITH_EXAMPLES = {"epilog": _EXAMPLES, "formatter_class": argparse.RawDescriptionHelpFormatter}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tensoralgebra`` command."""
    parser = _Parser(
        prog="tensoralgebra",
        description="The mathematics of attention-only transformers (Elhage et al. 2021, 'A "
        "Mathematical Framework for Transformer Circuits'): expand the logits and every head's "
        "attention scores into path terms, check them against forward passes, list them as "
        "graph paths, typeset the derivations and check the proofs.",
        **_WITH_EXAMPLES,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {ta.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="the 2-layer, 2-heads-per-layer expansion, derived and checked",
        description="Expand the logits of a 2-layer model with 2 heads per layer rule by rule, "
        "and check the terms against the enumerated paths and the closed-form counts.",
    )
    demo.set_defaults(run=run_demo)
    expand = commands.add_parser(
        "expand",
        help="list the logit terms",
        description=f"List the logit terms, one per line, at most {MAX_TERMS} of them.",
        **_WITH_EXAMPLES,
    )
    _architecture_options(expand)
    expand.add_argument("--max-order", metavar="K", type=int, help="only paths of order ≤ K")
    _format_option(expand)
    expand.set_defaults(run=run_expand)
    count = commands.add_parser(
        "count",
        help="count the logit terms in closed form",
        description="Count the logit terms per order and in all, in closed form (any size).",
        **_WITH_EXAMPLES,
    )
    _architecture_options(count)
    count.add_argument("--order", metavar="K", type=int, help="only paths of order K")
    _format_option(count)
    count.set_defaults(run=run_count)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"tensoralgebra.{name}").register(commands)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = _attach_values(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    prog = parser.prog
    try:
        args = parser.parse_args(argv)
        prog = f"{parser.prog} {args.command}"
        return args.run(args)
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    except CommandLineError as error:
        print(error, file=sys.stderr)
        return USAGE_ERROR
    except TensorAlgebraError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        # The reader (e.g. `| head`) left: stop quietly, and keep Python's exit-time flush from
        # raising again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
