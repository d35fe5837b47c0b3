"""``tensoralgebra verify``: the expansion of a random model checked against its forward passes.

The model has random Gaussian weights (``ta.Weights.random`` with ``--seed``); the tokens are a
batch of random sequences of length ``n_ctx`` drawn with the same seed. Exit status 0 when every
check agrees, 1 when one does not.
"""

from __future__ import annotations

import argparse

import numpy as np

import tensoralgebra as ta
from tensoralgebra import cli
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.paths import check_order

#: Sequences verified at once.
BATCH = 2


def random_model(arch: ta.Architecture, args: argparse.Namespace):
    """The model and tokens [BATCH, n_ctx] the options describe."""
    weights = ta.Weights.random(
        arch,
        d_model=args.d_model,
        d_head=args.d_head,
        d_vocab=args.d_vocab,
        n_ctx=args.n_ctx,
        seed=args.seed,
        dtype=args.dtype,
    )
    rng = np.random.default_rng([args.seed, 1])  # not the weights' stream
    tokens = rng.integers(0, args.d_vocab, size=(BATCH, args.n_ctx))
    return ta.AttentionOnlyTransformer(weights), tokens


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``verify`` subcommand to the ``tensoralgebra`` parser."""
    verify = commands.add_parser(
        "verify",
        help="check the expansion of a random model against its forward passes",
        description="Build a random model of the architecture and check its logit terms and "
        "every head's score terms, summed and one by one, against its forward passes.",
        epilog="example:\n  tensoralgebra verify --heads 2,2 --d-model 32 --d-head 8 "
        "--d-vocab 50 --n-ctx 16 --seed 0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli._architecture_options(verify)
    add_options(verify)
    cli._format_option(verify)
    verify.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Verify a random model of the architecture, print the report (text or JSON); 0 if every
    check agrees, 1 if not."""
    arch = cli.architecture(args)
    if arch.is_schematic:
        raise TensorAlgebraError("verify needs concrete head counts: use --heads, not --layers")
    check_order(arch, args.max_order, "--max-order")
    model, tokens = random_model(arch, args)
    report = ta.verify(model, tokens, args.max_order)
    print(report.to_json() if args.format == "json" else report.table())
    return 0 if report.ok else 1


def add_options(parser: argparse.ArgumentParser) -> None:
    """The sizes, seed and dtype of the random model."""
    for name, default, what in (
        ("--d-model", 32, "residual stream width"),
        ("--d-head", 8, "head width"),
        ("--d-vocab", 50, "vocabulary size"),
        ("--n-ctx", 16, "context length (the tokens fill it)"),
    ):
        parser.add_argument(name, type=int, default=default, metavar="N", help=what)
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and tokens")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--max-order", metavar="K", type=int, help="only paths of order ≤ K")
