"""The model a command runs on: a random one of ``--heads`` and the size options, drawn with
``--seed`` at the scales of ``--init``, or the one saved in ``--model FILE.safetensors`` (whose
file gives the architecture, sizes, dtype and values, so those options are refused beside it);
and tokens drawn with ``--seed`` from another stream than the weights'. ``--model NAME`` loads a
shipped model (:mod:`tensoralgebra.models`) when NAME is not a path. Shared by ``verify`` and
``top-paths``.
"""

from __future__ import annotations

import argparse

import numpy as np

import tensoralgebra as ta
from tensoralgebra import validation
from tensoralgebra.cli import options
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.random_weights import INITS

#: The size options: (flag, default, largest accepted, what it is).
SIZES = (
    ("--d-model", 32, 4096, "residual stream width"),
    ("--d-head", 8, 1024, "head width"),
    ("--d-vocab", 50, 1_000_000, "vocabulary size"),
    ("--n-ctx", 16, 4096, "context length (the tokens fill it)"),
)
#: What ``--model`` replaces: refused beside it.
_FROM_THE_FILE = ("--heads", "--layers", "--positional", "--dtype", "--init")


def add_model_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--heads``/``--layers``, ``--model``, the sizes, ``--seed`` and ``--dtype``; ``what``
    the command does with the model ("verify", "search")."""
    options.add_architecture(parser, required=False)
    parser.add_argument(
        "--model",
        metavar="FILE|NAME",
        help=f"{what} the model saved in FILE.safetensors, or the shipped model NAME "
        "(tensoralgebra models)",
    )
    # Defaults of None tell an option given from one left out, to refuse it with --model.
    parser.set_defaults(positional=None)
    for name, default, maximum, meaning in SIZES:
        parser.add_argument(
            name, type=int, metavar="N", help=f"{meaning} (1..{maximum}; default {default})"
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
    parser.add_argument(
        "--init",
        choices=INITS,
        help="initial scales of the random model: fan-in (default; activations of order one) "
        "or gpt2 (GPT-2's: 0.02, and 0.02/sqrt(2 n_layers) for W_O)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device to compute on: cpu (default), cuda, cuda:N where present",
    )


def model_from_args(args: argparse.Namespace, command: str, batch: int):
    """The model the options describe and tokens [batch, n_ctx] of its vocabulary."""
    seed = validation.seed(args.seed, "--seed")
    device = validation.device(getattr(args, "device", "cpu"), "--device")
    if args.model is not None:
        weights = _saved(args)
    else:
        if args.heads is None and args.layers is None:
            raise TensorAlgebraError(
                f"{command} needs a model: --heads SPEC (a random one) or --model FILE.safetensors"
            )
        arch = options.concrete_architecture_from_args(args, command)
        weights = ta.Weights.random(
            arch,
            **_sizes(args),
            seed=seed,
            dtype=args.dtype or "float64",
            init=args.init or "fan-in",
        )
    tokens = np.random.default_rng([seed, 1]).integers(  # not the weights' stream
        0, weights.d_vocab, size=(batch, weights.n_ctx)
    )
    return ta.AttentionOnlyTransformer(weights, device=device), tokens


def _sizes(args: argparse.Namespace) -> dict[str, int]:
    """The random model's sizes, each checked against its bound (the memory budget is the
    library's)."""
    sizes = {}
    for name, default, maximum, _ in SIZES:
        key = name[2:].replace("-", "_")
        value = getattr(args, key)
        sizes[key] = validation.positive_integer(
            default if value is None else value, name, maximum=maximum
        )
    return sizes


def _saved(args: argparse.Namespace):
    from tensoralgebra.io import load_weights  # safetensors is needed by this option only

    flags = [name for name, *_ in SIZES] + list(_FROM_THE_FILE)
    given = [flag for flag in flags if getattr(args, flag[2:].replace("-", "_"), None) is not None]
    if given:
        raise TensorAlgebraError(
            f"--model {args.model}: {', '.join(given)} not allowed with --model (the file "
            "gives the architecture, sizes and dtype)"
        )
    return load_weights(model_file(args.model))


def model_file(value: str):
    """The file ``--model`` names: a path, or else the name of a shipped model
    (``tensoralgebra models``); a value that is neither is refused, listing the shipped ones."""
    from pathlib import Path

    candidate = Path(value)
    if candidate.exists() or candidate.suffix or "/" in value or "\\" in value:
        return candidate  # a path: load_weights says what is wrong with it
    from tensoralgebra import models

    return models.path(value)
