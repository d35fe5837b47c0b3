"""The walkers that evaluate an expression node by node, for
:class:`~tensoralgebra.numeric.evaluation.Evaluator`: each a
:class:`~tensoralgebra.expr.visitor.Visitor` over the node types it can evaluate.

Three walk operators on streams, [batch, seq, d]: :class:`Apply` (a two-factor operator applied
to its source's one-hots, :data:`SOURCES`, or to a stream), :class:`OnModel` (a model-space
matrix, ``x W^T``) and :class:`OnPositions` (an operator on positions, ``P y``); :class:`Scores`
gives the scores of a three-factor operator or a bilinear form, [batch, seq, seq]. Each holds
its evaluator weakly (the evaluator holds its walkers: no reference cycle) and asks it for the
bindings and for the other walkers.
"""

from __future__ import annotations

import weakref

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import expand, terms
from tensoralgebra.expr.nodes import (
    Bilinear,
    Expr,
    Identity,
    Kron,
    MatrixSymbol,
    Product,
    Sum,
    Transpose,
    Zero,
)
from tensoralgebra.expr.rules import TRANSPOSE_RULES
from tensoralgebra.expr.spaces import Space
from tensoralgebra.expr.visitor import Visitor
from tensoralgebra.symbols import W_E

# --- two-factor operators: streams [batch, seq, d] ----------------------------------------------


class StreamWalker(Visitor):
    """What the three stream walkers share once their own leaves are handled: a product acts
    factor by factor from the right, a sum adds, a transpose is pushed down by the rules, a zero
    gives zeros of its rows' width; any other node is refused with :attr:`refusal`."""

    refusal = "cannot evaluate {}"

    def __init__(self, evaluator):  # an Evaluator
        self.ev = weakref.proxy(evaluator)  # (the evaluator holds its walkers: no cycle)

    def visit_Product(self, e: Product, x):
        for factor in reversed(e.args):
            x = self(factor, x)
        return x

    def visit_Sum(self, e: Sum, x):
        return total([self(t, x) for t in e.args])

    def visit_Transpose(self, e: Transpose, x):
        pushed = push_transpose(e)
        return self.visit_Expr(e, x) if pushed is e else self(pushed, x)

    def visit_Zero(self, e: Zero, x):
        return self.ev.zeros(e.rows, x)

    def visit_Expr(self, e: Expr, x):
        raise TensorAlgebraError(self.refusal.format(e))


class Apply(StreamWalker):
    """``e`` applied to ``x``: a stream [batch, seq, d], or ``SOURCES`` (the one-hots)."""

    refusal = "cannot apply {} to a residual stream"

    def visit_Kron(self, e: Kron, x):
        if len(e.args) != 2:
            return self.visit_Expr(e, x)
        return self.ev.on_positions(e.args[0], self.ev.on_model(e.args[1], x))

    def visit_Identity(self, e: Identity, x):
        return self.ev.one_hot(Space(e.space.factors[-1:])) if x is SOURCES else x


class OnModel(StreamWalker):
    """``x W^T`` for a model-space operator ``W`` = ``e``: [batch, seq, dim(e.rows)]."""

    refusal = "cannot evaluate {} as a matrix on the model space"

    def visit_MatrixSymbol(self, e: MatrixSymbol, x):
        m = self.ev.b.matrix(e)
        return m.T[self.ev.b.source(e.cols)] if x is SOURCES else x @ m.T

    def visit_Transpose(self, e: Transpose, x):
        if not isinstance(e.arg, MatrixSymbol):
            return super().visit_Transpose(e, x)
        m = self.ev.b.matrix(e.arg)
        return m[self.ev.b.source(e.cols)] if x is SOURCES else x @ m

    def visit_Identity(self, e: Identity, x):
        return self.ev.one_hot(e.space) if x is SOURCES else x


class OnPositions(StreamWalker):
    """``P y`` for an operator ``P`` = ``e`` on positions, ``y`` [batch, seq, d]."""

    refusal = "cannot evaluate {} as an operator on positions"

    def visit_Identity(self, e: Identity, y):
        return y

    def visit_MatrixSymbol(self, e: MatrixSymbol, y):
        if e.name == "N":  # diag(1/σ): each position's row scaled
            return self.ev.b.inverse_scale(e) * y
        if e.name == "1":  # [positions × one]: the constant row at every position
            return self.ev.b.ones() @ y
        return self.ev.b.pattern(e) @ y

    def visit_Transpose(self, e: Transpose, y):
        if not isinstance(e.arg, MatrixSymbol):
            return super().visit_Transpose(e, y)
        if e.arg.name == "N":  # diagonal: its own transpose
            return self.visit_MatrixSymbol(e.arg, y)
        if e.arg.name == "1":  # 1ᵀ sums the positions
            return self.ev.b.ones().swapaxes(-1, -2) @ y
        return self.ev.b.pattern(e.arg).swapaxes(-1, -2) @ y

    def visit_Zero(self, e: Zero, y):
        return y * 0  # keeps y's width: a zero on positions leaves the model axis alone


# --- three-factor operators: scores [batch, seq, seq] -------------------------------------------


class Scores(Visitor):
    """A score term or bilinear form's scores, [batch, seq, seq]; anything else is expanded."""

    def __init__(self, evaluator):  # an Evaluator
        self.ev = weakref.proxy(evaluator)  # (the evaluator holds its walkers: no cycle)

    def visit_Sum(self, e: Sum):
        return total([self(t) for t in e.args])

    def visit_Kron(self, e: Kron):
        return self.ev.score_term(*e.args) if len(e.args) == 3 else self.visit_Expr(e)

    def visit_Bilinear(self, e: Bilinear):
        return self.ev.bilinear(e.query, e.form, e.key)

    def visit_Zero(self, e: Zero):
        b = self.ev.b
        return b.ops.zeros((b.batch, b.seq, b.seq), b.matrix(W_E))

    def visit_Expr(self, e: Expr):
        expanded = terms(expand(e, max_terms=None))
        if expanded == (e,):
            raise TensorAlgebraError(f"cannot evaluate {e} as a score term")
        return total([self(t) for t in expanded])


def push_transpose(e: Transpose) -> Expr:
    """The transpose ``e`` pushed one level down by the first of the expansion's transpose rules
    (:data:`~tensoralgebra.expr.rules.TRANSPOSE_RULES`) that applies: ``(ab)^T = b^T a^T``,
    ``(a^T)^T = a``, ...; ``e`` itself when none does (a transposed symbol)."""
    for rule in TRANSPOSE_RULES:
        out = rule(e)
        if out is not None:
            return out
    return e


def factor_count(space) -> int:
    return len(space.parts[0].factors)


def dimension(space, sizes) -> int:
    return sum(part.dims(sizes) for part in space.parts)


def total(values: list):
    out = values[0]
    for v in values[1:]:
        out = out + v
    return out


#: The source inputs (token one-hots, position one-hots) before any factor has acted on them.
SOURCES = object()
