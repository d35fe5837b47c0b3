"""``tensoralgebra circuits``: the circuits report of one model (``ta.circuits.report``).

The model is the one saved in ``--model FILE.safetensors`` or a random one (``--heads`` and the
sizes, ``--seed``), as for ``verify``. ``--data NAME`` names the dataset the model reads: its
held-out sequences feed the order ablation and, for text, its ``decode`` labels the tokens. A
shipped model (``--model NAME``, or a file a recipe trained) reads its own data by default.
``--format`` text (the terminal) or json go to standard output, or to ``report.txt`` /
``report.json`` in ``--out DIR``; html is one self-contained page (``report.html`` in ``--out
DIR``, else standard output); markdown needs ``--out DIR`` for its figure files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tensoralgebra import validation
from tensoralgebra.cli import model_options, options
from tensoralgebra.errors import TensorAlgebraError

FORMATS = ("text", "json", "html", "markdown")
_SUFFIX = {"text": "txt", "json": "json", "html": "html", "markdown": "md"}
_EXAMPLES = """\
  tensoralgebra circuits --model two-layer-induction
  tensoralgebra circuits --model model.safetensors
  tensoralgebra circuits --model model.safetensors --format html --out report/
  tensoralgebra circuits --heads 2,2 --d-vocab 97 --data stdlib-chars --format markdown --out r/"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``circuits`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "circuits",
        help="the circuits report of a model: composition, copying, detectors, skip-trigrams, "
        "ablation",
        description="Analyse one model as the paper does: composition scores against their "
        "random baseline, copying spectra, head detectors, skip-trigram tables of the top "
        "heads and the order-by-order ablation, with their figures, in one document.",
        **options.described(_EXAMPLES, options.ASCII_NOTE),
    )
    model_options.add_model_options(parser, "report on")
    parser.add_argument(
        "--data", metavar="NAME", help="the model's dataset: held-out text and its decoding"
    )
    parser.add_argument(
        "--sequences",
        type=int,
        default=64,
        metavar="N",
        help="held-out sequences of the data for the ablation (default 64)",
    )
    parser.add_argument(
        "--top-heads",
        type=int,
        default=3,
        metavar="N",
        help="skip-trigram tables of the N heads of largest OV (default 3)",
    )
    parser.add_argument(
        "--sources",
        type=int,
        metavar="N",
        help="skip-trigrams: scan the N sources of largest OV column norm",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=1000,
        metavar="N",
        help="Monte Carlo samples of the composition baseline (default 1000)",
    )
    parser.add_argument("--format", default="text", help=f"one of {', '.join(FORMATS)}")
    parser.add_argument("--out", metavar="DIR", help="write report.<format> (and figures) here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the report and print or write it; 0 on success."""
    from tensoralgebra.circuits.baseline import MAX_SAMPLES
    from tensoralgebra.circuits.report import MAX_SEQUENCES, report

    fmt = validation.choice(args.format, "--format", FORMATS)
    top_heads = validation.positive_integer(args.top_heads, "--top-heads")
    sources = (
        None if args.sources is None else validation.positive_integer(args.sources, "--sources")
    )
    samples = validation.positive_integer(args.samples, "--samples", maximum=MAX_SAMPLES)
    out = _out(args.out, fmt)
    model, _ = model_options.model_from_args(args, "circuits", batch=1)
    if sources is not None and sources > model.weights.d_vocab:
        raise TensorAlgebraError(
            f"--sources is {sources}: the model has {model.weights.d_vocab} tokens"
        )
    if args.model is not None and args.data is None:
        from tensoralgebra import models

        models.mark(model, model_options.model_file(args.model))  # its data, if a recipe's
    tokens, decode = _data(args, model.weights.n_ctx)
    result = report(
        model,
        tokens,
        decode,
        sequences=validation.positive_integer(args.sequences, "--sequences", maximum=MAX_SEQUENCES),
        top_heads=top_heads,
        sources=sources,
        samples=samples,
        seed=args.seed,
        figures=fmt in ("html", "markdown"),
    )
    if fmt == "markdown":
        text = result.to_markdown(out)
    elif fmt == "html":
        text = result.to_html()
    else:
        text = result.to_text() if fmt == "text" else json.dumps(result.to_dict(), indent=1)
    if out is None:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        path = out / f"report.{_SUFFIX[fmt]}"
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


def _out(value: str | None, fmt: str) -> Path | None:
    """``--out`` as a directory (made if missing); markdown needs one."""
    if value is None:
        if fmt == "markdown":
            raise TensorAlgebraError("--format markdown needs --out DIR for its figure files")
        return None
    folder = Path(value)
    if folder.exists() and not folder.is_dir():
        raise TensorAlgebraError(f"--out {value}: not a directory")
    if not folder.parent.is_dir():
        raise TensorAlgebraError(f"--out {value}: its parent directory does not exist")
    folder.mkdir(exist_ok=True)
    return folder


def _data(args: argparse.Namespace, n_ctx: int):
    """``(tokens, decode)`` of ``--data``: held-out sequences, and the dataset when it has text."""
    if args.data is None:
        return None, None
    from tensoralgebra.training.data import dataset
    from tensoralgebra.training.data.base import TokenData

    data = dataset(args.data)
    from tensoralgebra.circuits.report import MAX_SEQUENCES

    n = validation.positive_integer(args.sequences, "--sequences", maximum=MAX_SEQUENCES)
    decode = data if type(data).decode is not TokenData.decode else None
    return data.held_out(n_ctx, n), decode
