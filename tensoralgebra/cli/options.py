"""Options the commands share: the architecture (``--heads``, ``--layers``, ``--positional``,
``--normalization``, ``--biases``),
``--format``, ``--max-order``, and the flags that stand for the library's parameters in messages.

``--heads SPEC`` gives each layer's head count, comma-separated (``2,2``: two layers of two
heads); an item ``NxH`` stands for N layers of H heads (``3x4`` is ``4,4,4``, ``1,2x3`` is
``1,3,3``); ``""`` is the zero-layer model and ``0`` a layer without heads. The spec is checked
against :data:`MAX_LAYERS` and :data:`MAX_HEADS` before any tuple is built, so a short spec can
never ask for a billion layers.

>>> parse_heads("2,2"), parse_heads("3x4"), parse_heads("1, 2x0"), parse_heads("")
((2, 2), (4, 4, 4), (1, 0, 0), ())
>>> parse_heads("1000000000x1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: --heads '1000000000x1': 1000000000 layers, more than ...
>>> advice("max_order", 1), advice("n_layers", 3)
('use --max-order 1', 'use --layers 3')
"""

from __future__ import annotations

import argparse
import textwrap

from tensoralgebra import architecture
from tensoralgebra.architecture import NORMALIZATIONS, POSITIONAL_KINDS, Architecture
from tensoralgebra.errors import TensorAlgebraError

#: The most layers ``--heads`` or ``--layers`` may ask for (an architecture's own limit).
MAX_LAYERS = architecture.MAX_LAYERS
#: The most heads one layer may have on the command line.
MAX_HEADS = 1_000_000

#: Library parameters whose command-line flag is not the parameter name with dashes.
FLAGS = {"n_layers": "--layers", "arch": "--heads"}
#: Library parameters with no flag at all: what to do instead.
INSTEAD = {
    "max_terms": "list fewer terms with --max-order, or count them all with 'tensoralgebra count'",
}


