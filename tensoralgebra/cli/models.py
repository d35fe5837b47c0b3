"""``tensoralgebra models``: the trained models that ship with the package, with their
architecture, data, held-out loss and size (``--model NAME`` of ``verify`` and ``top-paths``
loads one)."""

from __future__ import annotations

import argparse
import json

from tensoralgebra.cli import options, output

_EXAMPLES = """\
  tensoralgebra models
  tensoralgebra models --format json
  tensoralgebra verify --model two-layer-induction"""
_STATUS = "exit status: 0 listed, 2 a shipped model's file is missing from the install"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``models`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "models",
        help="list the trained models that ship with the package",
        description="List the package's trained models (one per training recipe): architecture, "
        "sizes, data, held-out loss in nats per token, training time and file size.",
        **options.described(_EXAMPLES, _STATUS),
    )
    options.add_format(parser)
    parser.set_defaults(run=run)


def facts(name: str) -> dict:
    """What the listing says of the shipped model ``name``."""
    from tensoralgebra import models

    record = models.info(name)
    config = record["config"]
    return {
        "name": name,
        "architecture": record["architecture"].to_dict(),
        "d_model": config.d_model,
        "d_head": config.d_head,
        "n_ctx": config.n_ctx,
        "data": record["data"],
        "held_out_loss": record["held_out_loss"],
        "steps": config.steps,
        "seed": record["seed"],
        "training_seconds": record["training_seconds"],
        "bytes": record["bytes"],
    }


def run(args: argparse.Namespace) -> int:
    """Print one line (or JSON object) per shipped model."""
    from tensoralgebra import models

    listed = [facts(name) for name in models.names()]
    if args.format == "json":
        output.emit_json(json.dumps(listed))
        return 0
    lines = [
        f"{'name':<21} {'heads':<7} {'d_model':>7} {'n_ctx':>5} {'data':<20} "
        f"{'held-out':>8} {'train s':>7} {'size':>8}"
    ]
    for fact in listed:
        heads = ",".join(map(str, fact["architecture"]["heads"])) or "-"
        lines.append(
            f"{fact['name']:<21} {heads:<7} {fact['d_model']:>7} {fact['n_ctx']:>5} "
            f"{fact['data']:<20} {fact['held_out_loss']:>8.4f} "
            f"{fact['training_seconds']:>7.0f} {fact['bytes'] / 1024:>6.0f} K"
        )
    output.emit(lines)
    return 0
