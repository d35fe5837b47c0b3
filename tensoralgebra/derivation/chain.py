r"""The derivation itself: a chain of justified steps, and how a term's order is read.

A :class:`Derivation` is a plain immutable chain: each :class:`DerivationStep` holds the whole
expression after it and what justifies it (the rules it applied, every recorded application, or
the equations it cites). The final step of an expansion collects its terms into labelled
:class:`Group` s. Rendering (``to_latex``, ``to_pdf``, ...) and checking (``check``) are done by
the rooms above this one, reached through :mod:`tensoralgebra.derivation.backends`.

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

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tensoralgebra.derivation.backends import use
from tensoralgebra.derivation.justify import describe, validate
from tensoralgebra.expr import Application, Bilinear, Expr, IndexedSum, Kron, MatrixSymbol


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
    justify it; :meth:`check` re-derives every step (see the module's example).
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
        the rules' and equations' names, see :func:`~tensoralgebra.derivation.describe`)."""
        cites = (cites,) if not isinstance(cites, tuple) else cites
        validate(rules, cites, len(self.steps))
        step = DerivationStep(
            expr, describe(rules, cites) if text is None else text, (), rules, cites=cites
        )
        return replace(self, steps=(*self.steps, step))

    def check(self, **options):
        """Re-derive every step (rules, exact SymPy check, numeric Hypothesis check): a
        :class:`~tensoralgebra.proof.ProofReport`; see
        :func:`~tensoralgebra.proof.check_derivation` for the options."""
        return use("check")(self, **options)

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
        return use("fragment")(self)

    def to_document(self) -> str:
        """A standalone LaTeX document."""
        return use("document")(self)

    def to_markdown(self) -> str:
        """Markdown: the title and the derivation as display math."""
        return use("markdown")(self)

    def to_pdf(self, path, engine: str | None = None):
        """Compile the standalone document to ``path`` with a TeX engine; returns the path."""
        return use("pdf")(self, path, engine=engine)

    def _repr_latex_(self) -> str:
        return use("math_block")(self)


def _count_patterns(expr: Expr) -> int:
    if isinstance(expr, MatrixSymbol):
        return int(expr.name == "A")
    return sum(_count_patterns(c) for c in expr.children)


def side_orders(term: Expr) -> tuple[int, ...]:
    """How many heads each side of a term passes through: ``(order,)`` for a logit term,
    ``(query order, key order)`` for a score term (bilinear or three-factor).

    >>> import tensoralgebra as ta
    >>> [side_orders(t) for t in ta.terms(ta.expand(ta.scores(ta.Architecture((1, 1)), 1)))]
    [(0, 0), (1, 0), (0, 1), (1, 1)]
    """
    while isinstance(term, IndexedSum):
        term = term.body
    if isinstance(term, Bilinear):
        return (_count_patterns(term.query), _count_patterns(term.key))
    if isinstance(term, Kron) and len(term.args) == 3:
        return (_count_patterns(term.args[0]), _count_patterns(term.args[1]))
    return (_count_patterns(term),)


def term_order(term: Expr) -> int:
    """A term's path order (for a score term, the larger of its query and key orders)."""
    return max(side_orders(term))
