r"""Derivations: the expansion of the logits or of a head's scores as a chain of justified steps.

A :class:`Derivation` is a plain immutable chain: each :class:`DerivationStep` holds the whole
expression after it and what justifies it (the pass of the expansion, the rules it applied and
every recorded application). The steps are those of :func:`tensoralgebra.expansion_steps`
(factored form, distributivity, mixed product, renaming and reordering), followed by a grouping
step that collects the terms into labelled :class:`Group` s: direct path, individual heads,
virtual heads for the logits; no composition, Q-, K-, Q- and K-composition for the scores. For a
schematic architecture the single-head groups merge into one sum over ``H_1 ∪ ... ∪ H_L`` (the
rule ``merge_head_sets``), the paper's compact form.

A concrete architecture is derived term by term, up to :data:`MAX_DERIVATION_TERMS` terms; above
that the derivation is refused, with a pointer to the schematic form and to ``max_order``.
``max_order=K`` keeps the whole expansion in the steps but shows only the terms of order ≤ K (for
scores: whose query and key paths both have order ≤ K), the rest written as ``\cdots``.

>>> import tensoralgebra as ta
>>> d = ta.derive_logits(ta.Architecture.schematic(n_layers=1))
>>> [step.justification for step in d.steps]
['', 'distributivity', 'mixed product', 'grouping']
>>> [group.label for group in d.steps[-1].groups]
['direct path', 'individual heads']
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.expr.engine import Application
from tensoralgebra.expr.expand import Step, expansion_steps, terms
from tensoralgebra.expr.nodes import Bilinear, Expr, IndexedSum, Kron, MatrixSymbol, Sum
from tensoralgebra.expr.ordering import merge_head_sets
from tensoralgebra.printing.latex import index_latex

#: A concrete architecture's derivation lists at most this many terms (``max_order`` lowers it).
MAX_DERIVATION_TERMS = 64

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


@dataclass(frozen=True)
class Group:
    """Terms of the final step that belong together, and the label printed under them."""

    label: str
    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class DerivationStep:
    """One step: the whole expression after it and what justifies it.

    ``passes`` are the expansion passes it stands for, ``rules`` the names of the rules they
    applied (each once, in order of first use), ``applications`` every recorded rewrite; the
    final step has ``groups``, whose terms are ``expr`` 's terms, in order; ``cites`` are the
    equations (:class:`tensoralgebra.proof.Equation`) a hand-written step cites.
    """

    expr: Expr
    justification: str
    passes: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    applications: tuple[Application, ...] = field(default=(), repr=False)
    groups: tuple[Group, ...] = ()
    cites: tuple = ()


@dataclass(frozen=True)
class Derivation:
    """A chain of steps from ``steps[0].expr`` (the factored form) to the grouped expansion.

    ``title`` is plain text, ``lhs`` the left-hand side in LaTeX (``T``, ``C_{QK}^{h}``), or
    empty: the first expression then stands alone on the first line, each later one after an
    ``=``; ``max_order`` says which terms rendering shows (all when ``None``).

    A hand-written derivation starts with :meth:`start` and grows with :meth:`then`, each step
    naming the rules (names in :data:`~tensoralgebra.expr.RULES`) or citing the equations that
    justify it; :meth:`check` re-derives every step.

    >>> from tensoralgebra.expr import MODEL, POSITIONS, Kron, Product, Space, symbol
    >>> A, B = (symbol(n, Space.of(POSITIONS), Space.of(POSITIONS)) for n in "AB")
    >>> W, V = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "WV")
    >>> d = Derivation.start("The mixed product", Product((Kron((A, W)), Kron((B, V)))))
    >>> d = d.then(Kron((A @ B, W @ V)), "mixed_product")
    >>> [str(s.expr) for s in d.steps], d.steps[1].justification
    (['(A ⊗ W)·(B ⊗ V)', 'A B ⊗ W V'], 'mixed product')
    >>> d.check(examples=3).ok
    True
    """

    title: str
    lhs: str
    steps: tuple[DerivationStep, ...]
    max_order: int | None = None

    @classmethod
    def start(cls, title: str, expr: Expr, lhs: str = "") -> Derivation:
        """A derivation of one step, ``expr``, to continue with :meth:`then`."""
        return cls(title, lhs, (DerivationStep(expr, ""),))

    def then(self, expr: Expr, *rules: str, cites=(), text: str | None = None) -> Derivation:
        """This derivation followed by ``expr``, justified by the rules named ``rules`` and the
        equations ``cites`` (one or a tuple); ``text`` is the justification printed (by default
        the rules' and equations' names, see :func:`~tensoralgebra.proof.describe`)."""
        from tensoralgebra.proof.justify import describe, validate

        cites = (cites,) if not isinstance(cites, tuple) else cites
        validate(rules, cites, len(self.steps))
        step = DerivationStep(
            expr, describe(rules, cites) if text is None else text, (), rules, cites=cites
        )
        return replace(self, steps=(*self.steps, step))

    def check(self, **options):
        """Re-derive every step (rules, exact SymPy check, numeric Hypothesis check): a
        :class:`~tensoralgebra.proof.Report`; see :func:`~tensoralgebra.proof.check_derivation`
        for the options."""
        from tensoralgebra.proof.checker import check_derivation

        return check_derivation(self, **options)

    @property
    def result(self) -> Expr:
        """The final expression."""
        return self.steps[-1].expr

    def shown(self, items: tuple[Expr, ...]) -> tuple[Expr, ...]:
        """The terms among ``items`` that rendering shows (order ≤ ``max_order``)."""
        if self.max_order is None:
            return tuple(items)
        return tuple(t for t in items if term_order(t) <= self.max_order)

    def to_latex(self) -> str:
        r"""An ``align*`` fragment (see :func:`tensoralgebra.latex.render.fragment`)."""
        from tensoralgebra.latex.render import fragment

        return fragment(self)

    def to_document(self) -> str:
        """A standalone LaTeX document."""
        from tensoralgebra.latex.render import document

        return document(self)

    def to_markdown(self) -> str:
        """Markdown: the title and the derivation as display math."""
        from tensoralgebra.latex.render import markdown

        return markdown(self)

    def to_pdf(self, path, engine: str | None = None):
        """Compile the standalone document to ``path`` with a TeX engine; returns the path."""
        from tensoralgebra.latex.render import to_pdf

        return to_pdf(self, path, engine=engine)

    def _repr_latex_(self) -> str:
        from tensoralgebra.latex.render import math_block

        return math_block(self)


def _count_patterns(expr: Expr) -> int:
    if isinstance(expr, MatrixSymbol):
        return int(expr.name == "A")
    return sum(_count_patterns(c) for c in expr.children)


def side_orders(term: Expr) -> tuple[int, ...]:
    """How many heads each side of a term passes through: ``(order,)`` for a logit term,
    ``(query order, key order)`` for a score term (bilinear or three-factor)."""
    while type(term) is IndexedSum:
        term = term.body
    if isinstance(term, Bilinear):
        return (_count_patterns(term.query), _count_patterns(term.key))
    if type(term) is Kron and len(term.args) == 3:
        return (_count_patterns(term.args[0]), _count_patterns(term.args[1]))
    return (_count_patterns(term),)


def term_order(term: Expr) -> int:
    """A term's path order (for a score term, the larger of its query and key orders)."""
    return max(side_orders(term))


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


