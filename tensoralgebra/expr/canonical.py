"""A canonical form: expressions equal under the rules have equal canonical forms.

The canonical form is the full expansion (:func:`~tensoralgebra.expr.expand.expand`) with the terms
of the sum sorted by a structural key and each term's chain of Σ sorted by head set (sums over
independent heads commute). Two expressions built from symbols, identities, zeros, transposes,
products, Kronecker products, sums and indexed sums are equal under the rules exactly when their
canonical forms are equal. Bound head variables keep their names (after the expansion's own
renaming), so sums that differ only in a bound variable's name are not identified.

>>> from tensoralgebra.expr.build import symbol
>>> from tensoralgebra.expr.spaces import MODEL, Space
>>> a, b, c = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "abc")
>>> equivalent(a @ (b + c), (a @ c) + (a @ b))
True
>>> equivalent(a @ b, b @ a)
False
"""

from __future__ import annotations

from tensoralgebra.expr.expand import expand, terms
from tensoralgebra.expr.indices import Head, HeadSet, HeadVar
from tensoralgebra.expr.nodes import Expr, IndexedSum, Sum
from tensoralgebra.expr.rules import binders
from tensoralgebra.expr.spaces import DirectSum, Space


def sort_key(expr: Expr) -> tuple:
    """A total order on expressions, by structure (type, then fields, then children)."""
    return (type(expr).__name__, *(_field_key(getattr(expr, f)) for f in expr._fields))


def _field_key(value: object) -> tuple:
    if isinstance(value, Expr):
        return sort_key(value)
    if isinstance(value, tuple):
        return ("tuple", *(_field_key(v) for v in value))
    if isinstance(value, (Space, DirectSum)):
        return ("space", repr(value))
    if isinstance(value, (Head, HeadVar, HeadSet)):
        return (type(value).__name__, repr(value))
    if value is None:
        return ("none",)
    return ("str", str(value))


def _sorted_binders(term: Expr) -> Expr:
    chain, body = binders(term)
    if len({s.var for s in chain}) < len(chain):
        return term  # a shadowed variable: reordering the Σs would change what it refers to
    for s in sorted(chain, key=lambda s: (s.over.layers, repr(s.var)), reverse=True):
        body = IndexedSum(s.var, s.over, body)
    return body


def canonical(expr: Expr) -> Expr:
    """The canonical form of ``expr`` (fully expanded; no limit on the number of terms)."""
    expanded = [_sorted_binders(t) for t in terms(expand(expr, max_terms=None))]
    expanded.sort(key=sort_key)
    return expanded[0] if len(expanded) == 1 else Sum(expanded)


def equivalent(a: Expr, b: Expr) -> bool:
    """Whether ``a`` and ``b`` are equal under the rewrite rules (equal canonical forms)."""
    return a.shape == b.shape and canonical(a) == canonical(b)
