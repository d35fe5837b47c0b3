"""``tensoralgebra expand``: every logit term, one per line (text) or as JSON.

The terms are ``ta.logit_paths``, exactly the terms of ``ta.expand(ta.logits(arch))`` in the same
order; a listing of more than :data:`~tensoralgebra.expr.expand.MAX_TERMS` terms is refused up
front, from the closed-form counts, with the largest ``--max-order`` that fits.
"""

from __future__ import annotations

import argparse
from itertools import accumulate
from typing import NoReturn

import tensoralgebra as ta
from tensoralgebra.cli import options, output
from tensoralgebra.cli.layout import label, logit_rows, path_record
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import MAX_TERMS
from tensoralgebra.paths import check_order

_EXAMPLES = """\
  tensoralgebra expand --heads 2,2             two layers of two heads
  tensoralgebra expand --heads 3x4 --max-order 1 --format json
  tensoralgebra expand --layers 2 --positional standard"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``expand`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "expand",
        help="list the logit terms",
        description=f"List the logit terms, one per line, at most {MAX_TERMS} of them.",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    options.add_architecture(parser)
    options.add_max_order(parser)
    options.add_format(parser)
    parser.set_defaults(run=run)


def _refuse(args: argparse.Namespace, upto: list[int]) -> NoReturn:
    """Refuse the listing; ``upto[k]`` counts the terms of order ≤ k."""
    top, fits = len(upto) - 1, [k for k, n in enumerate(upto) if n <= MAX_TERMS]
    # Order 0 always fits (one or two direct terms), so there is always a --max-order to offer.
    bound = f" of order ≤ {top}" if args.max_order is not None else ""
    raise TensorAlgebraError(
        f"{options.given(args)} has {output.brief(upto[-1])} terms{bound}, more than the "
        f"{MAX_TERMS} that expand lists; lower --max-order (--max-order {fits[-1]} lists "
        f"{upto[fits[-1]]}), or count them with 'tensoralgebra count'"
    )


def run(args: argparse.Namespace) -> int:
    """Print the terms; refuse (exit 2) a listing over the limit."""
    arch = options.architecture_from_args(args)
    top = check_order(arch, args.max_order, "--max-order")
    top = arch.n_layers if top is None else top
    upto = list(accumulate(ta.count_logit_paths(arch, order=k) for k in range(top + 1)))
    if upto[-1] > MAX_TERMS:
        _refuse(args, upto)
    count = upto[-1]
    paths = list(ta.logit_paths(arch, top))
    if args.format == "json":
        head = {"architecture": arch.to_dict(), "max_order": args.max_order, "count": count}
        output.emit_json(output.json_lines(head, "terms", map(path_record, paths)))
        return 0
    bound = "" if args.max_order is None else f" of order ≤ {top}"
    output.emit([f"# {label(arch)}: {count} term{'s' * (count != 1)}{bound}"])
    output.emit(logit_rows(paths))
    return 0
