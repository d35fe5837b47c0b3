"""What the checks of :func:`~tensoralgebra.verify` share: errors relative to a scale, the
enumerated terms counted before they are listed, and small helpers for naming and sampling terms.

>>> errors(np.array([1.0, 2.0]), np.array([1.0, 2.5]), scale(np.array([1.0, 2.5]), np.zeros(2)))
(0.5, 0.2)
>>> errors(np.array([np.nan, 2.0]), np.ones(2), 1.0)
(nan, nan)
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.numeric.arrays import first_nonfinite
from tensoralgebra.numeric.expansion_check import Messages
from tensoralgebra.paths import count_logit_paths
from tensoralgebra.scores import ScorePath


def errors(got: np.ndarray, want: np.ndarray, scale: float) -> tuple[float, float]:
    """``(max |got - want|, that / scale)`` (NaN if either holds a NaN)."""
    diff = np.abs(np.asarray(got) - np.asarray(want))
    err = float(np.nan if np.isnan(diff).any() else np.max(diff, initial=0.0))
    return err, (err / scale if scale > 0 else err)


def scale(term: np.ndarray, whole: np.ndarray, floor: float = 0.0) -> float:
    """What a term's error is relative to: the largest of the term, the whole it is part of,
    and ``floor`` (the size rounding errors scale with: ``Run.stream_bound`` in
    :mod:`~tensoralgebra.numeric.quantities`).

    A term that nearly cancels inside itself (a small dot product of large vectors) is only
    as accurate as the numbers it was made of, so its own size alone is no yardstick.
    """
    term_max = np.max(np.abs(term), initial=0.0)
    return float(max(term_max, np.max(np.abs(whole), initial=0.0), floor))


def norm2(matrix: np.ndarray) -> float:
    """The spectral norm; ``inf`` for a matrix that is not finite (LAPACK would complain)."""
    return float(np.linalg.norm(matrix, 2)) if np.isfinite(matrix).all() else float("inf")


def largest(vectors: np.ndarray) -> float:
    """The largest norm of a row of ``vectors`` [..., d] (0 for none)."""
    return float(np.max(np.linalg.norm(vectors, axis=-1), initial=0.0))


class Enumerated:
    """The enumerated terms of ``enumerate(*args)``: their number by ``count(*args)`` (closed
    form), the terms themselves only when iterated."""

    def __init__(self, enumerate_terms, count, *args):
        self.enumerate_terms, self.count, self.args = enumerate_terms, count, args

    def __len__(self) -> int:
        return self.count(*self.args)

    def __iter__(self):
        return iter(self.enumerate_terms(*self.args))


def chunk_problems(chunk: np.ndarray, names: list, failures: Messages) -> None:
    """A failure naming the first term of ``chunk`` [n, ...] whose value is not finite."""
    bad = ~np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        failures.add(f"term {names[first]}: value {first_nonfinite(chunk[first])}")


def total(values: dict):
    return sum(values.values())


def merge(result, failures: Messages, notes: Messages) -> None:
    for message in result.failures.as_tuple():
        failures.add(message)
    for message in result.notes.as_tuple():
        notes.add(message)


def name(key) -> str:
    if isinstance(key, ScorePath):
        return f"{key.query} × {key.key}"
    return str(key)


def count_logits(arch, top: int) -> int:
    return sum(count_logit_paths(arch, order=k) for k in range(top + 1))


def sample(items, limit: int):
    """At most ``limit`` evenly spaced items of a sequence (a ``range`` too: nothing is listed
    but the picks); the sequence itself when it is no longer."""
    if len(items) <= limit:
        return items
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in picks]
