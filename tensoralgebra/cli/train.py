"""``tensoralgebra train``: train an attention-only transformer on a dataset that needs no network.

The architecture comes from ``--heads`` (``--layers 0`` is the zero-layer model; more layers need
head counts), with ``--positional``, ``--normalization`` and ``--biases``; the sizes from
``--d-model``, ``--d-head``, ``--n-ctx``; the data from ``--data NAME`` (its vocabulary sets
``d_vocab``). The trained weights are written to ``--out FILE.safetensors`` with the training
record in the metadata, and the final losses printed. Ctrl-C writes a checkpoint (``--checkpoint``,
by default beside ``--out``) and exits with status 130, saying how to resume (``--resume``).

``--recipe NAME`` runs a named recipe of :mod:`tensoralgebra.training.recipes` instead (the
shipped models' runs): it fixes the architecture, sizes, data and schedule, so those options are
refused beside it; ``--seed`` (default: the recipe's), ``--out`` (default ``NAME.safetensors``),
the checkpoint, log, thread and time options still apply.
"""

from __future__ import annotations

import argparse
import json
import sys

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture
from tensoralgebra.cli import options, output
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError

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
  tensoralgebra train --heads 2x4 ... --resume induction.checkpoint.safetensors
  tensoralgebra train --recipe two-layer-induction --seed 1 --out induction-1.safetensors"""
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
    parser.add_argument(
        "--recipe", metavar="NAME", help="a named recipe (the shipped models' runs): " + _recipes()
    )
    options.add_architecture(parser, required=False)
    parser.set_defaults(positional=None)  # None: not given, to refuse it beside --recipe
    parser.add_argument("--data", metavar="NAME", help="the dataset to train on")
    for flag, default, maximum, meaning in INTEGERS:
        shown = "" if default is None else f"; default {default}"
        parser.add_argument(flag, type=int, metavar="N", help=f"{meaning} (≤ {maximum:,}{shown})")
    for flag, default, meaning, _ in NUMBERS:
        shown = "" if default is None else f" (default {default:g})"
        parser.add_argument(flag, type=float, metavar="X", help=meaning + shown)
    parser.add_argument(
        "--seed", type=int, help="seed of the weights and batches (default 0, or the recipe's)"
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), help="default float32")
    parser.add_argument(
        "--out", metavar="FILE", help="the trained .safetensors (with --recipe: NAME.safetensors)"
    )
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

    if args.recipe is not None:
        return _run_recipe(args)
    if args.data is None or (args.heads is None and args.layers is None):
        raise TensorAlgebraError(
            "train needs --recipe NAME, or an architecture (--heads SPEC or --layers 0) and "
            "--data NAME"
        )
    if args.out is None:
        raise TensorAlgebraError("train needs --out FILE.safetensors (optional with --recipe)")
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


def _recipes() -> str:
    from tensoralgebra.training.recipes import RECIPES

    return ", ".join(RECIPES)


def _run_recipe(args: argparse.Namespace) -> int:
    """Run ``--recipe``: only the seed, paths, threads and time limit may be set beside it."""
    from tensoralgebra.training import TrainingInterrupted
    from tensoralgebra.training.recipes import recipe

    chosen = recipe(args.recipe)
    fixed = [f for f in _RECIPE_FIXES if getattr(args, f[2:].replace("-", "_")) is not None]
    fixed += ["--biases"] if args.biases else []
    if fixed:
        raise TensorAlgebraError(
            f"--recipe {chosen.name}: {', '.join(fixed)} not allowed with --recipe (the recipe "
            "fixes the architecture, sizes, data and schedule; train without --recipe to "
            "choose them)"
        )
    args.out = args.out or f"{chosen.name}.safetensors"
    paths = _paths(args)
    threads = 1 if args.threads is None else args.threads
    watch = {"threads": validation.positive_integer(threads, "--threads", maximum=256)}
    if args.max_seconds is not None:
        watch["max_seconds"] = validation.positive_number(args.max_seconds, "--max-seconds")
    if args.checkpoint_every is not None:
        watch["checkpoint_every"] = validation.positive_integer(
            args.checkpoint_every, "--checkpoint-every"
        )
    seed = None if args.seed is None else validation.seed(args.seed, "--seed")
    try:
        result = chosen.train(seed, **paths, **watch)
    except ExpansionLimitError as refused:
        # A recipe's steps and sizes are fixed: advice to lower them does not apply.
        timed = "max_seconds" in refused.reason
        advice = "steps are fixed: raise --max-seconds" if timed else "sizes are fixed"
        raise ExpansionLimitError(f"{refused.reason}; a recipe's {advice}") from None
    except TrainingInterrupted as stopped:
        print(_interrupted(args, stopped), file=sys.stderr)
        return INTERRUPTED
    _report(args, result)
    return 0


#: The options a recipe fixes: refused beside ``--recipe``.
_RECIPE_FIXES = (
    "--heads",
    "--layers",
    "--positional",
    "--normalization",
    "--data",
    "--d-model",
    "--d-head",
    "--n-ctx",
    "--steps",
    "--batch-size",
    "--warmup",
    "--log-every",
    "--eval-every",
    "--lr",
    "--weight-decay",
    "--grad-clip",
    "--dtype",
)


def _architecture(args: argparse.Namespace) -> Architecture:
    if args.layers == 0:  # no layers: nothing is schematic
        arch = options.architecture_from_args(args)
        return Architecture((), arch.positional, arch.normalization, arch.biases)
    return options.concrete_architecture_from_args(args, "train")


def _settings(args: argparse.Namespace) -> dict:
    """The training settings, each checked under its flag's name."""
    seed = validation.seed(args.seed or 0, "--seed")
    settings = {"seed": seed, "dtype": args.dtype or "float32"}
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
        "out": str(result.out or args.out),
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
            f"model written to {result.out or args.out}",
        ]
    )
