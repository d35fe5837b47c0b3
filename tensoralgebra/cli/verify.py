"""``tensoralgebra verify``: the expansion of a model checked against its forward passes.

The model and its tokens come from :mod:`tensoralgebra.cli.model_options`: random Gaussian weights
(``--heads``, the size options, ``--seed``) or the model saved in ``--model FILE.safetensors``;
a batch of :data:`BATCH` token sequences of length ``n_ctx``. Exit status 0 when every check
agrees, 1 when one does not. Sizes are bounded, and a model or a run that would exceed the
library's memory budget is refused before anything is built, with a size that fits.
"""

from __future__ import annotations

import argparse

import tensoralgebra as ta
from tensoralgebra import validation
from tensoralgebra.cli import model_options, options, output
from tensoralgebra.numeric.budget import TERM_BUDGET
from tensoralgebra.paths import check_order

#: Sequences verified at once.
BATCH = 2

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
    model_options.add_model_options(parser, "verify")
    options.add_max_order(parser)
    options.add_format(parser)
    parser.add_argument(
        "--term-budget",
        type=int,
        default=TERM_BUDGET,
        help="per quantity, check every term against its restricted pass when there are at "
        f"most this many, else a stratified sample of this many (default {TERM_BUDGET:,})",
    )
    parser.add_argument(
        "--sample-seed",
        type=int,
        default=0,
        help="the seed the sample of terms is drawn from (default 0)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Verify a random model of the architecture or the saved one, print the report (text or
    JSON); 0 if every check agrees, 1 if not."""
    if args.model is None and (args.heads is not None or args.layers is not None):
        # A bad --max-order is refused before any weights are drawn.
        check_order(options.architecture_from_args(args), args.max_order, "--max-order")
    validation.positive_integer(args.term_budget, "--term-budget")
    validation.seed(args.sample_seed, "--sample-seed")
    model, tokens = model_options.model_from_args(args, "verify", BATCH)
    check_order(model.architecture, args.max_order, "--max-order")
    report = ta.verify(
        model,
        tokens,
        args.max_order,
        term_budget=args.term_budget,
        sample_seed=args.sample_seed,
    )
    if args.format == "json":
        output.emit_json(report.to_json())
    else:
        output.emit([report.table()])
    return 0 if report.ok else 1
