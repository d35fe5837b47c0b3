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
    Bilinear,
    Expr,
    Kron,
    Product,
    Sum,
    Transpose,
)
from tensoralgebra.expr.spaces import Space
from tensoralgebra.expr.traversal import instantiate
from tensoralgebra.numeric.arrays import warn_if_nonfinite
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.model import check_model
from tensoralgebra.numeric.stacks import pair_products
from tensoralgebra.numeric.walkers import (
    SOURCES,
    Apply,
    OnModel,
    OnPositions,
    Scores,
    dimension,
    factor_count,
    push_transpose,
    total,
)
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
    """Evaluates expressions against one :class:`~tensoralgebra.numeric.bind.Bindings`.

    Four walkers (:mod:`~tensoralgebra.numeric.walkers`) share the work, each a
    :class:`~tensoralgebra.expr.visitor.Visitor` over the node types it can evaluate:
    :attr:`apply` (two-factor operators on the inputs or a stream), :attr:`on_model`
    (model-space matrices), :attr:`on_positions` (operators on positions) and :attr:`scores`
    (three-factor operators and bilinear forms).
    """

    def __init__(
        self,
        bindings: Bindings,
        cache_bytes: int = 0,
        concrete: bool = False,
        batch_bytes: int = 2**22,
    ):
        self.b = bindings
        self.batch_bytes = batch_bytes  # the most sides :meth:`values` holds for its products
        # concrete: every expression given has no sum over heads left (enumerated terms, or
        # terms of an instantiated expansion), so none is walked again to write them out.
        self.concrete = concrete
        self.apply = Apply(self)
        self.on_model = OnModel(self)
        self.on_positions = OnPositions(self)
        self.scores = Scores(self)
        self.cache_bytes = cache_bytes
        self._splits: dict[tuple, int] = {}  # where score_term splits, by the factors' spaces
        self.clear()

    def clear(self) -> None:
        """Forget the cached sides (see :meth:`remember`)."""
        self.cache: dict = {}
        self.cached = 0

    def remember(self, key: tuple, compute):
        """``compute()``, kept under ``key`` (a tuple of expression nodes, immutable and
        hashable) while the values kept take at most ``cache_bytes``: score terms sharing a query
        or key side (the expansion's terms share their paths' chains) compute it once, and every
        term's value is still made of its own expression's nodes."""
        if not self.cache_bytes:
            return compute()
        value = self.cache.get(key)
        if value is None:
            value = compute()
            size = _nbytes(value)
            if self.cached + size <= self.cache_bytes:
                self.cache[key] = value
                self.cached += size
        return value

    def value(self, expr: Expr):
        """The value of ``expr`` (see :func:`evaluate`)."""
        if not isinstance(expr, Expr):
            raise TensorAlgebraError(f"evaluate takes an expression, got {type(expr).__name__}")
        if not self.concrete:
            expr = instantiate(expr, self.b.architecture.heads)
        n = factor_count(expr.cols)
        if n == 2 and factor_count(expr.rows) == 2:
            return self.apply(expr, SOURCES)
        if n == 3 or isinstance(expr, Bilinear):
            return self.scores(expr)
        raise TensorAlgebraError(
            f"cannot apply {expr} [{expr.rows} × {expr.cols}] to the inputs: evaluate takes "
            "operators on positions ⊗ source (logit terms, streams) or on positions ⊗ positions "
            "⊗ source (score terms)"
        )

    def values(self, exprs: list[Expr]):
        """The values of terms of one quantity (one shape), [len(exprs), ...] (see
        :meth:`value`). Score terms ``A_q ⊗ A_k ⊗ M`` of a concrete evaluator are taken through
        their sides (:meth:`score_sides`, kept as :meth:`remember` says), multiplied in batched
        products (:func:`~tensoralgebra.numeric.stacks.pair_products`, each distinct side stacked
        once), one per shape of sides, as soon as the sides waiting take ``batch_bytes``; any
        other term is evaluated on its own."""
        out: list = [None] * len(exprs)
        waiting: dict[tuple, _Pairs] = {}
        held, flushed = 0, False
        for i, expr in enumerate(exprs):
            factors = len(expr.args) if self.concrete and type(expr) is Kron else 0
            if factors == 3 == factor_count(expr.cols):
                query, key = self.score_sides(*expr.args)
                pairs = waiting.get((query.shape, key.shape))
                if pairs is None:
                    pairs = waiting[query.shape, key.shape] = _Pairs()
                held += pairs.add(i, query, key)
                if held >= self.batch_bytes:
                    self._multiply(waiting, out)
                    held, flushed = 0, True
            elif factors == 2 == factor_count(expr.cols) == factor_count(expr.rows):
                out[i] = self.stream_term(*expr.args)
            else:
                out[i] = self.value(expr)
        if len(exprs) == 1 and out[0] is not None:
            return out[0][None]  # one term (a logit term can be large): a view, not a copy
        if not flushed and len(waiting) == 1:
            [pairs] = waiting.values()
            if len(pairs.at) == len(exprs):  # every term in one product, in order: the result
                return pairs.products(self.b.ops)
        self._multiply(waiting, out)
        return self.b.ops.stack(out)

    def stream_term(self, positions: Expr, model: Expr):
        """``positions ⊗ model`` applied to its source, [batch, seq, dim]: from the source, a
        factor of each chain at a time (they act on different axes, so in any order: a layer's
        position factor beside its model factor), the streams on the way kept (:meth:`remember`)
        for the terms that start the same way, as the paths through the same first heads do."""
        ps = positions.args if type(positions) is Product else (positions,)
        ms = model.args if type(model) is Product else (model,)
        i, j = len(ps), len(ms) - 1
        x = self.remember(("stream", (), ms[j:]), lambda: self.on_model(ms[j], SOURCES))
        while i or j:
            p, m = (ps[i - 1] if i else None), (ms[j - 1] if j else None)
            i, j = i - (p is not None), j - (m is not None)
            if not (i or j):  # the term itself: its own, kept by no one else
                return self._stream_step(p, m, x)
            x = self.remember(
                ("stream", ps[i:], ms[j:]), lambda p=p, m=m, x=x: self._stream_step(p, m, x)
            )
        return x

    def _stream_step(self, p: Expr | None, m: Expr | None, x):
        y = x if m is None else self.on_model(m, x)
        return y if p is None else self.on_positions(p, y)

    def _multiply(self, waiting: dict, out: list) -> None:
        """The score terms of ``waiting`` sides into ``out``, a batched product per shape."""
        for pairs in waiting.values():
            for i, value in zip(pairs.at, pairs.products(self.b.ops)):
                out[i] = value
        waiting.clear()

    def one_hot(self, source: Space):
        """The one-hots of a source, [batch, seq, dim(source)] (rarely needed: only when no
        matrix reads the source, as in ``Id ⊗ Id``)."""
        eye = self.b.ops.array(np.eye(source.dims(self.b.sizes), dtype=self.b.dtype))
        return eye[self.b.source(source)]

    def zeros(self, rows, x):
        d = Space.of(rows.parts[0].factors[-1]).dims(self.b.sizes)
        like = self.b.matrix(W_E) if x is SOURCES else x
        return self.b.ops.zeros((self.b.batch, self.b.seq, d), like)

    def score_term(self, a_q: Expr, a_k: Expr, m: Expr):
        """``A_q X_q M X_k^T A_k^T``, [batch, seq, seq]."""
        query, key = self.score_sides(a_q, a_k, m)
        return query @ key.swapaxes(-1, -2)

    def score_sides(self, a_q: Expr, a_k: Expr, m: Expr):
        """The two sides of the score term ``A_q ⊗ A_k ⊗ M``, split where ``M`` is narrowest:
        ``(A_q X_q M_left^T, A_k X_k M_right)`` [batch, seq, d] whose product (the second
        transposed) is the term."""
        factors = m.args if type(m) is Product else (m,)
        # The expansion writes the query path's chain transposed, first: splitting after it
        # (where that is as narrow as anywhere) lets terms of one query path share their query
        # side, and terms of one key path their key side.
        query_chain = 0
        for f in factors:
            if type(f) is not Transpose:
                break
            query_chain += 1
        # The narrowest middle, and a matrix on each side where possible (no one-hots): the
        # same for every term whose factors act between the same spaces.
        spaces = (m.rows, query_chain, *[f.cols for f in factors])
        split = self._splits.get(spaces)
        if split is None:
            split = self._splits[spaces] = self._split(spaces[:1] + spaces[2:], query_chain)
        left, right = factors[:split], factors[split:]
        query_key, key_key = ("query", a_q, left, m.rows), ("key", a_k, right, m.cols)
        query = self.cache.get(query_key)
        if query is None:
            query = self.remember(query_key, lambda: self._side(a_q, left, m.rows, transpose=True))
        key = self.cache.get(key_key)
        if key is None:
            key = self.remember(key_key, lambda: self._side(a_k, right, m.cols, transpose=False))
        return query, key

    def _split(self, spaces: tuple, query_chain: int) -> int:
        """Where a chain between ``spaces`` (its rows, then each factor's columns) is cut."""
        last = len(spaces) - 1
        return min(
            range(len(spaces)),
            key=lambda i: (dimension(spaces[i], self.b.sizes), i in (0, last), i != query_chain),
        )

    def _side(self, positions: Expr, factors: tuple, source, transpose: bool):
        """A score term's side: ``positions ⊗ chain`` on its source, the chain of ``factors``
        (transposed for the query side), as :meth:`stream_term` (sides of paths with a common
        start share its streams)."""
        if not factors:
            return self.on_positions(positions, self.one_hot(source))
        chain = factors[0] if len(factors) == 1 else Product(factors)
        return self.stream_term(positions, push_transpose(Transpose(chain)) if transpose else chain)

    def bilinear(self, query: Expr, form: Expr, key: Expr):
        """``F_q R_q M R_k^T F_k^T`` with the streams ``R_q``, ``R_k`` [batch, seq, d_model]."""
        r_q, r_k = self.apply(query, SOURCES), self.apply(key, SOURCES)
        forms = form.args if type(form) is Sum else (form,)
        parts = []
        for f in forms:
            if type(f) is not Kron or len(f.args) != 3:
                raise TensorAlgebraError(f"cannot evaluate the form {f}: expected F_q ⊗ F_k ⊗ M")
            f_q, f_k, m = f.args
            left = self.on_positions(f_q, self.on_model(push_transpose(Transpose(m)), r_q))
            parts.append(left @ self.on_positions(f_k, r_k).swapaxes(-1, -2))
        return total(parts)


