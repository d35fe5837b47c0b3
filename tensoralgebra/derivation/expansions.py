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
from tensoralgebra.expr import (
    Application,
    Expr,
    Head,
    IndexedSum,
    Kron,
    MatrixSymbol,
    Product,
    Step,
    Sum,
    expansion_steps,
    terms,
)
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


#: The symbols a term starting from a constant source (a bias) ends with: a layer's ``c^{Ll}``,
#: the logits' ``b_U`` or ``c_U``, a scoring head's own query or key constant.
CONSTANTS = frozenset({"c", "b_U", "c_U", "b_Q", "b_K", "c_Q", "c_K"})
CONSTANT_SOURCES = "constant sources"
CONSTANT_ALONG_KEYS = "constant along keys (no effect on the pattern)"


def _has_constant(expr: Expr) -> bool:
    if isinstance(expr, MatrixSymbol):
        return expr.name in CONSTANTS
    return any(_has_constant(c) for c in expr.children)


def _body(term: Expr) -> Expr:
    while isinstance(term, IndexedSum):
        term = term.body
    return term


def constant_along_keys(term: Expr) -> bool:
    """Whether a score term ``query ⊗ key ⊗ form`` has a key side that is the same for every key:
    a key position factor ``1``, or patterns then ``1`` (``A 1 = 1``); a frozen LayerNorm scale
    ``N`` varies along keys. The softmax ignores such a term.

    >>> import tensoralgebra as ta
    >>> arch = ta.Architecture((1, 1), biases=True)
    >>> [constant_along_keys(t) for t in ta.terms(ta.expand(ta.scores(arch, 1)))][:3]
    [False, True, True]
    """
    body = _body(term)
    if not (isinstance(body, Kron) and len(body.args) == 3):
        return False
    factors = body.args[1].args if isinstance(body.args[1], Product) else (body.args[1],)
    last, before = factors[-1], factors[:-1]
    patterns = all(isinstance(f, MatrixSymbol) and f.name == "A" for f in before)
    return isinstance(last, MatrixSymbol) and last.name == "1" and patterns


def _logit_group(term: Expr) -> int | str:
    return CONSTANT_SOURCES if _has_constant(term) else term_order(term)


def _score_group(term: Expr) -> str:
    if constant_along_keys(term):
        return CONSTANT_ALONG_KEYS
    return CONSTANT_SOURCES if _has_constant(term) else score_kind(*side_orders(term))


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
    extras = {
        "standard": "positional embeddings",
        "shortformer": "shortformer positions",
        "LN": "LayerNorm",
        "LNPre": "LayerNorm without weights",
    }
    parts = [extras[k] for k in (arch.positional, arch.normalization) if k is not None]
    parts += ["biases"] if arch.biases else []
    if not parts:
        return text
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{text}, with {listed}"


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
    labels[CONSTANT_SOURCES] = CONSTANT_SOURCES
    steps.append(_grouping(steps[-1].expr, _logit_group, labels))
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
    labels |= {k: k for k in (CONSTANT_SOURCES, CONSTANT_ALONG_KEYS)}
    steps.append(_grouping(steps[-1].expr, _score_group, labels))
    # Concrete heads keep their code names; a schematic head's layer counts from 1, as H_l does.
    name = f"head {index!r}" if isinstance(index, Head) else f"a head of layer {layer + 1}"
    title = f"The attention scores of {name} of {_describe(arch)}"
    return Derivation(title, f"C_{{QK}}^{{{index_latex(index)}}}", tuple(steps), max_order)
