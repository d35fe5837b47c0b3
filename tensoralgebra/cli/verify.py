"""``tensoralgebra verify``: the expansion of a random model checked against its forward passes.

The model has random Gaussian weights (``ta.Weights.random`` with ``--seed``); the tokens are a
batch of random sequences of length ``n_ctx`` drawn with the same seed. Exit status 0 when every
check agrees, 1 when one does not. Sizes are bounded (:data:`SIZES`), and a model or a run that
would exceed the library's memory budget is refused before anything is built, with a size that
fits, so that a typo cannot ask for terabytes.
"""

from __future__ import annotations

import argparse

import numpy as np

import tensoralgebra as ta
from tensoralgebra import validation
from tensoralgebra.cli import options, output
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.paths import check_order

#: Sequences verified at once.
BATCH = 2
#: The size options: (flag, default, largest accepted, what it is).
SIZES = (
    ("--d-model", 32, 4096, "residual stream width"),
    ("--d-head", 8, 1024, "head width"),
    ("--d-vocab", 50, 1_000_000, "vocabulary size"),
    ("--n-ctx", 16, 4096, "context length (the tokens fill it)"),
)

_EXAMPLES = """\
  tensoralgebra verify --heads 2,2 --d-model 32 --d-head 8 --d-vocab 50 --n-ctx 16 --seed 0
  tensoralgebra verify --heads 1,0,1 --positional standard --dtype float32 --format json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``verify`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "verify",
        help="check the expansion of a random model against its forward passes",
        description="Build a random model of the architecture and check its logit terms and "
        "every head's score terms, summed and one by one, against its forward passes.",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    options.add_architecture(parser)
    for name, default, maximum, what in SIZES:
        parser.add_argument(
            name, type=int, default=default, metavar="N", help=f"{what} (1..{maximum})"
        )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help=f"seed of the weights and tokens (0..{validation.MAX_SEED})",
    )
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    options.add_max_order(parser)
    options.add_format(parser)
    parser.set_defaults(run=run)


def _sizes(args: argparse.Namespace, arch: ta.Architecture) -> dict[str, int]:
    """The model's sizes, each checked against its bound (the memory budget is the library's)."""
    sizes = {}
    for name, _, maximum, _ in SIZES:
        key = name[2:].replace("-", "_")
        sizes[key] = validation.positive_integer(getattr(args, key), name, maximum=maximum)
    return sizes


def random_model(arch: ta.Architecture, args: argparse.Namespace):
    """The model and tokens [BATCH, n_ctx] the options describe."""
    sizes = _sizes(args, arch)
    seed = validation.seed(args.seed, "--seed")
    weights = ta.Weights.random(arch, **sizes, seed=seed, dtype=args.dtype)
    rng = np.random.default_rng([seed, 1])  # not the weights' stream
    tokens = rng.integers(0, sizes["d_vocab"], size=(BATCH, sizes["n_ctx"]))
    return ta.AttentionOnlyTransformer(weights), tokens


def run(args: argparse.Namespace) -> int:
    """Verify a random model of the architecture, print the report (text or JSON); 0 if every
    check agrees, 1 if not."""
    arch = options.architecture_from_args(args)
    if arch.is_schematic:
        raise TensorAlgebraError("verify needs concrete head counts: use --heads, not --layers")
    check_order(arch, args.max_order, "--max-order")
    model, tokens = random_model(arch, args)
    report = ta.verify(model, tokens, args.max_order)
    if args.format == "json":
        output.emit_json(report.to_json())
    else:
        output.emit([report.table()])
    return 0 if report.ok else 1
