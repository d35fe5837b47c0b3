r"""How large a derivation may be, decided from counts before anything is built.

A derivation builds the whole expansion (every step holds every term, even when ``max_order``
shows only some), renders every shown term in every step, and is meant to compile with a TeX
engine. Three limits follow, each estimated from the closed-form term counts
(:func:`~tensoralgebra.count_logit_paths`, :func:`~tensoralgebra.count_score_paths`), so that a
request is refused in milliseconds instead of failing after minutes:

- **build work**: terms of the expansion × layers they pass through (× :data:`SCHEMATIC_WEIGHT`
  for a schematic architecture, whose terms carry sums and renaming), at most
  :data:`MAX_BUILD_WORK`: about five seconds on a laptop;
- **terms listed**: a concrete architecture's derivation lists at most
  :data:`MAX_DERIVATION_TERMS` terms per step (a schematic one groups them);
- **LaTeX size**: at most :data:`MAX_DERIVATION_BYTES` of LaTeX (estimated per term from the
  number of layers), about a hundred pages. ``pdflatex`` with TeX Live's default memory
  compiles a 550 kB derivation (the 9-layer schematic logits, 129 pages) and stops with "TeX
  capacity exceeded" on a 1.2 MB one (10 layers).

With the defaults, the schematic logits fit up to 8 layers, the schematic scores of a head up to
layer 4 (from 0), and a concrete architecture fits while its expansion lists at most 64 terms
(more with ``max_order``, while the whole expansion stays buildable).

A request that does not fit raises :class:`~tensoralgebra.errors.ExpansionLimitError` whose
``option`` and ``value`` name a change that fits, checked with the same estimates: a lower
``max_order`` (a concrete architecture, the rest written as ``\cdots``), the schematic form of
the same depth (``n_layers``: ``Architecture.schematic(n_layers)``, ``--layers`` on the command
line), fewer layers (``n_layers``, schematic) or, for scores, a lower ``layer``.

>>> import tensoralgebra as ta
>>> fits(Request("logits", ta.Architecture.schematic(8)))
True
>>> r = Request("logits", ta.Architecture.schematic(12))
>>> fits(r), advice(r)
(False, ('n_layers', 8))
>>> advice(Request("logits", ta.Architecture(heads=(4, 4, 4))))
('max_order', 2)
>>> advice(Request("logits", ta.Architecture(heads=(6,) * 8)))
('n_layers', 8)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.paths import count_logit_paths
from tensoralgebra.scores import count_score_paths, scoring_head
from tensoralgebra.validation import optional_integer

#: A concrete architecture's derivation lists at most this many terms per step.
MAX_DERIVATION_TERMS = 64
#: The LaTeX a derivation may render, in bytes (estimated before rendering; see the module).
MAX_DERIVATION_BYTES = 400_000
#: Terms × layers a derivation may build (see the module): about five seconds.
MAX_BUILD_WORK = 20_000
#: A schematic term costs this many concrete ones to build (sums over head sets, renaming).
SCHEMATIC_WEIGHT = 4
#: Steps that list every shown term: distributivity, mixed product, renaming or reordering, and
#: the grouping (an upper bound: grouping lists fewer).
LISTING_STEPS = 4
#: Term counts above this are not computed exactly (they are refused all the same).
TERMS_CAP = 10**15
#: Bytes of the document around the derivation (preamble, title, notes).
DOCUMENT_BYTES = 1500


@dataclass(frozen=True)
class Request:
    """What is to be derived: ``kind`` is ``"logits"`` or ``"scores"`` (of ``head`` of
    ``layer``); validated by the functions that take it."""

    kind: str
    arch: Architecture
    layer: int | None = None
    head: int | str | None = 0
    max_order: int | None = None

    def counts(self) -> list[int]:
        """The expansion's terms of each order ``0, 1, ...`` (for scores: order of the larger
        side); raises :class:`TensorAlgebraError` for an invalid request."""
        if self.kind == "logits":
            return [count_logit_paths(self.arch, order=k) for k in range(self.arch.n_layers + 1)]
        upto = [
            count_score_paths(self.arch, self.layer, self.head, max_order=k)
            for k in range(self.layer + 1)
        ]
        return [upto[0]] + [b - a for a, b in itertools.pairwise(upto)]

    def total(self) -> int:
        """The expansion's terms in all, in closed form (cheap for any size: no count by
        order): ``s · Π (1 + h_l)`` for the logits, its square over the layers below for scores
        (a schematic layer counts as one head)."""
        arch = self.arch
        below = arch.n_layers if self.kind == "logits" else self.layer
        paths = len(arch.sources)
        for layer in range(below):  # stops early: a size past the cap is refused all the same
            paths *= 2 if arch.heads is None else 1 + arch.heads[layer]
            if paths > TERMS_CAP:
                return TERMS_CAP + 1
        return paths if self.kind == "logits" else min(paths**2, TERMS_CAP + 1)

    @property
    def depth(self) -> int:
        """The layers a term passes through at most (scores: both sides)."""
        return self.arch.n_layers if self.kind == "logits" else 2 * self.layer


@dataclass(frozen=True)
class Estimate:
    """A derivation's size before it is built: ``terms`` in the expansion, ``shown`` per step,
    ``work`` to build it, ``bytes`` of LaTeX (see the module docstring)."""

    terms: int
    shown: int
    work: int
    bytes: int


def term_bytes(request: Request) -> int:
    """An upper bound of the LaTeX bytes of one term in any step (calibrated on schematic and
    concrete derivations of 1 to 10 layers, whose mean is 65% to 95% of it)."""
    if request.kind == "logits":
        return 110 + 25 * request.arch.n_layers
    return 130 + 60 * request.layer


def estimate(request: Request) -> Estimate:
    """The size of the derivation ``request`` asks for, from counts alone (the terms shown are
    counted by order only when the expansion is small enough to build)."""
    total = request.total()
    weight = 1 if request.arch.heads is not None else SCHEMATIC_WEIGHT
    work = total * max(1, request.depth) * weight
    shown = total
    if request.max_order is not None and work <= MAX_BUILD_WORK:
        shown = sum(request.counts()[: request.max_order + 1])
    size = DOCUMENT_BYTES + (LISTING_STEPS * shown + 1) * term_bytes(request)
    return Estimate(total, shown, work, size)


def _amount(n: int) -> str:
    return f"{n:,}" if n <= TERMS_CAP else f"more than {TERMS_CAP:,}"


def refusal(request: Request) -> str | None:
    """Why the derivation does not fit (a phrase), or ``None`` if it does."""
    e = estimate(request)
    if e.work > MAX_BUILD_WORK:
        return (
            f"needs its whole expansion, {_amount(e.terms)} terms, in every step: more than a "
            f"derivation builds in a few seconds ({MAX_BUILD_WORK:,} terms × layers)"
        )
    if request.arch.heads is not None and e.shown > MAX_DERIVATION_TERMS:
        return (
            f"has {e.shown:,} terms, more than the {MAX_DERIVATION_TERMS} a derivation lists "
            "term by term"
        )
    if e.bytes > MAX_DERIVATION_BYTES:
        return (
            f"would be about {e.bytes // 1000:,} kB of LaTeX ({e.shown:,} terms in each step), "
            f"more than the {MAX_DERIVATION_BYTES // 1000} kB a derivation renders (pdflatex "
            "runs out of memory near 1 MB)"
        )
    return None


def _validate(request: Request) -> None:
    """Raise :class:`TensorAlgebraError` if ``request`` names no head or order of its
    architecture (an advised change must be valid as it stands: the same head, the same
    ``max_order``)."""
    top = request.arch.n_layers if request.kind == "logits" else request.layer
    if request.kind == "scores":
        scoring_head(request.arch, request.layer, request.head)
    optional_integer(request.max_order, "max_order", low=0, high=top + 1)


def fits(request: Request) -> bool:
    """Whether ``request`` is valid and within every limit."""
    try:
        _validate(request)
        return refusal(request) is None
    except TensorAlgebraError:
        return False


def _candidates(r: Request):
    """Changes to ``r`` to try, nearest first: ``(option, value, request)``."""
    arch, schematic = r.arch, Architecture.schematic
    depth = arch.n_layers if r.kind == "logits" else r.layer
    if arch.heads is not None:
        top = depth if r.max_order is None else r.max_order
        for k in range(top - 1, -1, -1):
            yield "max_order", k, replace(r, max_order=k)
        form = schematic(arch.n_layers, positional=arch.positional)
        yield "n_layers", arch.n_layers, replace(r, arch=form)
    # A schematic expansion doubles with each layer: deeper ones never fit, so start below.
    deepest = MAX_BUILD_WORK.bit_length()
    if r.kind == "logits":
        for n in range(min(arch.n_layers - 1, deepest), -1, -1):
            if r.max_order is None or r.max_order <= n:
                form = schematic(n, positional=arch.positional)
                yield "n_layers", n, replace(r, arch=form)
    else:
        start = r.layer - 1 if arch.heads is not None else min(r.layer - 1, deepest)
        for layer in range(start, -1, -1):
            yield "layer", layer, replace(r, layer=layer)


def advice(request: Request) -> tuple[str, int] | None:
    """The nearest change that fits, as ``(option, value)``, or ``None`` (see the module)."""
    for option, value, candidate in _candidates(request):
        if fits(candidate):
            return option, value
    return None


_REMEDIES = {
    "max_order": "show only the terms of low order",
    "n_layers": "derive the schematic form",
    "layer": "derive the scores of a head of a lower layer",
}


def check_fits(request: Request, what: str) -> None:
    """Raise :class:`ExpansionLimitError` if ``request`` (validated already) does not fit;
    ``what`` names the derivation in the message."""
    why = refusal(request)
    if why is None:
        return
    found = advice(request)
    if found is None:
        raise ExpansionLimitError(f"{what} {why}, and no smaller derivation of it fits")
    option, value = found
    remedy = _REMEDIES[option]
    if option == "n_layers" and (request.arch.heads is None or value < request.arch.n_layers):
        remedy = "derive the schematic form with fewer layers"
    raise ExpansionLimitError(f"{what} {why}; {remedy}", option=option, value=value)