class _Pairs:
    """Score terms waiting for their product: where each goes, and its query and key sides as
    indices into the distinct sides (terms of one path share a side: each is stacked once)."""

    def __init__(self):
        self.at: list[int] = []
        self.queries, self.keys = _Distinct(), _Distinct()

    def add(self, i: int, query, key) -> int:
        """Term ``i`` with sides ``query`` and ``key``; returns the bytes of sides new here."""
        self.at.append(i)
        return self.queries.add(query) + self.keys.add(key)

    def products(self, ops):
        return pair_products(
            ops,
            ops.stack(self.queries.values),
            ops.stack(self.keys.values),
            self.queries.index,
            self.keys.index,
        )


class _Distinct:
    """Arrays by identity (a cached side is one object wherever it is used), and for each
    addition the index of its array."""

    def __init__(self):
        self.values: list = []
        self.index: list[int] = []
        self._position: dict[int, int] = {}

    def add(self, value) -> int:
        """Adds ``value``; returns its bytes if it is new here, else 0."""
        at = self._position.get(id(value))
        if at is not None:
            self.index.append(at)
            return 0
        self._position[id(value)] = len(self.values)
        self.index.append(len(self.values))
        self.values.append(value)
        return _nbytes(value)


def _nbytes(value) -> int:
    """The bytes of a numpy array or a torch tensor."""
    return value.nbytes if hasattr(value, "nbytes") else value.numel() * value.itemsize