def _steps(expr: Expr, arch: Architecture, what: str) -> list[Step]:
    try:
        return expansion_steps(expr)
    except ExpansionLimitError as error:
        raise TensorAlgebraError(
            f"{what} of {arch!r} needs the full expansion, which is too large to build ({error}); "
            f"derive the schematic form instead: Architecture.schematic({arch.n_layers})"
        ) from None


def _check_size(arch: Architecture, counts: list[int], max_order: int | None, what: str) -> None:
    """Refuse a concrete derivation with more than MAX_DERIVATION_TERMS terms shown."""
    if arch.is_schematic:
        return
    top = len(counts) - 1 if max_order is None else max_order
    shown = sum(counts[: top + 1])
    if shown <= MAX_DERIVATION_TERMS:
        return
    fits = [k for k in range(len(counts)) if sum(counts[: k + 1]) <= MAX_DERIVATION_TERMS]
    k = fits[-1] if fits else 0
    hint = f", or show fewer terms: max_order={k} (--max-order {k}) shows {sum(counts[: k + 1])}"
    raise TensorAlgebraError(
        f"{what} of {arch!r} has {shown} terms, more than the {MAX_DERIVATION_TERMS} a derivation "
        f"lists term by term; derive the schematic form, Architecture.schematic({arch.n_layers}) "
        f"(--layers {arch.n_layers}), whose grouped terms show every term's structure"
        + (hint if fits else "")
    )


