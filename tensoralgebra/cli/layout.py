"""Text layout for the ``tensoralgebra`` command: long expressions over several lines, and
listings of terms as tables and as JSON records.

Expressions print on one line (:mod:`tensoralgebra.printing.text`); a terminal needs them broken
between the terms of a sum or the factors of a product, never inside a term.

>>> import tensoralgebra as ta
>>> T = ta.logits(ta.Architecture(heads=(1,)))
>>> print("\\n".join(stacked(T, lead="T =")))
T =  (Id ⊗ W_U)
   · (Id + A^{L0H0} ⊗ W_OV^{L0H0})
   · (Id ⊗ W_E)
>>> print("\\n".join(packed(ta.expand(T), lead="  =", width=40)))
  =  Id ⊗ W_U W_E
   + A^{L0H0} ⊗ W_U W_OV^{L0H0} W_E
"""

from __future__ import annotations

from collections.abc import Sequence

from tensoralgebra.architecture import Architecture
from tensoralgebra.expr.nodes import Expr, IndexedSum, Product, Sum
from tensoralgebra.paths import LogitPath
from tensoralgebra.printing import PRECEDENCE, precedence, to_text
from tensoralgebra.scores import ScorePath


def split(expr: Expr) -> tuple[str, list[str]]:
    """``expr`` as an operator and its operands' texts: ``("+", terms)`` for a sum, ``("·",
    factors)`` for a product of tensor operators, ``("", [text])`` for anything else.

    Operands carry the parentheses they need in place: joining them with the operator gives
    exactly the one-line text (checked, so the layout can never change what is printed).
    """
    whole = to_text(expr)
    if isinstance(expr, Sum):
        op, parts = "+", [_operand(a, PRECEDENCE[Sum] + 1) for a in expr.args]
    elif isinstance(expr, Product):
        op, parts = "·", [_operand(a, PRECEDENCE[Product] + 1) for a in expr.args]
    else:
        return "", [whole]
    joiner = " + " if op == "+" else op
    return (op, parts) if joiner.join(parts) == whole else ("", [whole])


def _operand(arg: Expr, needed: int) -> str:
    # A Σ term binds only its own body, so a sum lists it bare (the printer's rule, too).
    text = to_text(arg)
    return text if isinstance(arg, IndexedSum) or precedence(arg) >= needed else f"({text})"


def _first(lead: str, op: str) -> str:
    # Room for "op " on the lines after the first, so that the operands line up.
    return f"{lead}  " if op else f"{lead} " if lead else ""


def stacked(expr: Expr, lead: str = "", notes: Sequence[str] = ()) -> list[str]:
    """One operand of ``expr`` per line, the operator in front, ``lead`` before the first.

    ``notes`` (one per operand, optional) are aligned in a column to the right.
    """
    op, parts = split(expr)
    first = _first(lead, op)
    pad = " " * len(first)
    lines = [first + parts[0]] + [f"{pad[:-2]}{op} {part}" for part in parts[1:]]
    if notes:
        width = max(map(len, lines))
        lines = [f"{line:<{width}}   {note}".rstrip() for line, note in zip(lines, notes)]
    return lines


def packed(expr: Expr, lead: str = "", width: int = 100) -> list[str]:
    """``expr`` broken between operands into lines of at most ``width`` characters where it can
    be (an operand longer than a line gets a line of its own)."""
    op, parts = split(expr)
    first = _first(lead, op)
    pad = " " * len(first)
    lines = [first + parts[0]]
    joiner = " + " if op == "+" else op
    for part in parts[1:]:
        joined = f"{lines[-1]}{joiner}{part}"
        lines[-1:] = [joined] if len(joined) <= width else [lines[-1], f"{pad[:-2]}{op} {part}"]
    return lines


