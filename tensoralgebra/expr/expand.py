"""Mechanical expansion: the rules applied pass by pass, and the canonical form built on it.

:func:`expand` turns any expression into a flat sum of pure Kronecker terms (or of whatever
products of symbols remain when there is no Kronecker structure). It runs these passes in order,
each an :func:`~tensoralgebra.expr.engine.innermost` strategy over a few rules:

1. ``transpose``: push transposes down to symbols;
2. ``distribute``: distribute products and Kronecker products over sums, pull Σ to the front,
   flatten, drop zeros;
3. ``mixed product``: ``(a ⊗ b)·(c ⊗ d) → ac ⊗ bd``, with the identity rules that clear the
   way and tidy up (``a·Id → a``, ``Id ⊗ Id → Id``);
4. ``name heads``: name bound head variables the paper's way (``h``, or ``h_l`` per layer);
5. ``order``: sort the terms by path order (direct path, single heads, virtual heads).

:func:`expansion_steps` runs the same passes and keeps the whole expression after each, with every
rule application that led there: the raw material of derivations and proofs.

:func:`expand`, which records nothing, takes two shortcuts through the rules: a distributed term
that no distribution rule rewrites is recognised at a glance, and a product of layers (Kronecker
products of symbols, and identities) is multiplied out to its term in one step, instead of
having the rules re-examine every product the mixed-product rule builds. Each gives exactly what
the rules give (the test suite checks it on random expressions and architectures).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass

from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.expr import ordering, rules
from tensoralgebra.expr import shortcuts as shortcuts_module
from tensoralgebra.expr.engine import (
    Application,
    Recorder,
    Strategy,
    at_root,
    innermost,
    on_terms,
)
from tensoralgebra.expr.nodes import Expr, Sum, expression
from tensoralgebra.expr.traversal import count_terms
from tensoralgebra.validation import optional_integer

#: Eager expansion refuses to produce more terms than this unless told otherwise.
MAX_TERMS = 100_000

_TRANSPOSE = list(rules.TRANSPOSE_RULES)
_DISTRIBUTE = [
    rules.eliminate_zero_bilinear,
    rules.distribute_bilinear,
    rules.pull_sum_out_of_bilinear,
    rules.flatten_sum,
    rules.flatten_product,
    rules.flatten_kron,
    rules.eliminate_zero,
    rules.distribute_product,
    rules.distribute_kron,
    rules.pull_sum_out_of_product,
    rules.pull_sum_out_of_kron,
    rules.split_indexed_sum,
]
_MIXED = [
    rules.flatten_product,
    rules.mixed_product,
    rules.eliminate_identity,
    rules.kron_of_identities,
    rules.bilinear_mixed_product,
    # A bilinear form's mixed product transposes the query side's weights: push those down.
    *_TRANSPOSE,
]


def _passes(record: Recorder | None, shortcuts: bool = True) -> list[tuple[str, Strategy]]:
    """The passes in order; ``shortcuts=False`` leaves every step to the rules (what the
    shortcuts are tested against: the result is the same)."""
    distribute = shortcuts_module.distributed_product if shortcuts else None
    mixed = shortcuts_module.mixed_product() if shortcuts else None
    return [
        ("transpose", innermost(_TRANSPOSE, record)),
        ("distribute", innermost(_DISTRIBUTE, record, distribute)),
        ("mixed product", innermost(_MIXED, record, mixed)),
        ("name heads", on_terms(ordering.name_bound_heads, record)),
        ("order", at_root(ordering.order_terms, record)),
    ]


#: Term counts are exact up to this (or up to ``max_terms`` when larger); an expansion with more
#: terms is refused as "more than" it, with no advice: no limit would make it finish.
COUNT_CAP = 10**18


def _check_size(expr: Expr, max_terms: int | None, who: str) -> None:
    """Refuse a bad ``expr`` or ``max_terms``, or an expansion of more than ``max_terms`` terms:
    counted from the tree (each distinct node once), before any term is built."""
    expression(expr, who)
    max_terms = optional_integer(max_terms, "max_terms", low=0)
    if max_terms is None:
        return
    cap = max(max_terms, COUNT_CAP) + 1
    n = count_terms(expr, cap=cap)
    if n <= max_terms:
        return
    hint = (
        "(for the logits of an architecture, enumerate the terms lazily with "
        "ta.logit_paths(arch, max_order=...) and count them with ta.count_logit_paths)"
    )
    if n == cap:  # saturated: the exact count is beyond any expansion
        raise ExpansionLimitError(
            f"expanding this expression gives more than {cap - 1} terms, over "
            f"max_terms={max_terms} {hint}"
        )
    raise ExpansionLimitError(
        f"expanding this expression gives {n} terms, more than max_terms={max_terms} {hint}",
        option="max_terms",
        value=n,
    )


@contextmanager
def cycle_collection_paused():
    """Pause the cyclic garbage collector: expressions are trees (no cycles to collect), and an
    expansion (or a check of its terms) allocates enough of them to trigger it again and again
    for nothing, each time walking every object the process holds."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def expand(expr: Expr, *, max_terms: int | None = MAX_TERMS) -> Expr:
    """Expand ``expr`` by the rules into a flat sum of terms, ordered by path order.

    Raises :class:`~tensoralgebra.errors.ExpansionLimitError` (before doing any work) if the
    expansion would have more than ``max_terms`` terms, with the exact count as the
    ``max_terms`` that fits; ``max_terms=None`` lifts the limit.

    >>> import tensoralgebra as ta
    >>> print(ta.expand(ta.logits(ta.Architecture(heads=(1,)))))
    Id ⊗ W_U W_E + A^{L0H0} ⊗ W_U W_OV^{L0H0} W_E
    """
    _check_size(expr, max_terms, "expand")
    with cycle_collection_paused():
        for _, strategy in _passes(None):
            expr = strategy(expr)
    return expr


@dataclass(frozen=True)
class Step:
    """One pass of an expansion: its name, the whole expression after it, and the rule
    applications that got there (in the order they happened)."""

    name: str
    expr: Expr
    applications: tuple[Application, ...]


def expansion_steps(expr: Expr, *, max_terms: int | None = MAX_TERMS) -> list[Step]:
    """The expansion of ``expr`` pass by pass, starting with ``Step("factored", expr, ())``.

    Passes that change nothing are left out. The last step's expression equals ``expand(expr)``.

    >>> import tensoralgebra as ta
    >>> steps = ta.expansion_steps(ta.logits(ta.Architecture(heads=(1,))))
    >>> [s.name for s in steps]
    ['factored', 'distribute', 'mixed product']
    >>> sorted({a.rule for a in steps[2].applications})
    ['mixed_product']
    """
    _check_size(expr, max_terms, "expansion_steps")
    steps = [Step("factored", expr, ())]
    log: list[Application] = []
    with cycle_collection_paused():
        for name, strategy in _passes(log.append):
            out = strategy(expr)
            if out != expr:
                steps.append(Step(name, out, tuple(log)))
            log.clear()
            expr = out
    return steps


def terms(expr: Expr) -> tuple[Expr, ...]:
    """The terms of a sum, or ``(expr,)`` for any other expression."""
    expression(expr, "terms")
    return expr.args if isinstance(expr, Sum) else (expr,)