def _describe(arch: Architecture) -> str:
    if arch.is_schematic:
        text = f"a {arch.n_layers}-layer attention-only transformer"
    else:
        per_layer = ", ".join(map(str, arch.heads)) or "no"
        text = f"an attention-only transformer with {per_layer} heads per layer"
    return text + (", with positional embeddings" if arch.positional else "")


def derive_logits(arch: Architecture, max_order: int | None = None) -> Derivation:
    r"""The expansion of the logits ``T`` of ``arch``, step by step (see the module docstring).

    >>> import tensoralgebra as ta
    >>> d = ta.derive_logits(ta.Architecture(heads=(2, 2)))
    >>> [len(ta.terms(s.expr)) for s in d.steps], [g.label for g in d.steps[-1].groups]
    ([1, 9, 9, 9, 9], ['direct path', 'individual heads', 'virtual heads'])
    """
    import tensoralgebra as ta
    from tensoralgebra.paths import check_order

    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(f"derive_logits needs an Architecture, got {arch!r}")
    check_order(arch, max_order, "max_order")
    counts = [ta.count_logit_paths(arch, order=k) for k in range(arch.n_layers + 1)]
    _check_size(arch, counts, max_order, "the logit expansion")
    steps = _chain(_steps(ta.logits(arch), arch, "the logit expansion"))
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

    >>> import tensoralgebra as ta
    >>> d = ta.derive_scores(ta.Architecture.schematic(n_layers=2), layer=1)
    >>> d.lhs, [g.label for g in d.steps[-1].groups]
    ('C_{QK}^{h}', ['no composition', 'Q-composition', 'K-composition', 'Q- and K-composition'])
    """
    import tensoralgebra as ta
    from tensoralgebra.scores import scoring_head

    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(f"derive_scores needs an Architecture, got {arch!r}")
    index = scoring_head(arch, layer, head)
    ta.count_score_paths(arch, layer, head, max_order=max_order)  # validates max_order
    counts = [ta.count_score_paths(arch, layer, head, max_order=0)]
    for k in range(1, layer + 1):
        upto = ta.count_score_paths(arch, layer, head, max_order=k)
        counts.append(upto - ta.count_score_paths(arch, layer, head, max_order=k - 1))
    what = f"the score expansion of head {index!r} (layer {layer})"
    _check_size(arch, counts, max_order, what)
    steps = _chain(_steps(ta.scores(arch, layer, head), arch, what))
    kinds = ("none", "Q", "K", "QK")
    labels = {k: SCORE_LABELS[k] for k in kinds}
    steps.append(_grouping(steps[-1].expr, lambda t: ta.score_kind(*side_orders(t)), labels))
    # Concrete heads keep their code names; a schematic head's layer counts from 1, as H_l does.
    name = f"head {index!r}" if isinstance(index, ta.Head) else f"a head of layer {layer + 1}"
    title = f"The attention scores of {name} of {_describe(arch)}"
    return Derivation(title, f"C_{{QK}}^{{{index_latex(index)}}}", tuple(steps), max_order)