def label(arch: Architecture) -> str:
    """``repr(arch)``, with a long run of equal head counts written ``(h,) * n``.

    >>> label(Architecture(heads=(96,) * 96))
    'Architecture(heads=(96,) * 96)'
    """
    heads = arch.heads
    if heads is None or len(heads) <= 4 or len(set(heads)) != 1:
        return repr(arch)
    pos = "" if arch.positional is None else f", positional={arch.positional!r}"
    return f"Architecture(heads=({heads[0]},) * {len(heads)}{pos})"


def path_heads(path: LogitPath) -> str:
    """The heads along a path, earliest first: ``L0H1→L1H0``, ``h_0∈H0→h_1∈H1``, or ``-``."""
    names = [
        f"{h!r}∈H{layer}" if not isinstance(h, int) else f"L{layer}H{h}" for layer, h in path.heads
    ]
    return "→".join(names) or "-"


def path_record(path: LogitPath) -> dict:
    """A path as JSON data; a schematic head is ``[layer, "<variable>"]``."""
    return {
        "kind": path.kind,
        "order": path.order,
        "heads": [[layer, h if isinstance(h, int) else repr(h)] for layer, h in path.heads],
        "source": path.source,
        "expr": to_text(path.expr),
    }


def _side(path: LogitPath) -> dict:
    heads = [[layer, h if isinstance(h, int) else repr(h)] for layer, h in path.heads]
    return {"heads": heads, "source": path.source}


def score_record(path: ScorePath) -> dict:
    """A score term as JSON data: its kind, ``[query order, key order]``, both paths, the term."""
    return {
        "kind": path.kind,
        "order": list(path.order),
        "query": _side(path.query),
        "key": _side(path.key),
        "expr": to_text(path.expr),
    }


def score_rows(paths: Sequence[ScorePath], sources: bool) -> list[str]:
    """Score terms as a table: kind, ``query order,key order``, both paths' heads, (with
    ``sources``) the sources they read, and the term."""
    queries = [path_heads(p.query) for p in paths]
    keys = [path_heads(p.key) for p in paths]
    wq, wk = (max(map(len, [t, *names])) for t, names in (("query", queries), ("key", keys)))
    reads = [f"[{short_source(p.query.source)}→{short_source(p.key.source)}]" for p in paths]
    width = max(9, *map(len, reads)) if reads else 9
    column = f"{'sources':<{width}}  " if sources else ""
    rows = [f"{'# kind':<6} {'order':>5}  {'query':<{wq}}  {'key':<{wk}}  {column}term"]
    for p, q, k, read in zip(paths, queries, keys, reads):
        read = f"{read:<{width}}  " if sources else ""
        order = "{},{}".format(*p.order)
        rows.append(f"{p.kind:<6} {order:>5}  {q:<{wq}}  {k:<{wk}}  {read}{to_text(p.expr)}")
    return rows


#: Short names of the sources for the score tables' ``sources`` column.
_SHORT = {"token": "tok", "position": "pos", "query bias": "b_Q", "key bias": "b_K"}


def short_source(source: str) -> str:
    """A source's name in a few letters, distinct for every source: ``"bias L1"`` → ``"c L1"``.

    >>> [short_source(s) for s in ("token", "position", "bias L1", "key bias")]
    ['tok', 'pos', 'c L1', 'b_K']
    """
    if source.startswith("bias L"):
        return "c " + source[len("bias ") :]
    return _SHORT.get(source, source)


def logit_rows(paths: Sequence[LogitPath]) -> list[str]:
    """Logit terms as a table: kind, order, the heads along the path, the source, the term."""
    names = [path_heads(p) for p in paths]
    width = max(map(len, ["heads", *names]))
    source = max(8, *(len(p.source) for p in paths))
    rows = [f"{'# kind':<8} {'order':>5}  {'heads':<{width}}  {'source':<{source}}  term"]
    rows += [
        f"{p.kind:<8} {p.order:>5}  {name:<{width}}  {p.source:<{source}}  {to_text(p.expr)}"
        for p, name in zip(paths, names)
    ]
    return rows
