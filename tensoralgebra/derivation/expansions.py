r"""The package's own derivations: the logits and a head's attention scores, expanded.

The steps are those of :func:`tensoralgebra.expansion_steps` (factored form, distributivity,
mixed product, renaming and reordering), followed by a grouping step that collects the terms
into labelled :class:`~tensoralgebra.derivation.Group` s: direct path, individual heads, virtual
heads for the logits (docs/conventions.md §3); no composition, Q-, K-, Q- and K-composition for
the scores (docs/conventions.md §4). For a schematic architecture the single-head groups merge
into one sum over ``H_1 ∪ ... ∪ H_L`` (the rule ``merge_head_sets``), the paper's compact form.

Sizes are decided before anything is built (:mod:`tensoralgebra.derivation.limits`): the
schematic logits fit up to 8 layers, the schematic scores up to layer 4 (from 0), a concrete
architecture up to :data:`~tensoralgebra.derivation.limits.MAX_DERIVATION_TERMS` terms per step.
``max_order=K`` keeps the whole expansion in the steps but shows only the terms of order ≤ K
(for scores: whose query and key paths both have order ≤ K), the rest written as ``\cdots``.

>>> d = derive_logits(Architecture.schematic(n_layers=1))
>>> [step.justification for step in d.steps]
['', 'distributivity', 'mixed product', 'grouping']
>>> [group.label for group in d.steps[-1].groups]
['direct path', 'individual heads']
"""

from __future__ import annotations

from tensoralgebra.architecture import Architecture
from tensoralgebra.derivation.chain import (
    Derivation,
    DerivationStep,
    Group,
    side_orders,
    term_order,
)
from tensoralgebra.derivation.limits import Request, check_fits
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr import Application, Expr, Head, Step, Sum, expansion_steps, terms
from tensoralgebra.expr.ordering import merge_head_sets
from tensoralgebra.factored import logits
from tensoralgebra.printing.latex import index_latex
from tensoralgebra.scores import score_kind, scores, scoring_head
from tensoralgebra.validation import optional_integer

#: What justifies each pass of the expansion, as the derivation prints it.
JUSTIFICATIONS = {
    "factored": "",
    "transpose": "transposes",
    "distribute": "distributivity",
    "mixed product": "mixed product",
    "name heads": "renaming",
    "order": "reordering",
}
SCORE_LABELS = {
    "none": "no composition",
    "Q": "Q-composition",
    "K": "K-composition",
    "QK": "Q- and K-composition",
}


def _chain(steps: list[Step]) -> list[DerivationStep]:
    out: list[DerivationStep] = []
    for s in steps:
        if s.name == "order" and out and out[-1].passes == ("name heads",):
            prev = out.pop()
            s_passes, apps = (*prev.passes, s.name), prev.applications + s.applications
            text = "renaming, reordering"
        else:
            s_passes, apps, text = (s.name,), s.applications, JUSTIFICATIONS.get(s.name, s.name)
        rules = tuple(dict.fromkeys(a.rule for a in apps))
        out.append(DerivationStep(s.expr, text, s_passes, rules, apps))
    return out


def _merged(group: list[Expr], log: list[Application]) -> tuple[Expr, ...]:
    expr = Sum(group) if len(group) > 1 else group[0]
    while (out := merge_head_sets(expr)) is not None:
        log.append(Application("merge_head_sets", expr, out))
        expr = out
    return terms(expr)


def _grouping(expr: Expr, key, labels) -> DerivationStep:
    """Group ``expr`` 's terms by ``key`` (in the order of ``labels``' keys), merging Σs."""
    buckets: dict = {k: [] for k in labels}
    for t in terms(expr):
        buckets[key(t)].append(t)
    log: list[Application] = []
    groups = tuple(Group(labels[k], _merged(b, log)) for k, b in buckets.items() if b)
    out = tuple(t for g in groups for t in g.terms)
    rules = ("merge_head_sets",) if log else ()
    return DerivationStep(
        out[0] if len(out) == 1 else Sum(out), "grouping", ("group",), rules, tuple(log), groups
    )


