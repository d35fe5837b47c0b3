"""``tensoralgebra scores``: the attention-score terms of one head, one per line or as JSON.

``--max-order K`` keeps the terms whose query and key paths each pass through at most K earlier
heads. A schematic architecture (``--layers``) scores with a symbolic head ``h``; ``--head`` is
for concrete architectures. A listing of more than
:data:`~tensoralgebra.expr.expand.MAX_TERMS` terms is refused up front, with the largest
``--max-order`` that fits.
"""

from __future__ import annotations

import argparse

import tensoralgebra as ta
from tensoralgebra.cli import options, output
from tensoralgebra.cli.layout import label, score_record, score_rows
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import MAX_TERMS
from tensoralgebra.scores import SCORE_KINDS, scoring_head

_EXAMPLES = """\
  tensoralgebra scores --heads 2,2 --layer 1 --head 0
  tensoralgebra scores --layers 2 --layer 1 --format json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scores`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "scores",
        help="list one head's attention-score terms (Q-, K- and QK-composition)",
        description="List the terms of one head's attention scores: pairs of a query path and a "
        f"key path through the earlier layers, at most {MAX_TERMS} of them.",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    options.add_architecture(parser)
    parser.add_argument("--layer", metavar="LAYER", type=int, required=True, help="the layer")
    parser.add_argument(
        "--head", metavar="HEAD", type=int, help="the head in that layer (concrete: default 0)"
    )
    options.add_max_order(parser, "only query and key paths of order ≤ K")
    options.add_format(parser)
    parser.set_defaults(run=run)


def _head(args: argparse.Namespace, arch: ta.Architecture) -> int | None:
    if arch.is_schematic:
        if args.head is not None:
            raise TensorAlgebraError(
                f"--head {args.head}: the heads of a schematic architecture (--layers) are "
                "symbolic; leave --head out"
            )
        return None
    return 0 if args.head is None else args.head


def _refuse(arch: ta.Architecture, layer: int, head: int | None, count: int) -> None:
    """Refuse the listing, with the largest ``--max-order`` whose listing fits."""
    fits, k = 0, 0
    # Order 0 always fits (at most four terms); counts grow with the order, so stop at the first
    # that does not fit.
    while k <= layer and (n := ta.count_score_paths(arch, layer, head, max_order=k)) <= MAX_TERMS:
        fits, k = n, k + 1
    raise TensorAlgebraError(
        f"layer {layer}'s head has {output.brief(count)} score terms, more than the {MAX_TERMS} "
        f"that scores lists; lower --max-order (--max-order {k - 1} lists {fits})"
    )


def run(args: argparse.Namespace) -> int:
    """Print every score term of the head."""
    arch = options.architecture_from_args(args)
    head = _head(args, arch)
    count = ta.count_score_paths(arch, args.layer, head, max_order=args.max_order)
    if count > MAX_TERMS:
        _refuse(arch, args.layer, head, count)
    paths = list(ta.score_paths(arch, args.layer, head, args.max_order))
    scoring = scoring_head(arch, args.layer, head)
    if args.format == "json":
        by_kind = {
            kind: ta.count_score_paths(arch, args.layer, head, kind=kind, max_order=args.max_order)
            for kind in SCORE_KINDS
        }
        header = {
            "architecture": arch.to_dict(),
            "layer": args.layer,
            "head": repr(scoring),
            "max_order": args.max_order,
            "count": count,
            "by_kind": by_kind,
        }
        output.emit_json(output.json_lines(header, "terms", map(score_record, paths)))
        return 0
    header = f"# {label(arch)}, head {scoring!r}: {count} score term{'s' * (count != 1)}"
    output.emit([header, *score_rows(paths, sources=arch.positional is not None)])
    return 0
