"""``tensoralgebra paths``: the expansion's terms read off the computation graph.

Logit terms (with ``--through L0H1``: those whose path passes through L0H1) or, with
``--into L1H0``, the score terms of that head (``--kind K``: its K-composition terms;
``--through``: those with a side through that head), found by traversing the graph. Heads are
named ``L<layer>H<head>``, counting from 0. At most :data:`~tensoralgebra.expr.expand.MAX_TERMS`
terms are listed: more is refused up front, with the largest ``--max-order`` that fits.
"""

from __future__ import annotations

import argparse

import tensoralgebra as ta
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


def _refuse_over(counts: list[int], what: str) -> None:
    """Refuse when the terms of order ≤ max (``counts[k]``: of order ≤ k) are over the limit."""
    if counts[-1] > MAX_TERMS:
        fits = max(k for k, n in enumerate(counts) if n <= MAX_TERMS)
        raise TensorAlgebraError(
            f"{what} has {output.brief(counts[-1])} terms, more than the {MAX_TERMS} that paths "
            f"lists; lower --max-order (--max-order {fits} lists {counts[fits]})"
        )


def run(args: argparse.Namespace) -> int:
    """List the logit terms (through a head), or a head's score terms."""
    if args.kind is not None and args.into is None:
        raise TensorAlgebraError(f"--kind {args.kind}: name the head the terms go into, --into")
    if args.kind is not None and args.kind not in SCORE_KINDS:
        raise TensorAlgebraError(
            f"--kind {args.kind!r} is not a score kind: expected one of {', '.join(SCORE_KINDS)}"
        )
    arch = options.concrete_architecture_from_args(args, "the graph")
    top = check_order(arch, args.max_order, "--max-order")
    top = arch.n_layers if top is None else top
    if args.into is None:
        upto, total = [], 0
        for k in range(top + 1):
            total += ta.count_logit_paths(arch, order=k)
            upto.append(total)
        _refuse_over(upto, label(arch))
    from tensoralgebra import graph  # networkx: only for this command and graph

    G = graph.build(arch)
    through = None if args.through is None else graph.head_node(G, args.through)
    if args.into is None:
        return _logit(args, graph, G, arch, through)
    return _scores(args, graph, G, arch, through)


def _logit(args, graph, G, arch, through) -> int:
    if through is None:
        paths = list(graph.logit_paths(G, args.max_order))
    else:
        paths = graph.paths_through(G, through, args.max_order)
    what = "logit terms" + ("" if through is None else f" through {through}")
    if args.format == "json":
        head = {"architecture": arch.to_dict(), "through": through, "max_order": args.max_order}
        head["count"] = len(paths)
        output.emit_json(output.json_lines(head, "terms", map(path_record, paths)))
        return 0
    output.emit([f"# {label(arch)}: {len(paths)} {what}"])
    output.emit(logit_rows(paths))
    return 0


def _scores(args, graph, G, arch, through) -> int:
    into = graph.head_node(G, args.into)
    layer, head = graph.keys.parse_head(into)
    counts = [graph.count_score_paths(G, layer, head, max_order=k) for k in range(layer + 1)]
    top = layer if args.max_order is None else min(args.max_order, layer)
    _refuse_over(counts[: top + 1], into)
    terms = list(graph.terms_into(G, into, args.kind, through=through, max_order=args.max_order))
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
