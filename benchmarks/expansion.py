"""Expansion speed against SymPy, and path enumeration against bare tuples, in one run.

For each (L, H): L layers of H heads each, no positional embedding.

- expansion: ``ta.expand(ta.logits(arch))`` against SymPy's expansion of the same product
  (``sympy_expansion``: convert, ``doit``, ``expand``, then ``combine_kronecker`` term by term);
- enumeration: ``list(ta.logit_paths(arch))`` against the least a user would write to list the
  same paths: for every order, ``itertools.product`` over the chosen layers' heads, giving one
  tuple of ``(layer, head)`` pairs per path;
- the floor of that enumeration: building the same paths' ``LogitPath`` objects alone, from
  their fields ready made (``tuple.__new__``, the cheapest construction there is), with no
  enumeration at all. Any enumeration that yields ``LogitPath`` objects does the tuples' work
  (every path's heads) and this, so ``paths/floor`` near 1 means nothing is left to remove
  but the objects themselves.

Both are pure Python on one thread (no BLAS, no torch). Timings are best-of-N wall clock
(``time.perf_counter``): the minimum over repeats, because the machine may be shared. SymPy's
expansion is too slow to repeat at the larger sizes, so its time per term is measured in two
parts: the whole-expression steps (convert, ``doit``, ``expand``; best of up to 3 runs, stopping
once a run exceeds the budget) divided by the number of terms, plus ``combine_kronecker`` timed
on an evenly spaced sample of the terms (every order represented). SymPy's cache is cleared
before each SymPy run, so a repeat does not reuse the previous run's work; our expansion keeps no
state between calls either.

Run: ``python benchmarks/expansion.py``.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Measure this checkout's package, whether or not it is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import threads  # first: sizes the thread pools before numpy and torch load

THREADS = threads.choose(__doc__.splitlines()[0])

from sympy.core.cache import clear_cache
from sympy.matrices.expressions.kronecker import combine_kronecker

import tensoralgebra as ta

SIZES = [(2, 4), (3, 4), (4, 4), (6, 3)]
REPEATS = 9  # our timings are cheap: more repeats make the minimum steadier on a shared machine
SYMPY_REPEATS = 3
SYMPY_BUDGET = 5.0  # seconds: no further repeat of SymPy's whole-expression steps beyond this
SYMPY_SAMPLE = 200  # terms passed to combine_kronecker, evenly spaced over the expansion


def best_of(fn: Callable[[], object], repeats: int, budget: float = float("inf")) -> float:
    """The fastest of up to ``repeats`` runs of ``fn`` (seconds); stops early past ``budget``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        if elapsed > budget:
            break
    return best


def tuple_paths(heads: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
    """Every path as a tuple of (layer, head) pairs: the baseline for ``ta.logit_paths``."""
    out: list[tuple[tuple[int, int], ...]] = []
    for order in range(len(heads) + 1):
        for layers in itertools.combinations(range(len(heads)), order):
            choices = [[(layer, h) for h in range(heads[layer])] for layer in layers]
            out.extend(itertools.product(*choices))
    return out


def path_objects(arch: ta.Architecture) -> Callable[[], list]:
    """A function building ``arch``'s ``LogitPath`` objects from their ready-made fields."""
    fields = [tuple(p) for p in ta.logit_paths(arch)]
    new, cls = tuple.__new__, ta.LogitPath
    return lambda: list(map(new, itertools.repeat(cls), fields))


def sympy_seconds_per_term(logits: ta.Expr) -> tuple[int, float]:
    """(number of terms, SymPy's seconds per term), measured as the module docstring says."""
    expanded = []

    def whole() -> None:
        clear_cache()
        expanded[:] = [ta.to_sympy(logits).doit().expand()]

    whole_time = best_of(whole, SYMPY_REPEATS, SYMPY_BUDGET)
    terms = expanded[0].args
    sample = terms[:: max(1, len(terms) // SYMPY_SAMPLE)]

    def combine() -> None:
        clear_cache()
        for term in sample:
            combine_kronecker(term)

    combine_time = best_of(combine, 1 if len(terms) > SYMPY_SAMPLE else SYMPY_REPEATS)
    return len(terms), whole_time / len(terms) + combine_time / len(sample)


def measure(n_layers: int, n_heads: int) -> dict:
    """One row of the table: term counts and timings for ``n_layers`` layers of ``n_heads``."""
    arch = ta.Architecture((n_heads,) * n_layers)
    logits = ta.logits(arch)
    n_terms = len(ta.terms(ta.expand(logits)))
    assert [p.heads for p in ta.logit_paths(arch)] == tuple_paths(arch.heads)
    ours = best_of(lambda: ta.expand(logits), REPEATS) / n_terms
    sympy_terms, theirs = sympy_seconds_per_term(logits)
    assert sympy_terms == n_terms == ta.count_logit_paths(arch)
    paths = best_of(lambda: list(ta.logit_paths(arch)), REPEATS)
    tuples = best_of(lambda: tuple_paths(arch.heads), REPEATS)
    objects = best_of(path_objects(arch), REPEATS)
    return {
        "L": n_layers,
        "H": n_heads,
        "terms": n_terms,
        "ours_us": ours * 1e6,
        "sympy_us": theirs * 1e6,
        "speedup": theirs / ours,
        "paths_us": paths * 1e6,
        "tuples_us": tuples * 1e6,
        "enum_ratio": paths / tuples,
        "objects_us": objects * 1e6,
        "floor_ratio": paths / (tuples + objects),
    }


HEADER = (
    f"{'L':>2} {'H':>2} {'terms':>6} {'ours µs/term':>13} {'SymPy µs/term':>14} "
    f"{'speedup':>8} {'paths µs':>9} {'tuples µs':>10} {'paths/tuples':>13} "
    f"{'objects µs':>11} {'paths/floor':>12}"
)


def row(r: dict) -> str:
    """A table row for ``r`` (a result of :func:`measure`)."""
    return (
        f"{r['L']:>2} {r['H']:>2} {r['terms']:>6} {r['ours_us']:>13.1f} {r['sympy_us']:>14.0f} "
        f"{r['speedup']:>7.0f}× {r['paths_us']:>9.0f} {r['tuples_us']:>10.0f} "
        f"{r['enum_ratio']:>12.2f}× {r['objects_us']:>11.0f} {r['floor_ratio']:>11.2f}×"
    )


def main() -> None:
    print(threads.stated(THREADS))
    print("pure Python, one thread; every timing the minimum of repeated runs (shared machine)")
    print("logit expansion of L layers × H heads; goals: speedup ≥ 100×, paths/tuples ≤ 2×")
    print("floor = tuples + objects (LogitPath objects built from ready fields, no enumeration)")
    print(HEADER)
    for n_layers, n_heads in SIZES:
        print(row(measure(n_layers, n_heads)), flush=True)


if __name__ == "__main__":
    main()
