"""Re-applying a step's justification: rewrites at every position, and a tidy normal form.

A step of a derivation names rules (or cites equations); checking it means applying them to the
previous expression and comparing the result with the step's expression. The comparison is made
on :func:`tidy` forms, which forget only what a reader does not see as a change: how sums,
products and Kronecker products nest (associativity), the order of a sum's terms (commutativity
of +) and the names of bound head variables. Everything else must match: a step that is true
but needs a different rule than the one it names is rejected, which :func:`canonical` (a full
expansion, equal for any two equal expressions) could not do.

>>> from tensoralgebra.expr import MODEL, Space, symbol
>>> a, b, c = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "abc")
>>> tidy((c + a) + b) == tidy(a + (b + c))
True
>>> [str(e) for e in rewrites_once(a @ (b + c) @ (b + c), "distribute_product")]
['a b b + a b c + a c b + a c c']
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from tensoralgebra.expr.canonical import sort_key
from tensoralgebra.expr.engine import RULES, innermost, on_terms
from tensoralgebra.expr.indices import HeadVar
from tensoralgebra.expr.nodes import Expr, IndexedSum, Kron, Product, Sum
from tensoralgebra.expr.traversal import substitute
from tensoralgebra.expr.visitor import map_children

_FLAT = (Product, Kron, Sum)
_counter = itertools.count()


def tidy(expr: Expr) -> Expr:
    """``expr`` with nested sums, products and Kronecker products flattened, each sum's terms
    sorted, and bound head variables renamed by depth (``bound0``, ``bound1``, ...)."""
    return _rename(_unique(expr), 0)


def _unique(expr: Expr) -> Expr:
    # Give every binder a name used nowhere else first, so that renaming by depth below cannot
    # capture a variable of an enclosing sum.
    if type(expr) is IndexedSum:
        fresh = HeadVar(f"fresh{next(_counter)}")
        return IndexedSum(fresh, expr.over, _unique(substitute(expr.body, {expr.var: fresh})))
    return map_children(expr, _unique)


def _rename(expr: Expr, depth: int) -> Expr:
    if isinstance(expr, IndexedSum):
        var = HeadVar(f"bound{depth}")
        body = substitute(expr.body, {expr.var: var})
        return IndexedSum(var, expr.over, _rename(body, depth + 1))
    out = map_children(expr, lambda c: _rename(c, depth))
    kind = type(out)
    if kind not in _FLAT:
        return out
    children = [g for c in out.args for g in (c.args if type(c) is kind else (c,))]
    if kind is Sum:
        children.sort(key=sort_key)
    return kind(children)


def same(a: Expr, b: Expr) -> bool:
    """Whether ``a`` and ``b`` have equal :func:`tidy` forms (see the module docstring)."""
    return a == b or (a.shape == b.shape and tidy(a) == tidy(b))


def positions(expr: Expr, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Expr]]:
    """Every sub-expression with its path (child numbers from the root), parents first."""
    yield path, expr
    for i, child in enumerate(expr.children):
        yield from positions(child, (*path, i))


def replace_at(expr: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    """``expr`` with the sub-expression at ``path`` replaced by ``new``."""
    if not path:
        return new
    target, rest = path[0], path[1:]
    slots = iter(range(len(expr.children)))  # map_children visits the children once, in order
    return map_children(expr, lambda c: replace_at(c, rest, new) if next(slots) == target else c)


def rewrites_once(expr: Expr, name: str) -> Iterator[Expr]:
    """Each expression obtained by applying the rule ``name`` at exactly one position."""
    fn = RULES[name]
    if name in TERM_RULES:
        yield on_terms(fn)(expr)
        return
    for path, sub in positions(expr):
        if type(sub) in fn.node_types:
            out = fn(sub)
            if out is not None:
                yield replace_at(expr, path, out)


#: Rules that apply to whole terms only, once each: at an inner Σ, ``name_bound_heads`` would
#: undo the names it gave as part of the whole term's chain, and the two would alternate forever.
TERM_RULES = frozenset({"name_bound_heads"})


def rewrite_everywhere(expr: Expr, names: tuple[str, ...]) -> Expr:
    """``expr`` rewritten with the rules ``names`` wherever they apply, until none does (rules of
    :data:`TERM_RULES` once on each term of the result)."""
    inner = [RULES[n] for n in names if n not in TERM_RULES]
    out = innermost(inner)(expr) if inner else expr
    for name in names:
        if name in TERM_RULES:
            out = on_terms(RULES[name])(out)
    return out


def replace_all(expr: Expr, old: Expr, new: Expr) -> Expr:
    """``expr`` with every occurrence of ``old`` replaced by ``new`` (outermost first)."""
    if expr == old:
        return new
    return map_children(expr, lambda c: replace_all(c, old, new))


def replacements_once(expr: Expr, old: Expr, new: Expr) -> Iterator[Expr]:
    """Each expression obtained by replacing one occurrence of ``old`` by ``new``."""
    for path, sub in positions(expr):
        if sub == old:
            yield replace_at(expr, path, new)
