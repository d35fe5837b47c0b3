"""``tensoralgebra scores``: the attention-score terms of one head, one per line or as JSON.

    tensoralgebra scores (--heads SPEC | --layers L) --layer LAYER [--head HEAD]
                         [--positional standard] [--max-order K] [--format text|json]

``--max-order K`` keeps the terms whose query and key paths each pass through at most K earlier
heads. A schematic architecture (``--layers``) scores with a symbolic head ``h``; ``--head`` is
for concrete architectures.
"""

from __future__ import annotations

import argparse

import tensoralgebra as ta
from tensoralgebra import cli
from tensoralgebra.cli_format import brief, json_lines, label, score_record, score_rows
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import MAX_TERMS
from tensoralgebra.expr.traversal import symbols
from tensoralgebra.scores import SCORE_KINDS, scoring_head


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``scores`` subcommand to the ``tensoralgebra`` parser."""
    parser = commands.add_parser(
        "scores",
        help="list one head's attention-score terms (Q-, K- and QK-composition)",
        description="List the terms of one head's attention scores: pairs of a query path and a "
        f"key path through the earlier layers, at most {MAX_TERMS} of them.",
        epilog="examples:\n  tensoralgebra scores --heads 2,2 --layer 1 --head 0\n"
        "  tensoralgebra scores --layers 2 --layer 1 --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli._architecture_options(parser)
    parser.add_argument("--layer", metavar="LAYER", type=int, required=True, help="the layer")
    parser.add_argument(
        "--head", metavar="HEAD", type=int, help="the head in that layer (concrete: default 0)"
    )
    parser.add_argument(
        "--max-order", metavar="K", type=int, help="only query and key paths of order ≤ K"
    )
    cli._format_option(parser)
    parser.set_defaults(run=run_scores)


def _head(args: argparse.Namespace, arch: ta.Architecture) -> int | None:
    if arch.is_schematic:
        if args.head is not None:
            raise TensorAlgebraError(
                f"--head {args.head}: the heads of a schematic architecture (--layers) are "
                "symbolic; leave --head out"
            )
        return None
    return 0 if args.head is None else args.head


def run_scores(args: argparse.Namespace) -> int:
    """``tensoralgebra scores``: every score term of a head."""
    arch = cli.architecture(args)
    head = _head(args, arch)
    count = ta.count_score_paths(arch, args.layer, head, max_order=args.max_order)
    if count > MAX_TERMS:
        raise TensorAlgebraError(
            f"layer {args.layer}'s head has {brief(count)} score terms, more than the "
            f"{MAX_TERMS} that scores lists; lower --max-order"
        )
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
        cli._emit(json_lines(header, "terms", map(score_record, paths)))
        return 0
    header = f"# {label(arch)}, head {scoring!r}: {count} score term{'s' * (count != 1)}"
    cli._emit([header, *score_rows(paths, sources=arch.positional is not None)])
    return 0


def demo_section(report, arch: ta.Architecture) -> None:
    """The demo's score section: the expansion of head 0 of the second layer, one term per
    line with its kind, and per kind the agreement of the expansion, the enumerated paths and
    the closed form (a disagreement is a failed check)."""
    if arch.n_layers < 2 or arch.is_schematic or not arch.heads[1]:
        return
    expanded = ta.terms(ta.expand(ta.scores(arch, 1, 0)))
    paths = list(ta.score_paths(arch, 1, 0))
    report.line()
    bilinear = ta.scores(arch, 1, 0)
    report.line("Attention scores of L1H0: the bilinear form W_QK on the stream R layer 1 reads,")
    report.line(f"  S = R^T·({bilinear.form})·R   (unscaled: a model divides by sqrt(d_head))")
    report.line(f"  R = {bilinear.key}")
    for i, term in enumerate(expanded):
        report.line(f"  {'=' if i == 0 else '+'}  {_kind_of(term):<4}  {term}")
    for kind in SCORE_KINDS:
        counted = sum(_kind_of(t) == kind for t in expanded)
        listed = sum(p.kind == kind for p in paths)
        closed = ta.count_score_paths(arch, 1, 0, kind=kind)
        agree = counted == listed == closed
        report.check(
            agree,
            f"  {kind:<4} {counted} term{'s' * (counted != 1)}: expansion == paths == closed form",
            f"  {kind:<4} expansion {counted}, paths {listed}, closed form {closed}",
        )
    report.check(
        list(expanded) == [p.expr for p in paths],
        "  term by term: expansion term i is score path i's term",
    )


def _kind_of(term) -> str:
    """The kind read off the term itself: which position factors hold attention patterns."""
    query, key = (any(s.name == "A" for s in symbols(f)) for f in term.args[:2])
    return SCORE_KINDS[query + 2 * key]
