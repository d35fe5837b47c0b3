"""The value of a term or expression on a model's inputs, without materialising a Kronecker matrix.

A two-factor operator ``A ⊗ W`` (positions ⊗ source → positions ⊗ out) applied to its source
input ``X`` is ``A X W^T``, [batch, seq, dim(out)]: ``X W^T`` is a gather of ``W``'s columns (``X``
holds one-hot rows), then every factor acts on the stream in turn. A three-factor operator
``A_q ⊗ A_k ⊗ M`` applied to ``(X_q, X_k)`` is ``A_q X_q M X_k^T A_k^T``, [batch, seq, seq]: ``M``
is split where it is narrowest, the query side ``A_q X_q M_left`` and the key side
``A_k X_k M_right^T`` are computed separately, and one product joins them.

Which input a side reads follows from the spaces: a two-factor term reads the source its column
space ends in (``vocab``: the tokens ``X``; ``pos``: the position one-hots, the first ``seq`` rows
of ``Id_{n_ctx}``); for a three-factor term the query source is ``M``'s row space and the key
source its column space. Sums (also of terms reading different sources), products in factored
form, transposes and sums over heads (instantiated with the model's heads) all evaluate.

>>> import numpy as np, tensoralgebra as ta
>>> arch = ta.Architecture(heads=(2, 1))
>>> model = ta.AttentionOnlyTransformer(
...     ta.Weights.random(arch, d_model=8, d_head=2, d_vocab=7, n_ctx=4, seed=1))
>>> trace = model.run([[0, 3, 5, 1]])
>>> total = ta.evaluate(ta.expand(ta.logits(arch)), model, trace)
>>> total.shape, bool(np.abs(total - trace.logits).max() < 1e-12)
((1, 4, 7), True)
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.nodes import (
    Expr,
    Identity,
    Kron,
    MatrixSymbol,
    Product,
    Sum,
    Transpose,
    Zero,
)
from tensoralgebra.expr.spaces import Space
from tensoralgebra.expr.traversal import instantiate
from tensoralgebra.numeric.arrays import warn_if_nonfinite
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.model import check_model
from tensoralgebra.symbols import W_E


def evaluate(expr: Expr, model, trace, backend: str = "numpy"):
    """The contribution of ``expr`` on ``trace``'s inputs, with ``model``'s weights.

    Returns [batch, seq, dim] for an operator on positions ⊗ source (``dim`` = d_vocab for logit
    terms, d_model for residual streams) and [batch, seq, seq] for a three-factor score term
    or a bilinear form; a numpy array or a torch tensor after ``backend``.
    """
    check_model(model, "evaluate")
    value = Evaluator(Bindings(model, trace, backend)).value(expr)
    warn_if_nonfinite(value, f"evaluate({expr})")
    return value


class Evaluator:
    """Evaluates expressions against one :class:`~tensoralgebra.numeric.bind.Bindings`."""

    def __init__(self, bindings: Bindings):
        self.b = bindings

    def value(self, expr: Expr):
        if not isinstance(expr, Expr):
            raise TensorAlgebraError(f"evaluate takes an expression, got {type(expr).__name__}")
        expr = instantiate(expr, self.b.architecture.heads)
        n = _factors(expr.cols)
        if n == 2 and _factors(expr.rows) == 2:
            return self.apply(expr, _SOURCES)
        if n == 3 or type(expr).__name__ == "Bilinear":
            return self.scores(expr)
        raise TensorAlgebraError(
            f"cannot apply {expr} [{expr.rows} × {expr.cols}] to the inputs: evaluate takes "
            "operators on positions ⊗ source (logit terms, streams) or on positions ⊗ positions "
            "⊗ source (score terms)"
        )

    # --- two-factor operators: streams [batch, seq, d] ------------------------------------------

    def apply(self, e: Expr, x):
        """``e`` applied to ``x``: a stream [batch, seq, d], or ``_SOURCES`` (the one-hots)."""
        kind = type(e)
        if kind is Kron and len(e.args) == 2:
            return self.on_positions(e.args[0], self.on_model(e.args[1], x))
        if kind is Identity:
            return self.one_hot(Space(e.space.factors[-1:])) if x is _SOURCES else x
        return self._linear(e, x, self.apply, "cannot apply {} to a residual stream")

    def on_model(self, e: Expr, x):
        """``x W^T`` for a model-space operator ``W`` = ``e``: [batch, seq, dim(e.rows)]."""
        kind = type(e)
        if kind is MatrixSymbol:
            m = self.b.matrix(e)
            return m.T[self.b.source(e.cols)] if x is _SOURCES else x @ m.T
        if kind is Transpose and type(e.arg) is MatrixSymbol:
            m = self.b.matrix(e.arg)
            return m[self.b.source(e.cols)] if x is _SOURCES else x @ m
        if kind is Identity:
            return self.one_hot(e.space) if x is _SOURCES else x
        return self._linear(
            e, x, self.on_model, "cannot evaluate {} as a matrix on the model space"
        )

    def on_positions(self, e: Expr, y):
        """``P y`` for an operator ``P`` = ``e`` on positions, ``y`` [batch, seq, d]."""
        kind = type(e)
        if kind is Identity:
            return y
        if kind is MatrixSymbol:
            return self.b.pattern(e) @ y
        if kind is Transpose and type(e.arg) is MatrixSymbol:
            return self.b.pattern(e.arg).swapaxes(-1, -2) @ y
        if kind is Zero:
            return y * 0  # keeps y's width: a zero on positions leaves the model axis alone
        return self._linear(
            e, y, self.on_positions, "cannot evaluate {} as an operator on positions"
        )

    def _linear(self, e: Expr, x, again, refusal: str):
        """What the three evaluators share once their own leaves are handled: a product acts
        factor by factor from the right, a sum adds, a transpose is pushed down to symbols, a zero
        gives zeros of its rows' width. ``again`` is the evaluator to recurse with."""
        kind = type(e)
        if kind is Product:
            for factor in reversed(e.args):
                x = again(factor, x)
            return x
        if kind is Sum:
            return _total([again(t, x) for t in e.args])
        if kind is Transpose:
            return again(push_transpose(e), x)
        if kind is Zero:
            return self.zeros(e.rows, x)
        raise TensorAlgebraError(refusal.format(e))

    def one_hot(self, source: Space):
        """The one-hots of a source, [batch, seq, dim(source)] (rarely needed: only when no
        matrix reads the source, as in ``Id ⊗ Id``)."""
        eye = self.b.ops.array(np.eye(source.dims(self.b.sizes), dtype=self.b.dtype))
        return eye[self.b.source(source)]

    def zeros(self, rows, x):
        d = Space.of(rows.parts[0].factors[-1]).dims(self.b.sizes)
        like = self.b.matrix(W_E) if x is _SOURCES else x
        return self.b.ops.zeros((self.b.batch, self.b.seq, d), like)

    # --- three-factor operators: scores [batch, seq, seq] ---------------------------------------

    def scores(self, e: Expr):
        kind = type(e)
        if kind is Sum:
            return _total([self.scores(t) for t in e.args])
        if kind is Kron and len(e.args) == 3:
            return self.score_term(*e.args)
        if kind.__name__ == "Bilinear":
            return self.bilinear(e.query, e.form, e.key)
        if kind is Zero:
            shape = (self.b.batch, self.b.seq, self.b.seq)
            return self.b.ops.zeros(shape, self.b.matrix(W_E))
        from tensoralgebra.expr.expand import expand, terms

        expanded = terms(expand(e, max_terms=None))
        if expanded == (e,):
            raise TensorAlgebraError(f"cannot evaluate {e} as a score term")
        return _total([self.scores(t) for t in expanded])

    def score_term(self, a_q: Expr, a_k: Expr, m: Expr):
        """``A_q X_q M X_k^T A_k^T``, [batch, seq, seq]."""
        factors = m.args if type(m) is Product else (m,)
        split = min(
            range(len(factors) + 1),
            # The narrowest middle, and a matrix on each side where possible (no one-hots).
            key=lambda i: (
                _dim(factors[i - 1].cols if i else m.rows, self.b.sizes),
                i in (0, len(factors)),
            ),
        )
        left, right = factors[:split], factors[split:]
        query = self._side(left, m.rows, transpose=True)
        key = self._side(right, m.cols, transpose=False)
        return self.on_positions(a_q, query) @ self.on_positions(a_k, key).swapaxes(-1, -2)

    def _side(self, factors: tuple, source, transpose: bool):
        if not factors:
            return self.one_hot(source)
        chain = factors[0] if len(factors) == 1 else Product(factors)
        return self.on_model(push_transpose(Transpose(chain)) if transpose else chain, _SOURCES)

    def bilinear(self, query: Expr, form: Expr, key: Expr):
        """``F_q R_q M R_k^T F_k^T`` with the streams ``R_q``, ``R_k`` [batch, seq, d_model]."""
        r_q, r_k = self.apply(query, _SOURCES), self.apply(key, _SOURCES)
        forms = form.args if type(form) is Sum else (form,)
        parts = []
        for f in forms:
            if type(f) is not Kron or len(f.args) != 3:
                raise TensorAlgebraError(f"cannot evaluate the form {f}: expected F_q ⊗ F_k ⊗ M")
            f_q, f_k, m = f.args
            left = self.on_positions(f_q, self.on_model(push_transpose(Transpose(m)), r_q))
            parts.append(left @ self.on_positions(f_k, r_k).swapaxes(-1, -2))
        return _total(parts)


def push_transpose(e: Transpose) -> Expr:
    """The transpose ``e`` pushed one level down: ``(ab)^T = b^T a^T``, ``(a^T)^T = a``, ..."""
    arg = e.arg
    kind = type(arg)
    if kind is Transpose:
        return arg.arg
    if kind is Identity:
        return arg
    if kind is Zero:
        return Zero(arg.cols, arg.rows)
    if kind is Product:
        return Product(tuple(push_transpose(Transpose(a)) for a in reversed(arg.args)))
    if kind in (Kron, Sum):
        return kind(tuple(push_transpose(Transpose(a)) for a in arg.args))
    return e


def _factors(space) -> int:
    return len(space.parts[0].factors)


def _dim(space, sizes) -> int:
    return sum(part.dims(sizes) for part in space.parts)


def _total(values: list):
    out = values[0]
    for v in values[1:]:
        out = out + v
    return out


# The source inputs (token one-hots, position one-hots) before any factor has acted on them.
_SOURCES = object()
