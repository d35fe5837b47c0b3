"""Rewrite rules: each a small named function that rewrites the root of an expression.

A rule returns the rewritten expression, or ``None`` when it does not apply. Every rule preserves
the value of the expression for every binding of its symbols (the test suite checks each one on
random matrices). Rules rewrite exactly one thing; the strategies in
:mod:`tensoralgebra.expr.engine` apply them across a tree.

>>> from tensoralgebra.expr.build import symbol
>>> from tensoralgebra.expr.spaces import MODEL, POSITIONS, VOCAB, Space
>>> A, B = (symbol(n, Space.of(POSITIONS), Space.of(POSITIONS)) for n in "AB")
>>> W_U = symbol("W_U", Space.of(VOCAB), Space.of(MODEL))
>>> W = symbol("W", Space.of(MODEL), Space.of(MODEL))
>>> mixed_product(Product((Kron((A, W_U)), Kron((B, W)))))
A B ⊗ W_U W
>>> transpose_kron(Transpose(Kron((A, W))))
A^T ⊗ W^T
"""

from __future__ import annotations

import itertools
from operator import attrgetter, is_

from tensoralgebra.expr.engine import rule
from tensoralgebra.expr.indices import HeadVar
from tensoralgebra.expr.nodes import (
    Bilinear,
    Expr,
    Identity,
    IndexedSum,
    Kron,
    Product,
    Sum,
    Transpose,
    Zero,
)
from tensoralgebra.expr.spaces import Space
from tensoralgebra.expr.traversal import bound_vars, free_vars, fresh_var, substitute

_ROWS, _COLS = attrgetter("rows"), attrgetter("cols")

# --- flattening -------------------------------------------------------------------------------


def _flatten(expr: Expr, kind: type) -> Expr | None:
    if type(expr) is not kind or kind not in map(type, expr.args):
        return None
    flat: list[Expr] = []
    for a in expr.args:
        flat.extend(a.args if type(a) is kind else (a,))
    return kind(flat)


@rule(Product)
def flatten_product(expr: Expr) -> Expr | None:
    """``a·(b·c) → a·b·c`` (associativity)."""
    return _flatten(expr, Product)


@rule(Kron)
def flatten_kron(expr: Expr) -> Expr | None:
    """``a ⊗ (b ⊗ c) → a ⊗ b ⊗ c`` (associativity)."""
    return _flatten(expr, Kron)


@rule(Sum)
def flatten_sum(expr: Expr) -> Expr | None:
    """``a + (b + c) → a + b + c`` (associativity)."""
    return _flatten(expr, Sum)


# --- identities and zeros ---------------------------------------------------------------------


@rule(Product)
def eliminate_identity(expr: Expr) -> Expr | None:
    """``a·Id·b → a·b``; a product of identities is the identity."""
    if type(expr) is not Product or Identity not in map(type, expr.args):
        return None
    kept = [a for a in expr.args if type(a) is not Identity]
    if not kept:
        return Identity(expr.rows)
    return kept[0] if len(kept) == 1 else Product(kept)


@rule(Kron)
def kron_of_identities(expr: Expr) -> Expr | None:
    """``Id ⊗ Id → Id`` (on the tensor-product space)."""
    if type(expr) is not Kron or set(map(type, expr.args)) != {Identity}:
        return None
    return Identity(expr.rows)


@rule(Transpose)
def transpose_identity(expr: Expr) -> Expr | None:
    """``Id^T → Id``."""
    if type(expr) is Transpose and type(expr.arg) is Identity:
        return expr.arg
    return None


@rule(Product, Kron, Transpose, IndexedSum, Sum)
def eliminate_zero(expr: Expr) -> Expr | None:
    """``a·0 → 0``, ``a ⊗ 0 → 0``, ``0^T → 0``, ``Σ 0 → 0``, ``a + 0 → a``."""
    kind = type(expr)
    if Zero not in map(type, expr.children):
        return None
    if kind in (Product, Kron, Transpose, IndexedSum):
        return Zero(expr.rows, expr.cols)
    if kind is Sum:
        kept = [a for a in expr.args if type(a) is not Zero]
        if not kept:
            return Zero(expr.rows, expr.cols)
        return kept[0] if len(kept) == 1 else Sum(kept)
    return None


# --- distribution -----------------------------------------------------------------------------


