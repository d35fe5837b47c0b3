"""``tensoralgebra paths``: the expansion's terms read off the computation graph.

Logit terms (with ``--through L0H1``: those whose path passes through L0H1) or, with
``--into L1H0``, the score terms of that head (``--kind K``: its K-composition terms;
``--through``: those with a side through that head), found by traversing the graph. Heads are
named ``L<layer>H<head>``, counting from 0. At most :data:`~tensoralgebra.expr.expand.MAX_TERMS`
terms are listed: more is refused up front, with the largest ``--max-order`` that fits.
"""

from __future__ import annotations

import argparse

from tensoralgebra.cli import options, output
from tensoralgebra.cli.layout import label, logit_rows, path_record, score_record, score_rows
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import MAX_TERMS
from tensoralgebra.paths import check_order
from tensoralgebra.scores import SCORE_KINDS

_EXAMPLES = """\
  tensoralgebra paths --heads 2,2 --through L0H1
  tensoralgebra paths --heads 2,2 --kind K --into L1H0 --format json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``paths`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "paths",
        help="list the terms through a head, or of a kind into a head, by graph traversal",
        description="List logit terms (optionally those through a head) or one head's score "
        f"terms (optionally of one kind), by traversing the graph; at most {MAX_TERMS}.",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    options.add_architecture(parser)
    parser.add_argument("--through", metavar="HEAD", help="only paths through HEAD (e.g. L0H1)")
    parser.add_argument("--into", metavar="HEAD", help="the score terms of HEAD (e.g. L1H0)")
    parser.add_argument(
        "--kind", metavar="KIND", help=f"with --into: one of {', '.join(SCORE_KINDS)}"
    )
    options.add_max_order(parser)
    options.add_format(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """List the logit terms (through a head), or a head's score terms."""
    if args.kind is not None and args.into is None:
        raise TensorAlgebraError(f"--kind {args.kind}: name the head the terms go into, --into")
    if args.kind is not None and args.kind not in SCORE_KINDS:
        raise TensorAlgebraError(
            f"--kind {args.kind!r} is not a score kind: expected one of {', '.join(SCORE_KINDS)}"
        )
    arch = options.concrete_architecture_from_args(args, "the graph")
    check_order(arch, args.max_order, "--max-order")
    from tensoralgebra import graph  # networkx: only for this command and graph

    # The queries take the architecture itself: they count first (refusing over the limit with
    # a --max-order that fits) and walk only the chains an answer needs, never the whole graph.
    if args.into is None:
        return _logit(args, graph, arch)
    return _scores(args, graph, arch)


def _logit(args, graph, arch) -> int:
    through = args.through
    if through is None:
        paths = list(graph.logit_paths(arch, args.max_order, limit=MAX_TERMS))
    else:
        paths = graph.paths_through(arch, through, args.max_order, limit=MAX_TERMS)
        through = graph.keys.head_name(*graph.keys.parse_head(through))
    what = "logit terms" + ("" if through is None else f" through {through}")
    if args.format == "json":
        head = {"architecture": arch.to_dict(), "through": through, "max_order": args.max_order}
        head["count"] = len(paths)
        output.emit_json(output.json_lines(head, "terms", map(path_record, paths)))
        return 0
    output.emit([f"# {label(arch)}: {len(paths)} {what}"])
    output.emit(logit_rows(paths))
    return 0


def _scores(args, graph, arch) -> int:
    into = graph.keys.head_name(*graph.keys.parse_head(args.into))
    through = args.through
    if through is not None:
        through = graph.keys.head_name(*graph.keys.parse_head(through))
    terms = list(
        graph.terms_into(
            arch, into, args.kind, through=through, max_order=args.max_order, limit=MAX_TERMS
        )
    )
    if args.format == "json":
        head_fields = {
            "architecture": arch.to_dict(),
            "into": into,
            "kind": args.kind,
            "through": through,
            "max_order": args.max_order,
            "count": len(terms),
        }
        output.emit_json(output.json_lines(head_fields, "terms", map(score_record, terms)))
        return 0
    kind = "" if args.kind is None else f"{args.kind} "
    via = "" if through is None else f" with a side through {through}"
    output.emit([f"# {label(arch)}: {len(terms)} {kind}score terms of {into}{via}"])
    output.emit(score_rows(terms, sources=True))
    return 0
