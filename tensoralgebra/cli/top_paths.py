"""``tensoralgebra top-paths``: the logit paths with the largest contribution to a target.

The model is a random one (``--heads`` and the sizes of ``verify``, ``--seed``) or the one saved
in ``--model FILE.safetensors``; the tokens are a random sequence of length ``n_ctx`` drawn with
``--seed``. The search (``ta.top_paths``) never enumerates the paths; it prints the top ``-k``, the
exact total and a certificate bounding the contribution of every path it leaves out. With
``--scores LAYER HEAD`` it searches that head's score terms instead (``ta.top_score_paths``) at
``--query`` and ``--key``; ``--device`` picks where it computes.
"""

from __future__ import annotations

import argparse
import json

import tensoralgebra as ta
from tensoralgebra import validation
from tensoralgebra.cli import model_options, options, output
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.path_search_report import MAX_EXPANSIONS

_EXAMPLES = """\
  tensoralgebra top-paths --heads 2,2 --seed 0 --position 5 --target 3 -k 10
  tensoralgebra top-paths --heads 3x4 --target 3,7 --max-expansions 500
  tensoralgebra top-paths --model model.safetensors --target 11 --format json
  tensoralgebra top-paths --heads 2,2 --scores 1 0 --query 5 --key 2 -k 10"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``top-paths`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "top-paths",
        help="the logit paths that contribute most to a target, with a certificate",
        description="Search the logit paths of a random model (or one read with --model) for "
        "the k with the largest contribution to a token's logit or a logit difference at one "
        "position, without enumerating them; print them, the exact total, and an upper bound on "
        "what every other path contributes.",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    model_options.add_model_options(parser, "search")
    parser.add_argument(
        "--target",
        metavar="T[,T2]",
        help="a token id (its logit) or two (T,T2: the logit difference T − T2)",
    )
    parser.add_argument("--position", type=int, help="query position (default: the last)")
    parser.add_argument(
        "--scores",
        nargs=2,
        type=int,
        metavar=("LAYER", "HEAD"),
        help="search this head's score terms instead of logit paths (no --target)",
    )
    parser.add_argument("--query", type=int, help="with --scores: query position (default last)")
    parser.add_argument(
        "--key", type=int, help="with --scores: key position (default: the most attended)"
    )
    parser.add_argument("-k", type=int, default=10, help="how many paths (default 10)")
    parser.add_argument(
        "--max-expansions",
        type=int,
        default=MAX_EXPANSIONS,
        metavar="N",
        help=f"the most path streams computed (default {MAX_EXPANSIONS})",
    )
    options.add_format(parser)
    parser.set_defaults(run=run)


def parse_target(text: str) -> int | tuple[int, int]:
    """``"3"`` → 3, ``"3,7"`` → (3, 7); anything else is refused naming ``--target``."""
    parts = text.split(",")
    if len(parts) > 2 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise TensorAlgebraError(
            f"--target {text!r}: expected a token id (3) or two for a logit difference (3,7)"
        )
    ids = tuple(int(p) for p in parts)
    return ids[0] if len(ids) == 1 else ids


def _check_mode(args: argparse.Namespace) -> None:
    """Logit paths need ``--target`` (and may take ``--position``); score terms take
    ``--scores`` (and ``--query``, ``--key``) instead."""
    if args.scores is None:
        if args.target is None:
            raise TensorAlgebraError("top-paths needs --target T[,T2] (or --scores LAYER HEAD)")
        given = [flag for flag in ("query", "key") if getattr(args, flag) is not None]
        if given:
            raise TensorAlgebraError(f"--{given[0]} needs --scores LAYER HEAD")
        return
    given = [flag for flag in ("target", "position") if getattr(args, flag) is not None]
    if given:
        raise TensorAlgebraError(
            f"--{given[0]} is for logit paths: with --scores use --query and --key"
        )


def run(args: argparse.Namespace) -> int:
    """Search and print the table (or JSON); 0 on success."""
    _check_mode(args)
    target = None if args.scores else parse_target(args.target)
    k = validation.positive_integer(args.k, "-k")
    expansions = validation.positive_integer(args.max_expansions, "--max-expansions")
    validation.seed(args.seed, "--seed")
    model, tokens = model_options.model_from_args(args, "top-paths", batch=1)
    if args.scores:
        layer, head = args.scores
        top = ta.top_score_paths(
            model,
            tokens,
            layer,
            head,
            k,
            query=args.query,
            key=args.key,
            max_expansions=expansions,
        )
    else:
        top = ta.top_paths(
            model, tokens, k, target=target, position=args.position, max_expansions=expansions
        )
    if args.format == "json":
        output.emit_json(json.dumps(top.to_dict(), ensure_ascii=True))
    else:
        output.emit([top.table()])
    return 0