def distribute(expr: Expr, kind: type) -> Expr | None:
    """``f(a + b, c + d) → f(a, c) + f(a, d) + f(b, c) + f(b, d)`` for an ``expr`` of type
    ``kind`` linear in each operand: every sum among its operands at once, leftmost slowest."""
    if type(expr) is not kind or Sum not in map(type, expr.children):
        return None
    children = expr.children
    choices = [a.args if type(a) is Sum else (a,) for a in children]
    rows, cols = expr.rows, expr.cols
    if kind in (Product, Kron, Bilinear) and all(
        _on_own_spaces(a) for a in children if type(a) is Sum
    ):
        # Every term swaps operands for ones on the same spaces: the node's typing holds for
        # each (as in ``with_children``), checked once per sum rather than once per term.
        terms = tuple([kind.trusted(chosen, rows, cols) for chosen in itertools.product(*choices)])
        if type(rows) is Space and type(cols) is Space:
            return Sum.trusted(terms, rows, cols)  # terms on one space: no join to find
        return Sum(terms)
    return Sum(expr.with_children(chosen) for chosen in itertools.product(*choices))


def _on_own_spaces(total: Sum) -> bool:
    """Whether every term of ``total`` acts between the sum's own spaces."""
    n = len(total.args)
    return (
        list(map(_ROWS, total.args)).count(total.rows) == n
        and list(map(_COLS, total.args)).count(total.cols) == n
    )


@rule(Product)
def distribute_product(expr: Expr) -> Expr | None:
    """``a·(b + c)·(d + e) → a·b·d + a·b·e + a·c·d + a·c·e`` (every sum at once, leftmost
    varying slowest)."""
    return distribute(expr, Product)


@rule(Kron)
def distribute_kron(expr: Expr) -> Expr | None:
    """``a ⊗ (b + c) → a ⊗ b + a ⊗ c`` (bilinearity; every sum at once)."""
    return distribute(expr, Kron)


def pull_indexed_sum(expr: Expr, kind: type) -> Expr | None:
    """``f(a, Σ_h b_h, c) → Σ_h f(a, b_h, c)`` for a node ``f`` linear in each operand: the
    first Σ among the operands of an ``expr`` of type ``kind``, renamed if the others use ``h``."""
    if type(expr) is not kind:
        return None
    children = expr.children
    for i, a in enumerate(children):
        if type(a) is IndexedSum:
            others = children[:i] + children[i + 1 :]
            clash = frozenset().union(*map(free_vars, others))
            var, body = a.var, a.body
            if var in clash:  # pulling the Σ out would capture the other operands' ``var``
                layer = a.over.layers[0] if len(a.over.layers) == 1 else None
                avoid = clash | free_vars(body) | bound_vars(body)
                var = fresh_var(HeadVar(var.name, layer), avoid)
                body = substitute(body, {a.var: var})
            return IndexedSum(var, a.over, expr.with_children((*children[:i], body, *others[i:])))
    return None


@rule(Product)
def pull_sum_out_of_product(expr: Expr) -> Expr | None:
    """``a·(Σ_h b_h)·c → Σ_h a·b_h·c``, renaming ``h`` if ``a`` or ``c`` use that name."""
    return pull_indexed_sum(expr, Product)


@rule(Kron)
def pull_sum_out_of_kron(expr: Expr) -> Expr | None:
    """``a ⊗ (Σ_h b_h) → Σ_h a ⊗ b_h``, renaming ``h`` if ``a`` uses that name."""
    return pull_indexed_sum(expr, Kron)


@rule(IndexedSum)
def split_indexed_sum(expr: Expr) -> Expr | None:
    """``Σ_h (a_h + b_h) → Σ_h a_h + Σ_h b_h``."""
    if type(expr) is IndexedSum and type(expr.body) is Sum:
        return Sum(IndexedSum(expr.var, expr.over, t) for t in expr.body.args)
    return None


# --- transposes -------------------------------------------------------------------------------


@rule(Transpose)
def transpose_product(expr: Expr) -> Expr | None:
    """``(a·b)^T → b^T·a^T``."""
    if type(expr) is Transpose and type(expr.arg) is Product:
        return Product(Transpose(a) for a in reversed(expr.arg.args))
    return None


@rule(Transpose)
def transpose_kron(expr: Expr) -> Expr | None:
    """``(a ⊗ b)^T → a^T ⊗ b^T``."""
    if type(expr) is Transpose and type(expr.arg) is Kron:
        return Kron(Transpose(a) for a in expr.arg.args)
    return None


@rule(Transpose)
def transpose_sum(expr: Expr) -> Expr | None:
    """``(a + b)^T → a^T + b^T``."""
    if type(expr) is Transpose and type(expr.arg) is Sum:
        return Sum(Transpose(a) for a in expr.arg.args)
    return None


@rule(Transpose)
def transpose_indexed_sum(expr: Expr) -> Expr | None:
    """``(Σ_h a_h)^T → Σ_h a_h^T``."""
    if type(expr) is Transpose and type(expr.arg) is IndexedSum:
        inner = expr.arg
        return IndexedSum(inner.var, inner.over, Transpose(inner.body))
    return None


