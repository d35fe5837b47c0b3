"""The rewrite engine: rules, the strategies that apply them, and the record they leave.

A *rule* is a function from an expression to its rewrite at the root, or ``None`` when it does not
apply; :func:`rule` registers it under its name. A *strategy* applies rules across a tree:
:func:`innermost` rewrites children before parents until no rule applies anywhere, and
:func:`on_terms` applies a rule once to each term of a top-level sum. Every application can be
reported to a recorder as an :class:`Application`, which is what derivations and proofs are made of.

>>> from tensoralgebra.expr.rules import flatten_sum
>>> from tensoralgebra.expr.build import symbol
>>> from tensoralgebra.expr.nodes import Sum
>>> from tensoralgebra.expr.spaces import MODEL, Space
>>> a, b, c = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in "abc")
>>> log = []
>>> innermost([flatten_sum], record=log.append)(Sum((a, Sum((b, c)))))
a + b + c
>>> [app.rule for app in log]
['flatten_sum']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import is_

from tensoralgebra.expr.nodes import Expr, Identity, MatrixSymbol, Sum, Zero

Rule = Callable[[Expr], Expr | None]
Recorder = Callable[["Application"], None]
Strategy = Callable[[Expr], Expr]

#: Every rule by name, filled in by :func:`rule`.
RULES: dict[str, Rule] = {}


@dataclass(frozen=True, slots=True)
class Application:
    """One application of a named rule: ``before`` (a sub-expression) became ``after``."""

    rule: str
    before: Expr
    after: Expr


def rule(*node_types: type) -> Callable[[Rule], Rule]:
    """Register a rewrite rule under its function name; ``node_types`` are the node types it
    can rewrite (strategies only try it there).

    >>> @rule(Sum)
    ... def drop_nothing(expr):
    ...     return None
    >>> drop_nothing.node_types
    (<class 'tensoralgebra.expr.nodes.Sum'>,)
    >>> del RULES["drop_nothing"]
    """

    def register(fn: Rule) -> Rule:
        if fn.__name__ in RULES:
            raise ValueError(f"a rule named {fn.__name__!r} is already registered")
        fn.node_types = node_types
        RULES[fn.__name__] = fn
        return fn

    return register


def apply_rule(name: str, expr: Expr) -> Expr | None:
    """Apply the rule called ``name`` at the root of ``expr`` (``None``: it does not apply)."""
    try:
        fn = RULES[name]
    except KeyError:
        raise KeyError(f"no rule named {name!r}; the rules are {sorted(RULES)}") from None
    return fn(expr)


def _dispatch(rules: Sequence[Rule]) -> dict[type, tuple[Rule, ...]]:
    return _dispatch_of(tuple(rules))


@functools.lru_cache(maxsize=64)
def _dispatch_of(rules: tuple[Rule, ...]) -> dict[type, tuple[Rule, ...]]:
    # (the expansion's passes ask for the same few rule lists on every expansion; the dict
    # returned is only read)
    kinds = {k for fn in rules for k in fn.node_types}
    return {k: tuple(fn for fn in rules if k in fn.node_types) for k in kinds}


def innermost(
    rules: Sequence[Rule], record: Recorder | None = None, shortcut: Rule | None = None
) -> Strategy:
    """Rewrite children first, then the node, until no rule in ``rules`` applies anywhere.

    Rules are tried in order at each node; the first that applies wins and its result is
    normalised again. Without a recorder, normal forms are memoised: a sub-tree shared by several
    terms is rewritten once, and ``shortcut`` (if given) is asked first at each node whose
    children are normal: it returns the node's normal form under ``rules`` in one step, or
    ``None`` to leave the node to the rules. A shortcut must give exactly what the rules give; it
    is how a common sequence of applications is run without re-examining what it builds.
    """
    if record is not None:
        shortcut = None  # a recorded expansion lists every application: no step may be skipped
    by_type = _dispatch(rules)
    # Memo by identity: a sub-tree shared between terms (the same layer factor in every product)
    # is normalised once, and a normal form is known as one. Keyed by id() with every key's node
    # kept alive (normal forms as the memo's values, the nodes they came from in ``seen``), so
    # ids cannot be reused; no pair is built per node.
    memo: dict[int, Expr] | None = {} if record is None else None
    seen: list[Expr] = []
    normal: set[int] = set()  # ids of memoised normal forms

    # Leaf types no rule rewrites are left alone without a call: they are most of every tree.
    skip = frozenset({MatrixSymbol, Identity, Zero} - set(by_type))

    def strategy(expr: Expr) -> Expr:
        # The recursion is a closure made per call and dropped after it: a function that
        # refers to itself is a reference cycle, which would keep this pass's memo (and every
        # tree it holds) alive until the cyclic collector ran.
        def normalise(expr: Expr) -> Expr:
            if type(expr) in skip:
                return expr
            if memo is not None:
                hit = memo.get(id(expr))
                if hit is not None:
                    return hit
            out = expr
            while True:
                # map_children with the normal children (leaves, memoised normal forms) passed
                # over inline: this loop runs once per node of every term.
                children = out.children
                if children:
                    new = [
                        c if type(c) in skip or id(c) in normal else normalise(c) for c in children
                    ]
                    if not all(map(is_, new, children)):
                        out = out.with_children(tuple(new))
                if shortcut is not None:
                    done = shortcut(out)
                    if done is not None:
                        out = done
                        break
                for fn in by_type.get(type(out), ()):
                    rewritten = fn(out)
                    if rewritten is not None:
                        if record is not None:
                            record(Application(fn.__name__, out, rewritten))
                        out = rewritten
                        break
                else:
                    break  # no rule applies here, and the children are normal: done
            if memo is not None:
                key = id(out)
                memo[key] = out
                normal.add(key)
                if out is not expr:
                    memo[id(expr)] = out
                    seen.append(expr)
            return out

        try:
            return normalise(expr)
        finally:
            normalise = None

    return strategy


def at_root(fn: Rule, record: Recorder | None = None) -> Strategy:
    """Apply ``fn`` once at the root, if it applies."""

    def strategy(expr: Expr) -> Expr:
        out = fn(expr)
        if out is None:
            return expr
        if record is not None:
            record(Application(fn.__name__, expr, out))
        return out

    return strategy


def on_terms(fn: Rule, record: Recorder | None = None) -> Strategy:
    """Apply ``fn`` once to each term of a top-level sum (or to the expression if not a sum)."""
    once = at_root(fn, record)

    def strategy(expr: Expr) -> Expr:
        if isinstance(expr, Sum):
            new = tuple(once(t) for t in expr.args)
            return expr if all(n is t for n, t in zip(new, expr.args)) else Sum(new)
        return once(expr)

    return strategy
