"""``tensoralgebra train``: train an attention-only transformer on a dataset that needs no network.

The architecture comes from ``--heads`` (``--layers 0`` is the zero-layer model; more layers need
head counts), with ``--positional``, ``--normalization`` and ``--biases``; the sizes from
``--d-model``, ``--d-head``, ``--n-ctx``; the data from ``--data NAME`` (its vocabulary sets
``d_vocab``). The trained weights are written to ``--out FILE.safetensors`` with the training
record in the metadata, and the final losses printed. Ctrl-C writes a checkpoint (``--checkpoint``,
by default beside ``--out``) and exits with status 130, saying how to resume (``--resume``).
"""

from __future__ import annotations

import argparse
import json
import sys

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture
from tensoralgebra.cli import options, output

#: Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130

#: Integer options: (flag, default, largest accepted, what it is). ``None``: off.
INTEGERS = (
    ("--d-model", 64, 4096, "residual stream width"),
    ("--d-head", 16, 1024, "head width"),
    ("--n-ctx", 64, 4096, "context length of the training sequences (at least 2)"),
    ("--steps", 1000, 10**8, "optimizer steps"),
    ("--batch-size", 32, 10**6, "sequences per step"),
    ("--warmup", None, 10**8, "steps of linear warm-up (default: a tenth of --steps)"),
    ("--log-every", 10, 10**8, "steps between logged training losses"),
    ("--eval-every", None, 10**8, "steps between held-out losses (default: at the end only)"),
    ("--checkpoint-every", None, 10**8, "steps between checkpoints (default: on Ctrl-C only)"),
    ("--threads", 1, 256, "torch threads"),
)
#: Real-number options: (flag, default, what it is, whether 0 is allowed).
NUMBERS = (
    ("--lr", 1e-3, "peak learning rate", False),
    ("--weight-decay", 0.01, "AdamW weight decay on the matrices", True),
    ("--grad-clip", 1.0, "gradient norm clipped to this (0: no clipping)", True),
    ("--max-seconds", None, "refuse or stop a run longer than this", False),
)

_EXAMPLES = """\
  tensoralgebra train --heads 2x4 --d-model 64 --n-ctx 64 --data synthetic-induction \\
      --steps 2000 --out induction.safetensors
  tensoralgebra train --layers 0 --data stdlib --steps 500 --lr 0.01 --out bigrams.safetensors
  tensoralgebra train --heads 2x4 ... --resume induction.checkpoint.safetensors"""
_STATUS = "exit status: 0 trained, 2 bad input, 130 interrupted (a checkpoint was written)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "train",
        help="train an attention-only transformer on data that needs no network",
        description="Train the package's attention-only transformer of the architecture on a "
        "dataset (AdamW, warm-up and cosine decay, deterministic on CPU) and write its weights, "
        "with the training config, the data's fingerprint and the losses in the metadata.",
        **options.described(_EXAMPLES, _STATUS),
    )
    options.add_architecture(parser)
    parser.add_argument("--data", metavar="NAME", required=True, help="the dataset to train on")
    for flag, default, maximum, meaning in INTEGERS:
        shown = "" if default is None else f"; default {default}"
        parser.add_argument(flag, type=int, metavar="N", help=f"{meaning} (≤ {maximum:,}{shown})")
    for flag, default, meaning, _ in NUMBERS:
        shown = "" if default is None else f" (default {default:g})"
        parser.add_argument(flag, type=float, metavar="X", help=meaning + shown)
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and batches")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--out", metavar="FILE", required=True, help="the trained .safetensors")
    parser.add_argument("--checkpoint", metavar="FILE", help="where checkpoints are written")
    parser.add_argument("--resume", metavar="CKPT", help="continue the run of this checkpoint")
    parser.add_argument("--log", metavar="FILE", help="the loss history, .jsonl or .csv")
    options.add_format(parser)
    parser.set_defaults(run=run)


def load_dataset(name: str):
    """The dataset registered as ``name`` (an unknown name is refused, listing the known)."""
    from tensoralgebra.training.data import dataset

    return dataset(name)


def run(args: argparse.Namespace) -> int:
    """Train, print the losses and where the model went; 130 after Ctrl-C."""
    from tensoralgebra.training import TrainingInterrupted, train

    arch = _architecture(args)
    settings = _settings(args)
    paths = _paths(args)
    data = load_dataset(args.data)
    try:
        result = train(arch, data, **paths, **settings)
    except TrainingInterrupted as stopped:
        print(_interrupted(args, stopped), file=sys.stderr)
        return INTERRUPTED
    _report(args, result)
    return 0


def _architecture(args: argparse.Namespace) -> Architecture:
    if args.layers == 0:  # no layers: nothing is schematic
        arch = options.architecture_from_args(args)
        return Architecture((), arch.positional, arch.normalization, arch.biases)
    return options.concrete_architecture_from_args(args, "train")


def _settings(args: argparse.Namespace) -> dict:
    """The training settings, each checked under its flag's name."""
    settings = {"seed": validation.seed(args.seed, "--seed"), "dtype": args.dtype}
    for flag, default, maximum, _ in INTEGERS:
        key = flag[2:].replace("-", "_")
        value = getattr(args, key)
        value = default if value is None else value
        low = 0 if flag == "--warmup" else 1
        if value is not None:
            value = validation.integer(
                value, flag, low=low, high=maximum + 1, context=f"expected {low}..{maximum:,}"
            )
        settings[key] = value
    for flag, default, _, zero in NUMBERS:
        key = flag[2:].replace("-", "_")
        value = getattr(args, key)
        value = default if value is None else value
        if value is not None:
            check = validation.non_negative_number if zero else validation.positive_number
            value = check(value, flag)
        settings[key] = value
    settings["grad_clip"] = settings["grad_clip"] or None  # 0: no clipping
    return settings


def _paths(args: argparse.Namespace) -> dict:
    found = {"out": output.check_output(args.out, "--out", (".safetensors",))}
    if args.checkpoint is not None:
        found["checkpoint"] = output.check_output(
            args.checkpoint, "--checkpoint", (".safetensors",)
        )
    if args.log is not None:
        found["log"] = output.check_output(args.log, "--log", (".jsonl", ".csv"))
    if args.resume is not None:
        found["resume"] = args.resume
    return found


def _interrupted(args: argparse.Namespace, stopped) -> str:
    if stopped.checkpoint is None:
        return f"tensoralgebra train: interrupted after {stopped.step} steps; nothing was saved"
    return (
        f"tensoralgebra train: interrupted after {stopped.step} steps; checkpoint written to "
        f"{stopped.checkpoint}; to continue, run the same command with --resume "
        f"{stopped.checkpoint}"
    )


def _report(args: argparse.Namespace, result) -> None:
    config = result.config
    facts = {
        "architecture": config.architecture.to_dict(),
        "data": result.metadata["data"],
        "steps": config.steps,
        "train_loss": result.train_loss,
        "held_out_loss": result.held_out_loss,
        "seconds": round(result.seconds, 3),
        "tokens_per_second": round(result.tokens_per_second),
        "out": str(result.out),
    }
    if args.format == "json":
        output.emit_json(json.dumps(facts))
        return
    output.emit(
        [
            f"trained {config.architecture!r} on {facts['data']}: {config.steps:,} steps of "
            f"{config.batch_size} x {config.n_ctx} tokens in {result.seconds:.1f} s "
            f"({result.tokens_per_second:,.0f} tokens/s)",
            f"train loss {result.train_loss:.4f}, held-out loss {result.held_out_loss:.4f} "
            "(nats per token)",
            f"model written to {result.out}",
        ]
    )
