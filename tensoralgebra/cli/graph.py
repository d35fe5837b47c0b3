"""``tensoralgebra graph``: the computation graph written to a file.

The file's extension names the format: ``.svg``, ``.png`` or ``.pdf`` (a drawing), ``.dot``,
``.graphml`` or ``.json`` (node-link data). One node per source, head and the unembedding, one
edge per channel (Q, K, V, out); ``--per layer`` draws one node per layer instead, the graph of a
model too large to draw head by head (a graph of more than ``MAX_EDGES`` edges is refused, with
that advice).
"""

from __future__ import annotations

import argparse
import json

from tensoralgebra.cli import options, output

FORMATS = (".svg", ".png", ".pdf", ".dot", ".graphml", ".json")

_EXAMPLES = """\
  tensoralgebra graph --heads 2,2 --out graph.svg
  tensoralgebra graph --heads 4x4 --positional standard --out graph.dot"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``graph`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "graph",
        help="write the computation graph: a drawing, DOT, GraphML or JSON",
        description="Write the graph of sources, heads and the unembedding, one edge per channel "
        "(Q, K, V, out), to a file whose extension names the format: " + ", ".join(FORMATS),
        **options.described(_EXAMPLES),
    )
    options.add_architecture(parser)
    parser.add_argument("--out", metavar="FILE", required=True, help="where to write the graph")
    parser.add_argument(
        "--per",
        choices=("head", "layer"),
        default="head",
        help="one node per head (default), or one per layer: the aggregated graph of a large model",
    )
    options.add_format(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the graph to ``--out`` in the format of its extension; print a summary."""
    out = output.check_output(args.out, "--out", FORMATS)
    arch = options.concrete_architecture_from_args(args, "the graph")
    from tensoralgebra import graph  # networkx and matplotlib: only when a graph is written

    G = graph.build(arch, per=args.per)
    with output.writing(out, "--out"):
        graph.write(G, out)
    by_channel = {c: 0 for c in graph.keys.CHANNELS}
    for *_, c in G.edges(keys=True):
        by_channel[c] += 1
    if args.format == "json":
        summary = {
            "architecture": arch.to_dict(),
            "out": str(out),
            "format": out.suffix.lower()[1:],
            "per": args.per,
        }
        summary |= {"nodes": G.number_of_nodes(), "edges": by_channel}
        fields = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in summary.items())
        output.emit_json("{\n" + fields + "\n}")
        return 0
    counts = ", ".join(f"{c} {n}" for c, n in by_channel.items())
    output.emit(
        [f"wrote {out}: {G.number_of_nodes()} nodes, {G.number_of_edges()} edges ({counts})"]
    )
    return 0
