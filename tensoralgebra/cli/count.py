"""``tensoralgebra count``: the number of logit terms per order and in all, in closed form.

Counts of any size: up to :data:`~tensoralgebra.cli.output.SHORT_DIGITS` digits they print
exactly, longer ones rounded with their number of digits (``--exact`` prints every digit; JSON
always holds the exact integers).
"""

from __future__ import annotations

import argparse

import tensoralgebra as ta
from tensoralgebra.cli import options, output
from tensoralgebra.cli.layout import label
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
    orders = range(arch.n_layers + 1) if order is None else (order,)
    rows = [(k, ta.path_kind(k), ta.count_logit_paths(arch, order=k)) for k in orders]
    total = ta.count_logit_paths(arch, order=order)
    if args.format == "json":
        head = {"architecture": arch.to_dict(), "order": order, "count": total}
        by_order = ({"order": k, "kind": kind, "count": n} for k, kind, n in rows)
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
    if not args.exact and output.digits(max(numbers)) > output.SHORT_DIGITS:
        output.emit(
            [
                f"# counts of over {output.SHORT_DIGITS} digits are rounded: --exact "
                "prints every digit"
            ]
        )
    return 0
