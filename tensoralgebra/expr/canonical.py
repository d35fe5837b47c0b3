"""A canonical form: expressions equal under the rules have equal canonical forms.

The canonical form is the full expansion (:func:`~tensoralgebra.expr.expand.expand`), then, term
by term: each Σ over a union of layers split into one Σ per layer (``Σ_{h∈H0∪H1} = Σ_{h∈H0} +
Σ_{h∈H1}``), bound head variables renamed by where they first occur (``h``, ``h'``, ``h''``, ...:
names of bound variables carry no meaning), and the Σ chain sorted by head set (sums over
independent heads commute); finally the terms are sorted by a structural key. Two expressions
built from symbols, identities, zeros, transposes, products, Kronecker products, sums and indexed
sums are equal under the rules exactly when their canonical forms are equal.

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
from tensoralgebra.expr.nodes import Expr, IndexedSum, Sum, expression
from tensoralgebra.expr.ordering import binders
from tensoralgebra.expr.spaces import DirectSum, Space
from tensoralgebra.expr.traversal import fresh_var, substitute, walk


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


def _split_unions(term: Expr) -> list[Expr]:
    """The term with every Σ over a union of layers split into one Σ per layer."""
    chain, body = binders(term)
    out = [body]
    for s in reversed(chain):
        out = [IndexedSum(s.var, HeadSet((layer,)), t) for t in out for layer in s.over.layers]
    return out


def _first_occurrences(expr: Expr) -> list[HeadVar]:
    seen: list[HeadVar] = []
    for node in walk(expr):
        index = getattr(node, "index", None)
        if isinstance(index, HeadVar) and index not in seen:
            seen.append(index)
    return seen


def _normal_binders(term: Expr) -> Expr:
    """Rename the Σ chain's variables by first occurrence in the body, then sort the chain."""
    chain, body = binders(term)
    # A Σ whose variable an inner Σ rebinds is unused: give it its own name first (no meaning
    # changes), so that renaming and reordering below cannot confuse the two.
    taken = {s.var for s in chain} | set(_first_occurrences(body))
    for i, s in enumerate(chain):
        if any(inner.var == s.var for inner in chain[i + 1 :]):
            fresh = fresh_var(s.var, frozenset(taken))
            taken.add(fresh)
            chain[i] = IndexedSum(fresh, s.over, s.body)
    order = {v: i for i, v in enumerate(_first_occurrences(body))}
    # Variables the body never uses come last, in order of the sets they range over.
    ranked = sorted(chain, key=lambda s: (order.get(s.var, len(order)), s.over.layers))
    names = {s.var: HeadVar("h" + "'" * i) for i, s in enumerate(ranked)}
    body = substitute(body, names)
    for s in sorted(ranked, key=lambda s: (s.over.layers, repr(names[s.var])), reverse=True):
        body = IndexedSum(names[s.var], s.over, body)
    return body


def canonical(expr: Expr) -> Expr:
    """The canonical form of ``expr`` (fully expanded; no limit on the number of terms)."""
    expression(expr, "canonical")
    expanded = [
        _normal_binders(part)
        for t in terms(expand(expr, max_terms=None))
        for part in _split_unions(t)
    ]
    expanded.sort(key=sort_key)
    return expanded[0] if len(expanded) == 1 else Sum(expanded)


def equivalent(a: Expr, b: Expr) -> bool:
    """Whether ``a`` and ``b`` are equal under the rewrite rules (equal canonical forms)."""
    expression(a, "equivalent")
    expression(b, "equivalent")
    return a.shape == b.shape and canonical(a) == canonical(b)
