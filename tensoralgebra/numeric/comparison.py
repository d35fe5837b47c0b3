"""What the checks of :func:`~tensoralgebra.verify` share: errors relative to a scale, the
enumerated terms counted before they are listed, and small helpers for naming and sampling terms.

>>> errors(np.array([1.0, 2.0]), np.array([1.0, 2.5]), scale(np.array([1.0, 2.5]), np.zeros(2)))
(0.5, 0.2)
>>> errors(np.array([np.nan, 2.0]), np.ones(2), 1.0)
(nan, nan)
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.numeric.arrays import nonfinite_rows
from tensoralgebra.numeric.expansion_check import Messages
from tensoralgebra.paths import count_logit_paths
from tensoralgebra.scores import ScorePath


def errors(got: np.ndarray, want: np.ndarray, scale: float) -> tuple[float, float]:
    """``(max |got - want|, that / scale)`` (NaN if either holds a NaN)."""
    err = 0.0
    for g, w in _blocks(np.asarray(got), np.asarray(want)):
        diff = np.abs(g - w)
        if np.isnan(diff).any():
            err = float("nan")
            break
        err = max(err, float(np.max(diff, initial=0.0)))
    return err, (err / scale if scale > 0 else err)


def scale(term: np.ndarray, whole: np.ndarray, floor: float = 0.0) -> float:
    """What a term's error is relative to: the largest of the term, the whole it is part of,
    and ``floor`` (the size rounding errors scale with: ``Run.stream_bound`` in
    :mod:`~tensoralgebra.numeric.quantities`).

    A term that nearly cancels inside itself (a small dot product of large vectors) is only
    as accurate as the numbers it was made of, so its own size alone is no yardstick.
    """
    return float(max(largest_entry(term), largest_entry(whole), floor))


def term_errors(
    got: np.ndarray, want: np.ndarray, whole: float, floor: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`errors` of many terms at once: ``got`` and ``want`` [n, ...] (term ``i``'s values
    in row ``i``), each term's error relative to the largest of its ``max |want_i|``, ``whole``
    (``max |whole|``, of the quantity the terms are parts of: :func:`scale`) and ``floor``.
    Returns ``(abs [n], rel [n])``; a row holding a NaN has NaN for both.

    >>> a, r = term_errors(np.array([[1.0, 2.0], [0.0, np.nan]]), np.ones((2, 2)), 4.0)
    >>> a.tolist(), r.tolist()
    ([1.0, nan], [0.25, nan])
    """
    got, want = np.asarray(got), np.asarray(want)
    n = len(want)
    got, want = got.reshape(n, -1), want.reshape(n, -1)
    err, own = np.zeros(n), np.zeros(n)
    step = max(1, BLOCK // max(1, n))  # columns at a time: temporaries of BLOCK entries at most
    # inf - inf is NaN, and a tiny scale overflows: both are the answer, not a problem here.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for start in range(0, got.shape[1], step):
            g, w = got[:, start : start + step], want[:, start : start + step]
            diff = np.subtract(g, w)
            np.abs(diff, out=diff)  # (in place: one temporary of the block's size)
            # NaN wherever a row holds one, as errors()
            err = np.maximum(err, np.max(diff, axis=1, initial=0.0))
            top = np.maximum(np.max(w, axis=1, initial=-np.inf), -np.min(w, axis=1, initial=np.inf))
            own = np.maximum(own, top)
        # A NaN ``whole`` is ignored, as Python's max ignores a NaN that comes second in scale().
        size = np.maximum(own, max(whole, floor) if whole == whole else floor)
        rel = np.where(size > 0, err / np.where(size > 0, size, 1.0), err)
    return err, rel


def largest_entry(array: np.ndarray) -> float:
    """``max |array|`` (0 for an empty array; NaN if it holds a NaN, as numpy's max)."""
    out = 0.0
    for (a,) in _blocks(np.asarray(array)):
        top = float(np.max(np.abs(a), initial=0.0))
        if np.isnan(top):
            return top
        out = max(out, top)
    return out


def _blocks(*arrays: np.ndarray):
    """The arrays (of one shape, or broadcastable when small) in blocks of rows of at most
    :data:`BLOCK` entries, aligned: an error of logits [batch, seq, d_vocab] needs no
    temporaries of the logits' size."""
    shapes = {a.shape for a in arrays}
    if max(a.size for a in arrays) <= BLOCK or len(shapes) > 1 or not arrays[0].ndim:
        yield arrays
        return
    flat = [a.reshape(-1, a.shape[-1]) for a in arrays]
    step = max(1, BLOCK // max(1, flat[0].shape[1]))
    for start in range(0, len(flat[0]), step):
        yield tuple(f[start : start + step] for f in flat)


#: The most entries :func:`errors` and :func:`scale` take at once (8 MiB of float64).
BLOCK = 2**20


def norm2(matrix: np.ndarray) -> float:
    """The spectral norm, in float64; ``inf`` for a matrix that is not finite (LAPACK would
    complain). A matrix of more than :data:`GRAM` entries (``W_U``: d_vocab × d_model) goes
    through its Gram matrix on its short side, summed a block of rows at a time: LAPACK's SVD
    would copy it whole, in float64, and take as much again for its work.

    >>> norm2(np.diag([3.0, -4.0])), norm2(np.array([[np.nan]]))
    (4.0, inf)
    """
    m = np.asarray(matrix)
    if m.size <= GRAM:
        m = m.astype(np.float64, copy=False)
        return float(np.linalg.norm(m, 2)) if np.isfinite(m).all() else float("inf")
    m = m if m.shape[0] >= m.shape[1] else m.T
    gram = np.zeros((m.shape[1], m.shape[1]))
    for start in range(0, m.shape[0], GRAM // m.shape[1]):
        part = m[start : start + GRAM // m.shape[1]].astype(np.float64)
        if not np.isfinite(part).all():
            return float("inf")
        gram += part.T @ part
    return float(np.sqrt(max(np.linalg.eigvalsh(gram)[-1], 0.0)))


#: The most entries :func:`norm2` hands to LAPACK's SVD (16 MiB of float64).
GRAM = 2**21


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
    bad = nonfinite_rows(chunk)
    if bad:
        first = min(bad)
        failures.add(f"term {names[first]}: value {bad[first]}")


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
