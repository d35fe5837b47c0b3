"""``tensoralgebra top-paths``: the logit paths with the largest contribution to a target.

The model is a random one (``--heads`` and the sizes of ``verify``, ``--seed``) or the one saved
in ``--model FILE.safetensors``; the tokens are a random sequence of length ``n_ctx`` drawn with
``--seed``. The search (``ta.top_paths``) never enumerates the paths; it prints the top ``-k``, the
exact total and a certificate bounding the contribution of every path it leaves out.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import tensoralgebra as ta
from tensoralgebra import validation
from tensoralgebra.cli import options, output
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.path_search_report import MAX_EXPANSIONS

#: The size options: (flag, default, largest accepted, what it is), as ``verify``'s.
SIZES = (
    ("--d-model", 32, 4096, "residual stream width"),
    ("--d-head", 8, 1024, "head width"),
    ("--d-vocab", 50, 1_000_000, "vocabulary size"),
    ("--n-ctx", 16, 4096, "context length (the tokens fill it)"),
)

_EXAMPLES = """\
  tensoralgebra top-paths --heads 2,2 --seed 0 --position 5 --target 3 -k 10
  tensoralgebra top-paths --heads 3x4 --target 3,7 --max-expansions 500
  tensoralgebra top-paths --model model.safetensors --target 11 --format json"""


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
    options.add_architecture(parser, required=False)
    parser.add_argument("--model", metavar="FILE", help="search the model saved in FILE")
    for name, default, maximum, what in SIZES:
        parser.add_argument(
            name, type=int, metavar="N", help=f"{what} (1..{maximum}; default {default})"
        )
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and tokens")
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), help="dtype of the random model (float64)"
    )
    parser.add_argument(
        "--target",
        required=True,
        metavar="T[,T2]",
        help="a token id (its logit) or two (T,T2: the logit difference T − T2)",
    )
    parser.add_argument("--position", type=int, help="query position (default: the last)")
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


def _tokens(seed: int, weights) -> np.ndarray:
    """[1, n_ctx] tokens of the vocabulary, drawn with ``seed`` (not the weights' stream)."""
    return np.random.default_rng([seed, 1]).integers(0, weights.d_vocab, size=(1, weights.n_ctx))


def _saved(args: argparse.Namespace):
    from tensoralgebra.io import load_weights  # safetensors is needed by this option only

    flags = [name for name, _, _, _ in SIZES] + ["--heads", "--layers", "--dtype"]
    given = [flag for flag in flags if getattr(args, flag[2:].replace("-", "_")) is not None]
    if given:
        raise TensorAlgebraError(
            f"--model {args.model}: {', '.join(given)} not allowed with --model (the file "
            "gives the architecture, sizes and dtype)"
        )
    return load_weights(args.model)


def _random(args: argparse.Namespace):
    arch = options.concrete_architecture_from_args(args, "top-paths")
    sizes = {}
    for name, default, maximum, _ in SIZES:
        value = getattr(args, name[2:].replace("-", "_"))
        sizes[name[2:].replace("-", "_")] = validation.positive_integer(
            default if value is None else value, name, maximum=maximum
        )
    seed = validation.seed(args.seed, "--seed")
    return ta.Weights.random(arch, **sizes, seed=seed, dtype=args.dtype or "float64")


def _model(args: argparse.Namespace):
    """The model and its tokens [1, n_ctx] the options describe."""
    if args.model is not None:
        weights = _saved(args)
        return ta.AttentionOnlyTransformer(weights), _tokens(args.seed, weights)
    if args.heads is None and args.layers is None:
        raise TensorAlgebraError(
            "top-paths needs a model: --heads SPEC (a random one) or --model FILE.safetensors"
        )
    weights = _random(args)
    return ta.AttentionOnlyTransformer(weights), _tokens(args.seed, weights)


def run(args: argparse.Namespace) -> int:
    """Search and print the table (or JSON); 0 on success."""
    target = parse_target(args.target)
    k = validation.positive_integer(args.k, "-k")
    expansions = validation.positive_integer(args.max_expansions, "--max-expansions")
    validation.seed(args.seed, "--seed")
    model, tokens = _model(args)
    top = ta.top_paths(
        model, tokens, k, target=target, position=args.position, max_expansions=expansions
    )
    if args.format == "json":
        output.emit_json(json.dumps(top.to_dict(), ensure_ascii=True))
    else:
        output.emit([top.table()])
    return 0