@rule(Transpose)
def double_transpose(expr: Expr) -> Expr | None:
    """``(a^T)^T → a``."""
    if type(expr) is Transpose and type(expr.arg) is Transpose:
        return expr.arg.arg
    return None


#: The rules that push a transpose one level down (or drop it), tried in this order: what the
#: expansion's first pass runs everywhere, and what numeric evaluation applies lazily.
TRANSPOSE_RULES = (
    double_transpose,
    transpose_identity,
    transpose_product,
    transpose_kron,
    transpose_sum,
    transpose_indexed_sum,
    eliminate_zero,
)


# --- the mixed-product rule -------------------------------------------------------------------


@rule(Product)
def mixed_product(expr: Expr) -> Expr | None:
    """``(a ⊗ b)·(c ⊗ d) → (a·c) ⊗ (b·d)``, for every run of adjacent Kronecker products whose
    factors fit one to one (two or three factors alike): ``(a⊗b)(c⊗d)(e⊗f) → ace ⊗ bdf``.

    An identity between two of them is ``Id ⊗ Id`` and joins the run as nothing:
    ``(a⊗b)·Id·(c⊗d) → ac ⊗ bd`` (the layers of a transformer are ``Id + ...``); identities inside
    the factorwise products drop out likewise: ``(Id ⊗ b)(c ⊗ d) → c ⊗ bd``.
    """
    if type(expr) is not Product:
        return None
    args = expr.args
    if list(map(type, args)).count(Kron) < 2:
        return None
    runs: list[list[Expr]] = []
    pending: list[Expr] = []  # identities after the current run's last Kronecker product
    last = None  # the current run's last Kronecker product, if the run is one
    for arg in args:
        kind = type(arg)
        if kind is Identity and last is not None and arg.space is last.cols:
            pending.append(arg)
            continue
        if kind is Kron and last is not None and _factors_fit(last, arg):
            runs[-1].append(arg)
        else:
            runs.extend([p] for p in pending)
            runs.append([arg])
        last = arg if kind is Kron else None
        pending = []
    if len(runs) + len(pending) == len(args):
        return None  # every run is one operand: nothing to multiply out
    runs.extend([p] for p in pending)
    # A run's factorwise products fit (its Kronecker products fit factor by factor, identities are
    # square), so the new nodes are built without checking again: it acts from the run's last
    # columns to its first rows.
    out = [run[0] if len(run) == 1 else _multiply_run(run) for run in runs]
    return out[0] if len(out) == 1 else Product.trusted(tuple(out), expr.rows, expr.cols)


def _multiply_run(run: list[Expr]) -> Kron:
    factors = tuple(map(_chain, zip(*[k.args for k in run])))
    return Kron.trusted(factors, run[0].rows, run[-1].cols)


def _factors_fit(left: Kron, right: Kron) -> bool:
    # Spaces are interned: equal spaces are the same object.
    if left.cols is not right.rows or len(left.args) != len(right.args):
        return False  # factors that fit one by one fit as a whole
    return all(map(is_, map(_COLS, left.args), map(_ROWS, right.args)))


def _chain(factors: tuple[Expr, ...]) -> Expr:
    # Products of products stay flat and identities drop out (they are square, so the rest still
    # fits), so a run of n Kronecker products is one rewrite whose factors need no tidying.
    kept = []
    for f in factors:
        kind = type(f)
        if kind is Product:
            kept += [g for g in f.args if type(g) is not Identity]
        elif kind is not Identity:
            kept.append(f)
    if not kept:
        return Identity(factors[0].rows)
    if len(kept) == 1:
        return kept[0]
    return Product.trusted(tuple(kept), kept[0].rows, kept[-1].cols)


# --- bilinear forms ---------------------------------------------------------------------------


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
    """``(B_q ⊗ W_q)^T·(F_q ⊗ F_k ⊗ M)·(B_k ⊗ W_k) → F_q B_q ⊗ F_k B_k ⊗ W_q^T M W_k``, because
    ``F_q (B_q X_q W_q^T) M (B_k X_k W_k^T)^T F_k^T`` is
    ``(F_q B_q) X_q (W_q^T M W_k) X_k^T (F_k B_k)^T``.

    >>> from tensoralgebra.symbols import W_E, W_QK, Id_positions
    >>> stream = Kron((Id_positions, W_E))
    >>> form = Kron((Id_positions, Id_positions, W_QK((1, 0))))
    >>> print(bilinear_mixed_product(Bilinear(stream, form, stream)))
    Id Id ⊗ Id Id ⊗ W_E^T W_QK^{L1H0} W_E
    """
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
