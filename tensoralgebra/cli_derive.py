"""``tensoralgebra derive``: a derivation in LaTeX or Markdown, as a fragment, a document or a PDF.

Usage::

    tensoralgebra derive (--heads SPEC | --layers L) [--scores LAYER HEAD]
                         [--positional standard] [--max-order K] [--format latex|markdown]
                         [--out FILE] [--pdf FILE.pdf]

Without ``--out`` or ``--pdf`` the derivation goes to standard output: an ``align*`` fragment
(``--format latex``) or Markdown with display math. ``--out`` writes a standalone document
(``.tex``, or the Markdown), ``--pdf`` compiles the document with a TeX engine found on PATH.
``--scores LAYER HEAD`` derives the attention scores of that head (layer and head from 0, as in
``L1H0``; a schematic architecture's head is a name such as ``h``, or ``0``) instead of the logits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tensoralgebra.errors import TensorAlgebraError


def register(subparsers) -> None:
    """Add the ``derive`` subcommand to the ``tensoralgebra`` command's subparsers."""
    from tensoralgebra.cli import _architecture_options

    derive = subparsers.add_parser(
        "derive",
        help="the expansion step by step, in LaTeX or Markdown (or a PDF)",
        description="Derive the logits (or a head's attention scores) step by step in the "
        "paper's notation: an align* fragment, Markdown, a standalone .tex or a PDF.",
    )
    _architecture_options(derive)
    derive.add_argument(
        "--scores",
        nargs=2,
        metavar=("LAYER", "HEAD"),
        help="derive the attention scores of this head (from 0: '1 0' is L1H0)",
    )
    derive.add_argument("--max-order", metavar="K", type=int, help="show terms of order ≤ K")
    derive.add_argument(
        "--format", choices=("latex", "markdown"), default="latex", help="output format"
    )
    derive.add_argument("--out", metavar="FILE", help="write a standalone document to FILE")
    derive.add_argument("--pdf", metavar="FILE.pdf", help="compile a PDF with a TeX engine")
    derive.set_defaults(run=run_derive)


def _head(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def derivation(args: argparse.Namespace):
    """The derivation the options ask for."""
    from tensoralgebra.cli import architecture
    from tensoralgebra.latex import derive_logits, derive_scores

    arch = architecture(args)
    if args.scores is None:
        return derive_logits(arch, max_order=args.max_order)
    layer, head = args.scores
    try:
        layer = int(layer)
    except ValueError:
        raise TensorAlgebraError(f"--scores: layer {layer!r} is not an integer") from None
    return derive_scores(arch, layer, _head(head), max_order=args.max_order)


def run_derive(args: argparse.Namespace) -> int:
    """``tensoralgebra derive``: print, write or compile the derivation."""
    d = derivation(args)
    if args.pdf:
        path = d.to_pdf(args.pdf)
        print(f"wrote {path}")
    if args.out:
        text = d.to_markdown() if args.format == "markdown" else d.to_document()
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    if not (args.pdf or args.out):
        print(d.to_markdown() if args.format == "markdown" else d.to_latex())
    return 0


def demo_section() -> list[str]:
    """The demo's derivation section: the 2-layer schematic logit derivation in LaTeX."""
    from tensoralgebra.architecture import Architecture
    from tensoralgebra.latex import derive_logits

    d = derive_logits(Architecture.schematic(n_layers=2))
    return [
        "The derivation in LaTeX, the paper's notation (tensoralgebra derive --layers 2; "
        "add --pdf FILE.pdf to typeset it):",
        "",
        *d.to_latex().splitlines(),
    ]
