"""``tensoralgebra derive``: a derivation in LaTeX or Markdown, as a fragment, a document or a PDF.

Without ``--out`` or ``--pdf`` the derivation goes to standard output: an ``align*`` fragment
(``--format latex``) or Markdown with display math. ``--out`` writes a standalone document
(``.tex``, or the Markdown), ``--pdf`` compiles the document with a TeX engine found on PATH
(the file name must end in ``.pdf``). Both refuse, before any work, a folder that does not exist
or a name that is a folder. ``--scores LAYER HEAD`` derives the attention scores of that head
(layer and head from 0, as in ``L1H0``; a schematic architecture's head is a name such as ``h``,
or ``0``) instead of the logits.
"""

from __future__ import annotations

import argparse

from tensoralgebra.cli import options, output
from tensoralgebra.errors import TensorAlgebraError

_EXAMPLES = """\
  tensoralgebra derive --layers 2
  tensoralgebra derive --heads 2,2 --scores 1 0 --format markdown
  tensoralgebra derive --layers 2 --pdf derivation.pdf"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``derive`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "derive",
        help="the expansion step by step, in LaTeX or Markdown (or a PDF)",
        description="Derive the logits (or a head's attention scores) step by step in the "
        "paper's notation: an align* fragment, Markdown, a standalone .tex or a PDF.",
        **options.described(_EXAMPLES),
    )
    options.add_architecture(parser)
    parser.add_argument(
        "--scores",
        nargs=2,
        metavar=("LAYER", "HEAD"),
        help="derive the attention scores of this head (from 0: '1 0' is L1H0)",
    )
    options.add_max_order(parser, "show terms of order ≤ K")
    options.add_format(parser, ("latex", "markdown"))
    parser.add_argument("--out", metavar="FILE", help="write a standalone document to FILE")
    parser.add_argument("--pdf", metavar="FILE.pdf", help="compile a PDF with a TeX engine")
    parser.set_defaults(run=run)


def _head(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def derivation(args: argparse.Namespace):
    """The derivation the options ask for."""
    from tensoralgebra.derivation import derive_logits, derive_scores  # only when deriving

    arch = options.architecture_from_args(args)
    if args.scores is None:
        return derive_logits(arch, max_order=args.max_order)
    layer, head = args.scores
    try:
        layer = int(layer)
    except ValueError:
        raise TensorAlgebraError(f"--scores: layer {layer!r} is not an integer") from None
    return derive_scores(arch, layer, _head(head), max_order=args.max_order)


def run(args: argparse.Namespace) -> int:
    """Print, write or compile the derivation."""
    # Output files are checked before the derivation is built, so a typo costs no work.
    pdf = None if args.pdf is None else output.check_output(args.pdf, "--pdf", (".pdf",))
    if args.out is not None:
        output.check_output(args.out, "--out")
        if args.out.lower().endswith(".pdf"):
            raise TensorAlgebraError(f"--out {args.out!r} writes LaTeX or Markdown: use --pdf")
    d = derivation(args)
    if pdf is not None:
        with output.writing(pdf, "--pdf"):
            d.to_pdf(pdf)
        output.emit([f"wrote {pdf}"])
    if args.out is not None:
        text = d.to_markdown() if args.format == "markdown" else d.to_document()
        output.emit([f"wrote {output.write_text(args.out, text, '--out')}"])
    if pdf is None and args.out is None:
        output.emit([d.to_markdown() if args.format == "markdown" else d.to_latex()])
    return 0