def _describe(arch: Architecture) -> str:
    if arch.is_schematic:
        text = f"a {arch.n_layers}-layer attention-only transformer"
    else:
        per_layer = ", ".join(map(str, arch.heads)) or "no"
        text = f"an attention-only transformer with {per_layer} heads per layer"
    return text + (", with positional embeddings" if arch.positional else "")


def _architecture(arch: object, caller: str) -> Architecture:
    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(f"{caller} needs an Architecture, got {arch!r}")
    return arch


def _order(max_order: object, top: int, what: str) -> int | None:
    context = f"{what} has terms of order 0..{top}"
    return optional_integer(max_order, "max_order", low=0, high=top + 1, context=context)


def derive_logits(arch: Architecture, max_order: int | None = None) -> Derivation:
    r"""The expansion of the logits ``T`` of ``arch``, step by step (see the module docstring).

    Refused up front with :class:`~tensoralgebra.ExpansionLimitError` when it does not fit
    (:mod:`tensoralgebra.derivation.limits`: the schematic form up to 8 layers; a concrete one
    up to 64 terms per step); the error's ``option`` and ``value`` name a change that fits.

    >>> import tensoralgebra as ta
    >>> d = ta.derive_logits(ta.Architecture(heads=(2, 2)))
    >>> [len(ta.terms(s.expr)) for s in d.steps], [g.label for g in d.steps[-1].groups]
    ([1, 9, 9, 9, 9], ['direct path', 'individual heads', 'virtual heads'])
    >>> ta.derive_logits(ta.Architecture.schematic(12))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.ExpansionLimitError: the logit derivation of ... n_layers=8 fits
    """
    arch = _architecture(arch, "derive_logits")
    what = f"the logit derivation of {arch!r}"
    max_order = _order(max_order, arch.n_layers, f"a {arch.n_layers}-layer architecture")
    check_fits(Request("logits", arch, max_order=max_order), what)
    steps = _chain(expansion_steps(logits(arch)))
    deep = arch.n_layers > 2
    labels = {0: "direct path" if len(arch.sources) == 1 else "direct paths", 1: "individual heads"}
    for k in range(2, arch.n_layers + 1):
        labels[k] = f"virtual heads of order {k}" if deep else "virtual heads"
    steps.append(_grouping(steps[-1].expr, term_order, labels))
    return Derivation(f"The logits of {_describe(arch)}", "T", tuple(steps), max_order)


def derive_scores(
    arch: Architecture, layer: int, head: int | str | None = 0, max_order: int | None = None
) -> Derivation:
    r"""The expansion of the attention scores ``C_{QK}^{h}`` of a head of ``layer`` (from 0).

    Refused up front like :func:`derive_logits` (the schematic scores fit up to layer 4).

    >>> import tensoralgebra as ta
    >>> d = ta.derive_scores(ta.Architecture.schematic(n_layers=2), layer=1)
    >>> d.lhs, [g.label for g in d.steps[-1].groups]
    ('C_{QK}^{h}', ['no composition', 'Q-composition', 'K-composition', 'Q- and K-composition'])
    """
    arch = _architecture(arch, "derive_scores")
    index = scoring_head(arch, layer, head)
    layer = int(layer)
    max_order = _order(max_order, layer, f"a head of layer {layer}")
    what = f"the score derivation of head {index!r} (layer {layer}) of {arch!r}"
    check_fits(Request("scores", arch, layer, head, max_order), what)
    steps = _chain(expansion_steps(scores(arch, layer, head)))
    labels = {k: SCORE_LABELS[k] for k in ("none", "Q", "K", "QK")}
    steps.append(_grouping(steps[-1].expr, lambda t: score_kind(*side_orders(t)), labels))
    # Concrete heads keep their code names; a schematic head's layer counts from 1, as H_l does.
    name = f"head {index!r}" if isinstance(index, Head) else f"a head of layer {layer + 1}"
    title = f"The attention scores of {name} of {_describe(arch)}"
    return Derivation(title, f"C_{{QK}}^{{{index_latex(index)}}}", tuple(steps), max_order)
