"""``tensoralgebra paths`` and ``tensoralgebra graph``: the expansion's terms read off the graph.

    tensoralgebra paths --heads SPEC [--positional standard] [--through HEAD]
                        [--into HEAD [--kind none|Q|K|QK]] [--max-order K] [--format text|json]
    tensoralgebra graph --heads SPEC [--positional standard] --out FILE [--format text|json]

``paths`` lists logit terms (with ``--through L0H1``: those whose path passes through L0H1) or,
with ``--into L1H0``, the score terms of that head (``--kind K``: its K-composition terms;
``--through``: those with a side through that head), found by traversing the graph. ``graph``
writes the graph to FILE: ``.svg``, ``.png`` or ``.pdf`` (a drawing), ``.dot``, ``.graphml`` or
``.json`` (node-link data). Heads are named ``L<layer>H<head>``, counting from 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import tensoralgebra as ta
from tensoralgebra import cli
from tensoralgebra.cli_format import (
    brief,
    json_lines,
    label,
    path_heads,
    path_record,
    score_record,
    score_rows,
)
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import MAX_TERMS
from tensoralgebra.paths import check_order
from tensoralgebra.printing.text import to_text
from tensoralgebra.scores import SCORE_KINDS

_FORMATS = (".svg", ".png", ".pdf", ".dot", ".graphml", ".json")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``paths`` and ``graph`` subcommands to the ``tensoralgebra`` parser."""
    paths = commands.add_parser(
        "paths",
        help="list the terms through a head, or of a kind into a head, by graph traversal",
        description="List logit terms (optionally those through a head) or one head's score "
        f"terms (optionally of one kind), by traversing the graph; at most {MAX_TERMS}.",
        epilog="examples:\n  tensoralgebra paths --heads 2,2 --through L0H1\n"
        "  tensoralgebra paths --heads 2,2 --kind K --into L1H0 --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli._architecture_options(paths)
    paths.add_argument("--through", metavar="HEAD", help="only paths through HEAD (e.g. L0H1)")
    paths.add_argument("--into", metavar="HEAD", help="the score terms of HEAD (e.g. L1H0)")
    paths.add_argument(
        "--kind", metavar="KIND", help=f"with --into: one of {', '.join(SCORE_KINDS)}"
    )
    paths.add_argument("--max-order", metavar="K", type=int, help="only paths of order ≤ K")
    cli._format_option(paths)
    paths.set_defaults(run=run_paths)
    graph = commands.add_parser(
        "graph",
        help="write the computation graph: a drawing, DOT, GraphML or JSON",
        description="Write the graph of sources, heads and the unembedding, one edge per channel "
        "(Q, K, V, out), to a file whose extension names the format: " + ", ".join(_FORMATS),
        epilog="examples:\n  tensoralgebra graph --heads 2,2 --out graph.svg\n"
        "  tensoralgebra graph --heads 4x4 --positional standard --out graph.dot",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli._architecture_options(graph)
    graph.add_argument("--out", metavar="FILE", required=True, help="where to write the graph")
    cli._format_option(graph)
    graph.set_defaults(run=run_graph)


def _graph(args: argparse.Namespace):
    from tensoralgebra import graph  # networkx only for these commands

    arch = cli.architecture(args)
    if arch.is_schematic:
        raise TensorAlgebraError(
            f"--layers {args.layers}: the graph needs concrete head counts; use --heads"
        )
    return graph, graph.build(arch)


def run_paths(args: argparse.Namespace) -> int:
    """``tensoralgebra paths``: logit terms (through a head), or a head's score terms."""
    if args.kind is not None and args.into is None:
        raise TensorAlgebraError(f"--kind {args.kind}: name the head the terms go into, --into")
    if args.kind is not None and args.kind not in SCORE_KINDS:
        raise TensorAlgebraError(
            f"--kind {args.kind!r} is not a score kind: expected one of {', '.join(SCORE_KINDS)}"
        )
    arch = cli.architecture(args)
    if args.into is None and not arch.is_schematic:
        top = check_order(arch, args.max_order, "--max-order")
        orders = range(arch.n_layers + 1 if top is None else top + 1)
        _refuse_over(sum(ta.count_logit_paths(arch, order=k) for k in orders), label(arch))
    graph, G = _graph(args)
    through = None if args.through is None else graph.head_node(G, args.through)
    if args.into is None:
        return _logit(args, graph, G, arch, through)
    return _scores(args, graph, G, arch, through)


def _refuse_over(count: int, what: str) -> None:
    if count > MAX_TERMS:
        raise TensorAlgebraError(
            f"{what} has {brief(count)} terms, more than the {MAX_TERMS} that paths lists; "
            "lower --max-order"
        )


def _logit(args, graph, G, arch, through) -> int:
    if through is None:
        paths = list(graph.logit_paths(G, args.max_order))
    else:
        paths = graph.paths_through(G, through, args.max_order)
    what = "logit terms" + ("" if through is None else f" through {through}")
    if args.format == "json":
        head = {"architecture": arch.to_dict(), "through": through, "max_order": args.max_order}
        cli._emit(json_lines({**head, "count": len(paths)}, "terms", map(path_record, paths)))
        return 0
    names = [path_heads(p) for p in paths]
    width = max(map(len, ["heads", *names]))
    cli._emit([f"# {label(arch)}: {len(paths)} {what}"])
    cli._emit([f"{'# kind':<8} {'order':>5}  {'heads':<{width}}  {'source':<8}  term"])
    cli._emit(
        f"{p.kind:<8} {p.order:>5}  {n:<{width}}  {p.source:<8}  {to_text(p.expr)}"
        for p, n in zip(paths, names)
    )
    return 0


def _scores(args, graph, G, arch, through) -> int:
    into = graph.head_node(G, args.into)
    layer, head = graph.keys.parse_head(into)
    _refuse_over(graph.count_score_paths(G, layer, head, max_order=args.max_order), into)
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
        cli._emit(json_lines(head_fields, "terms", map(score_record, terms)))
        return 0
    kind = "" if args.kind is None else f"{args.kind} "
    via = "" if through is None else f" with a side through {through}"
    cli._emit([f"# {label(arch)}: {len(terms)} {kind}score terms of {into}{via}"])
    cli._emit(score_rows(terms, sources=True))
    return 0


def run_graph(args: argparse.Namespace) -> int:
    """``tensoralgebra graph``: write the graph to ``--out`` in the format of its extension."""
    out = Path(args.out)
    if out.suffix.lower() not in _FORMATS:
        raise TensorAlgebraError(
            f"--out {args.out!r}: the extension must be one of {', '.join(_FORMATS)}"
        )
    graph, G = _graph(args)
    try:
        graph.write(G, out)
    except OSError as error:
        raise TensorAlgebraError(f"--out {args.out!r}: {error.strerror or error}") from None
    by_channel = {c: 0 for c in graph.keys.CHANNELS}
    for *_, c in G.edges(keys=True):
        by_channel[c] += 1
    if args.format == "json":
        arch = graph.architecture(G).to_dict()
        summary = {"architecture": arch, "out": str(out), "format": out.suffix.lower()[1:]}
        summary |= {"nodes": G.number_of_nodes(), "edges": by_channel}
        fields = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in summary.items())
        cli._emit(["{", fields, "}"])
        return 0
    counts = ", ".join(f"{c} {n}" for c, n in by_channel.items())
    cli._emit([f"wrote {out}: {G.number_of_nodes()} nodes, {G.number_of_edges()} edges ({counts})"])
    return 0