def flag(parameter: str) -> str:
    """The command-line flag of a library parameter: ``max_order`` → ``--max-order``."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def advice(parameter: str, value: object) -> str:
    """Advice naming a flag and a value known to fit (from an ``ExpansionLimitError``)."""
    if parameter in INSTEAD:
        return INSTEAD[parameter]
    if parameter == "layer":  # a derivation of scores: the head is the user's to choose
        return f"use --scores {value} HEAD (a head of layer {value})"
    return f"use {flag(parameter)} {value}"


def _item(spec: str, item: str) -> tuple[int, int]:
    text = item.strip().lower()
    layers, x, count = text.partition("x")
    try:
        return (int(layers), int(count)) if x else (1, int(text))
    except ValueError:
        raise TensorAlgebraError(
            f"--heads {spec!r}: {text!r} is neither a head count nor NxH (N layers of H heads)"
        ) from None


def parse_heads(spec: str) -> tuple[int, ...]:
    """Head counts per layer from ``--heads``, checked against :data:`MAX_LAYERS` and
    :data:`MAX_HEADS` before they are built. Negative head counts pass through for the
    Architecture to refuse, naming the layer."""
    if not spec.strip():
        return ()
    heads: list[int] = []
    for item in spec.split(","):
        n, h = _item(spec, item)
        if n < 0:
            raise TensorAlgebraError(f"--heads {spec!r}: {item.strip()!r} asks for {n} layers")
        if len(heads) + n > MAX_LAYERS:
            raise TensorAlgebraError(
                f"--heads {spec!r}: {len(heads) + n} layers, more than the {MAX_LAYERS} supported"
            )
        if h > MAX_HEADS:
            raise TensorAlgebraError(
                f"--heads {spec!r}: {h} heads in a layer, more than the {MAX_HEADS} supported"
            )
        heads += [h] * n
    return tuple(heads)


def given(args: argparse.Namespace) -> str:
    """The architecture option as the user typed it: ``--heads '2,2'`` or ``--layers 3``."""
    return f"--layers {args.layers}" if args.layers is not None else f"--heads {args.heads!r}"


#: The commands that take real architectures (``--normalization``, ``--biases``,
#: ``--positional shortformer``): the symbolic ones. The others refuse them for now.
REAL_ARCHITECTURE_COMMANDS = (
    "expand",
    "count",
    "scores",
    "derive",
    "verify",
    "graph",
    "paths",
    "train",
)


def _real_options(args: argparse.Namespace) -> str:
    """The real-architecture options as typed: ``--normalization LN --biases``."""
    typed = [f"--normalization {args.normalization}"] if args.normalization else []
    typed += ["--biases"] if args.biases else []
    return " ".join(
        typed + (["--positional shortformer"] if args.positional == "shortformer" else [])
    )


def architecture_from_args(args: argparse.Namespace) -> Architecture:
    """The architecture that ``--heads`` or ``--layers``, ``--positional``, ``--normalization``
    and ``--biases`` describe; a real architecture is refused by commands that do not take one
    yet (all but :data:`REAL_ARCHITECTURE_COMMANDS`)."""
    arch = _architecture(args)
    command = getattr(args, "command", None)
    if not arch.is_idealised and command not in REAL_ARCHITECTURE_COMMANDS:
        raise TensorAlgebraError(
            f"{_real_options(args)}: {command} does not handle biases, LayerNorm or shortformer "
            f"positions yet; {', '.join(REAL_ARCHITECTURE_COMMANDS)} do"
        )
    return arch


def _architecture(args: argparse.Namespace) -> Architecture:
    positional = None if args.positional == "none" else args.positional
    real = {"normalization": args.normalization, "biases": args.biases}
    if args.layers is not None and args.layers > MAX_LAYERS:
        raise TensorAlgebraError(
            f"--layers {args.layers}: more than the {MAX_LAYERS} layers supported"
        )
    try:
        if args.layers is not None:
            return Architecture.schematic(args.layers, positional, **real)
        return Architecture(parse_heads(args.heads), positional, **real)
    except TensorAlgebraError as error:
        # Say which option the bad value came from, unless the message already does.
        message = str(error)
        raise TensorAlgebraError(
            message if given(args) in message else f"{given(args)}: {message}"
        ) from None


def concrete_architecture_from_args(args: argparse.Namespace, needs: str) -> Architecture:
    """:func:`architecture_from_args`, refused when schematic: ``needs`` says what needs heads."""
    arch = architecture_from_args(args)
    if arch.is_schematic:
        raise TensorAlgebraError(
            f"--layers {args.layers}: {needs} needs concrete head counts; use --heads"
        )
    return arch


def add_architecture(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``--heads SPEC`` or ``--layers L``, and ``--positional``."""
    which = parser.add_mutually_exclusive_group(required=required)
    which.add_argument(
        "--heads",
        metavar="SPEC",
        help="head counts per layer: '2,2'; NxH = N layers of H heads ('3x4'); '' = no layers "
        f"(at most {MAX_LAYERS} layers of {MAX_HEADS} heads)",
    )
    which.add_argument(
        "--layers",
        metavar="L",
        type=int,
        help=f"L layers with symbolic head sets (schematic; L ≤ {MAX_LAYERS})",
    )
    parser.add_argument(
        "--positional",
        choices=[kind or "none" for kind in POSITIONAL_KINDS],
        default="none",
        help="'standard' adds the position source Id ⊗ W_pos to the residual stream; "
        "'shortformer' adds it to what each layer's queries and keys read only",
    )
    parser.add_argument(
        "--normalization",
        choices=[kind for kind in NORMALIZATIONS if kind],
        default=None,
        help="a LayerNorm before every layer and the unembedding, frozen: 'LN' (weight, and bias "
        "with --biases) or 'LNPre' (neither)",
    )
    parser.add_argument(
        "--biases",
        action="store_true",
        help="every bias: each layer's constant source, the unembedding bias, query and key biases",
    )


def add_format(parser: argparse.ArgumentParser, formats: tuple[str, ...] = ("text", "json")):
    """``--format``, the first of ``formats`` by default."""
    parser.add_argument("--format", choices=formats, default=formats[0], help="output format")


def add_max_order(parser: argparse.ArgumentParser, what: str = "only paths of order ≤ K") -> None:
    """``--max-order K``."""
    parser.add_argument("--max-order", metavar="K", type=int, help=what)


#: The help's note on output that the terminal cannot encode.
ASCII_NOTE = (
    "notation: where the output cannot encode the paper's symbols (PYTHONIOENCODING=ascii), "
    "they are spelled in ASCII: ⊗ as (x), Σ as sum, ∈ as in, · as *, → as ->, ᵀ as ^T, "
    "≤ as <=, ≈ as ~, subscripts ₁ as _1; JSON keeps them exact as \\u escapes"
)


def described(examples: str, *notes: str) -> dict:
    """Keyword arguments for ``add_parser``: an epilog of examples and notes, kept as written."""
    epilog = "\n\n".join(["examples:\n" + examples, *(textwrap.fill(n, 90) for n in notes)])
    return {"epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
