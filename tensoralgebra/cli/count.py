"""``tensoralgebra count``: the number of logit terms per order and in all, in closed form.

Counts of any size: up to :data:`~tensoralgebra.cli.output.SHORT_DIGITS` digits they print
exactly, longer ones rounded with their number of digits, in the text and in JSON (where a
rounded count is a string); ``--exact`` writes every digit.
"""

from __future__ import annotations

import argparse

import tensoralgebra as ta
from tensoralgebra.cli import options, output
from tensoralgebra.cli.layout import label
from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.paths import check_order

_EXAMPLES = """\
  tensoralgebra count --heads 2,2
  tensoralgebra count --heads 96x96 --order 2
  tensoralgebra count --layers 12 --positional standard --format json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``count`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "count",
        help="count the logit terms in closed form",
        description="Count the logit terms per order and in all, in closed form (any size).",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    options.add_architecture(parser)
    parser.add_argument("--order", metavar="K", type=int, help="only paths of order K")
    parser.add_argument(
        "--exact",
        action="store_true",
        help=f"print every digit of counts longer than {output.SHORT_DIGITS} digits",
    )
    options.add_format(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the counts per order (or of one ``--order``) and the total."""
    arch = options.architecture_from_args(args)
    order = check_order(arch, args.order, "--order")
    shown = None  # the highest order listed, when the whole table is too large to hold
    if order is None:  # every order's count at once; the total in closed form
        total = ta.count_logit_paths(arch)
        try:
            per_order = ta.count_logit_paths_by_order(arch)
        except ExpansionLimitError as err:
            if err.option != "max_order":
                raise
            shown = err.value
            per_order = ta.count_logit_paths_by_order(arch, max_order=shown)
        rows = [(k, ta.path_kind(k), n) for k, n in enumerate(per_order)]
    else:
        total = ta.count_logit_paths(arch, order=order)
        rows = [(order, ta.path_kind(order), total)]
    if args.format == "json":
        count = output.json_count
        head = {"architecture": arch.to_dict(), "order": order, "count": count(total, args.exact)}
        by_order = (
            {"order": k, "kind": kind, "count": count(n, args.exact)} for k, kind, n in rows
        )
        output.emit_json(output.json_lines(head, "by_order", by_order))
        return 0
    grouped = " (grouped Σ terms, head sets symbolic)" if arch.is_schematic else ""
    labels = [f"order {k:<3} {kind:<8}" for k, kind, _ in rows]
    numbers = [n for _, _, n in rows]
    if order is None:
        labels.append(f"{'total':<18}")
        numbers.append(total)
    output.emit([f"# {label(arch)}: logit terms in closed form{grouped}"])
    column = output.count_column(numbers, exact=args.exact)
    output.emit(f"{text}  {number}" for text, number in zip(labels, column))
    if shown is not None:
        output.emit(
            [
                f"# orders {shown + 1}..{arch.n_layers} not listed: their table would not fit "
                "in memory (--order K counts any one order)"
            ]
        )
    if not args.exact and output.digits(max(numbers)) > output.SHORT_DIGITS:
        output.emit(
            [
                f"# counts of over {output.SHORT_DIGITS} digits are rounded: --exact "
                "prints every digit"
            ]
        )
    return 0
