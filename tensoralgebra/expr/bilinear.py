"""Bilinear forms on residual streams: what attention scores are.

A head's scores ``S = R_q W_QK R_k^T`` are bilinear in the residual stream read at the query
positions (``R_q``) and at the key positions (``R_k``). With three-factor Kronecker products
(MATH.md §1), ``(A_q ⊗ A_k ⊗ M)`` applied to the inputs ``(X_q, X_k)`` is ``A_q X_q M X_k^T A_k^T``:
``A_q`` moves query-side information, ``A_k`` key-side information, ``M`` is a bilinear form.

:class:`Bilinear` ``(query, form, key)`` is the form ``form`` evaluated on the residual streams
``query`` and ``key`` (each an operator from a source's one-hots to the residual stream), printed
the paper's way as ``query^T · form · key``. Its rules:

- ``distribute_bilinear``: a sum in any of the three slots distributes (bilinearity);
- ``pull_sum_out_of_bilinear``: a Σ in a slot comes to the front;
- ``bilinear_mixed_product``: ``(B_q ⊗ W_q)^T · (F_q ⊗ F_k ⊗ M) · (B_k ⊗ W_k)
  → F_q B_q ⊗ F_k B_k ⊗ W_q^T M W_k``, because
  ``F_q (B_q X_q W_q^T) M (B_k X_k W_k^T)^T F_k^T = (F_q B_q) X_q (W_q^T M W_k) X_k^T (F_k B_k)^T``.

Spaces: a form maps ``c0 ⊗ c1 ⊗ c2`` to ``r0 ⊗ r1 ⊗ r2`` (query positions, key positions, the
model space the form reads); the query stream must give ``c0 ⊗ r2`` and the key stream
``c1 ⊗ c2``. The result maps ``q0 ⊗ k0 ⊗ k1`` to ``r0 ⊗ r1 ⊗ q1``, where the query stream reads
``q0 ⊗ q1`` (positions ⊗ its source) and the key stream ``k0 ⊗ k1``.

>>> import tensoralgebra as ta
>>> from tensoralgebra.symbols import W_E, W_QK, Id_positions
>>> stream = Kron((Id_positions, W_E))
>>> form = Kron((Id_positions, Id_positions, W_QK((1, 0))))
>>> s = Bilinear(stream, form, stream)
>>> print(s)
(Id ⊗ W_E)^T·(Id ⊗ Id ⊗ W_QK^{L1H0})·(Id ⊗ W_E)
>>> print(bilinear_mixed_product(s))
Id Id ⊗ Id Id ⊗ W_E^T W_QK^{L1H0} W_E
"""

from __future__ import annotations

from tensoralgebra.errors import SpaceMismatchError
from tensoralgebra.expr.engine import rule
from tensoralgebra.expr.nodes import Expr, Kron, Product, Transpose, Zero, _expr, _set
from tensoralgebra.expr.rules import distribute, pull_indexed_sum
from tensoralgebra.expr.spaces import AnySpace, DirectSum, Space, join


class Bilinear(Expr):
    """The bilinear form ``form`` on the residual streams ``query`` and ``key``.

    ``query`` and ``key`` are operators from a source's one-hots to a residual stream
    (two-factor spaces, positions ⊗ model); ``form`` is an operator on three-factor spaces, such
    as ``Id ⊗ Id ⊗ W_QK^h``. See the module docstring for the spaces and the rules.
    """

    __slots__ = ("form", "key", "query")
    _fields = ("query", "form", "key")

    def __init__(self, query: Expr, form: Expr, key: Expr):
        for name, value in (("query", query), ("form", form), ("key", key)):
            _set(self, name, _expr(value, f"a bilinear form's {name} slot"))
        self._freeze(*_bilinear_spaces(query, form, key))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.query, self.form, self.key)

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return Bilinear(*children)


def _factors(space: AnySpace, n: int, who: Expr, what: str) -> list[tuple]:
    parts = space.parts
    if any(len(p.factors) != n for p in parts):
        raise SpaceMismatchError(f"{what} {who} must act on {n}-factor spaces, not on {space}")
    return [p.factors for p in parts]


def _bilinear_spaces(query: Expr, form: Expr, key: Expr) -> tuple[AnySpace, AnySpace]:
    if isinstance(form.rows, DirectSum) or isinstance(form.cols, DirectSum):
        raise SpaceMismatchError(f"the form {form} must act on one space, not a direct sum")
    (r0, r1, r2), (c0, c1, c2) = (_factors(s, 3, form, "the form")[0] for s in form.shape)
    for side, stream, wanted in (
        ("query", query, Space.of(c0, r2)),
        ("key", key, Space.of(c1, c2)),
    ):
        if stream.rows != wanted:
            raise SpaceMismatchError(
                f"ill-typed bilinear form: the form {form} [{form.rows} × {form.cols}] reads a "
                f"{side} stream in {wanted}, but {stream} gives {stream.rows}"
            )
    q_parts = _factors(query.cols, 2, query, "the query stream")
    k_parts = _factors(key.cols, 2, key, "the key stream")
    rows = join([Space.of(r0, r1, q1) for _, q1 in q_parts])
    cols = join([Space.of(q0, k0, k1) for q0, _ in q_parts for k0, k1 in k_parts])
    return rows, cols


@rule(Bilinear)
def distribute_bilinear(expr: Expr) -> Expr | None:
    """``(q + q')^T F (k + k') → q^T F k + q^T F k' + q'^T F k + q'^T F k'`` (bilinearity)."""
    return distribute(expr, Bilinear)


@rule(Bilinear)
def pull_sum_out_of_bilinear(expr: Expr) -> Expr | None:
    """``(Σ_h q_h)^T F k → Σ_h q_h^T F k`` (likewise in the form and key slots), renaming ``h``
    if another slot uses that name."""
    return pull_indexed_sum(expr, Bilinear)


@rule(Bilinear)
def bilinear_mixed_product(expr: Expr) -> Expr | None:
    """``(B_q ⊗ W_q)^T·(F_q ⊗ F_k ⊗ M)·(B_k ⊗ W_k) → F_q B_q ⊗ F_k B_k ⊗ W_q^T M W_k``."""
    if type(expr) is not Bilinear:
        return None
    query, form, key = expr.children
    if not (_kron_of(query, 2) and _kron_of(form, 3) and _kron_of(key, 2)):
        return None
    (b_q, w_q), (f_q, f_k, m), (b_k, w_k) = query.args, form.args, key.args
    return Kron((Product((f_q, b_q)), Product((f_k, b_k)), Product((Transpose(w_q), m, w_k))))


@rule(Bilinear)
def eliminate_zero_bilinear(expr: Expr) -> Expr | None:
    """``0^T F k → 0`` (and a zero form or key likewise)."""
    if type(expr) is Bilinear and Zero in map(type, expr.children):
        return Zero(expr.rows, expr.cols)
    return None


def _kron_of(expr: Expr, n: int) -> bool:
    return type(expr) is Kron and len(expr.args) == n
