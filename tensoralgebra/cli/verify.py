"""``tensoralgebra verify``: the expansion of a model checked against its forward passes.

The model has random Gaussian weights (``ta.Weights.random`` with ``--seed``), or is read from a
safetensors file with ``--model FILE.safetensors`` (its architecture, sizes and dtype are the
file's, so ``--heads``, ``--layers``, ``--positional``, the size options and ``--dtype`` are
refused with it); the tokens are a batch of random sequences of length ``n_ctx`` drawn with
``--seed``. Exit status 0 when every
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
  tensoralgebra verify --heads 1,0,1 --positional standard --dtype float32 --format json
  tensoralgebra verify --model model.safetensors --seed 3"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``verify`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "verify",
        help="check the expansion of a model against its forward passes",
        description="Build a random model of the architecture, or read one with --model, and "
        "check its logit terms and every head's score terms, summed and one by one, against its "
        "forward passes.",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    options.add_architecture(parser, required=False)
    parser.add_argument(
        "--model",
        metavar="FILE",
        help="verify the model saved in FILE.safetensors instead of a random one",
    )
    # Defaults of None tell an option given from one left out, to refuse it with --model.
    parser.set_defaults(positional=None)
    for name, default, maximum, what in SIZES:
        parser.add_argument(
            name, type=int, metavar="N", help=f"{what} (1..{maximum}; default {default})"
        )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help=f"seed of the weights and tokens (0..{validation.MAX_SEED})",
    )
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), help="dtype of the random model (float64)"
    )
    options.add_max_order(parser)
    options.add_format(parser)
    parser.set_defaults(run=run)


def _sizes(args: argparse.Namespace, arch: ta.Architecture) -> dict[str, int]:
    """The model's sizes, each checked against its bound (the memory budget is the library's)."""
    sizes = {}
    for name, default, maximum, _ in SIZES:
        key = name[2:].replace("-", "_")
        value = getattr(args, key)
        sizes[key] = validation.positive_integer(
            default if value is None else value, name, maximum=maximum
        )
    return sizes


def _tokens(seed: int, weights) -> np.ndarray:
    """[BATCH, n_ctx] tokens of the model's vocabulary, drawn with ``seed``."""
    rng = np.random.default_rng([seed, 1])  # not the weights' stream
    return rng.integers(0, weights.d_vocab, size=(BATCH, weights.n_ctx))


def random_model(arch: ta.Architecture, args: argparse.Namespace):
    """The model and tokens [BATCH, n_ctx] the options describe."""
    sizes = _sizes(args, arch)
    seed = validation.seed(args.seed, "--seed")
    weights = ta.Weights.random(arch, **sizes, seed=seed, dtype=args.dtype or "float64")
    return ta.AttentionOnlyTransformer(weights), _tokens(seed, weights)


def saved_model(args: argparse.Namespace):
    """The model saved in ``--model`` and tokens [BATCH, n_ctx] drawn with ``--seed``."""
    from tensoralgebra.io import load_weights  # safetensors is needed by this option only

    flags = [name for name, _, _, _ in SIZES] + ["--heads", "--layers", "--positional", "--dtype"]
    given = [flag for flag in flags if getattr(args, flag[2:].replace("-", "_")) is not None]
    if given:
        raise TensorAlgebraError(
            f"--model {args.model}: {', '.join(given)} not allowed with --model (the file "
            "gives the architecture, sizes and dtype)"
        )
    seed = validation.seed(args.seed, "--seed")
    weights = load_weights(args.model)
    check_order(weights.architecture, args.max_order, "--max-order")
    return ta.AttentionOnlyTransformer(weights), _tokens(seed, weights)


def run(args: argparse.Namespace) -> int:
    """Verify a random model of the architecture or the saved one, print the report (text or
    JSON); 0 if every check agrees, 1 if not."""
    if args.model is not None:
        model, tokens = saved_model(args)
    else:
        if args.heads is None and args.layers is None:
            raise TensorAlgebraError(
                "verify needs a model: --heads SPEC (a random one) or --model FILE.safetensors"
            )
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
