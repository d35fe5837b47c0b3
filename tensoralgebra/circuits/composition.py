"""Composition scores: how much of one head's output another head reads (docs/conventions.md §6).

For an earlier head's OV circuit ``W_OV^{h1}`` [d_model × d_model] and a matrix ``M`` of the
later head that reads the residual stream (``W_QK^{h2 T}`` for Q-composition, ``W_QK^{h2}`` for
K-composition, ``W_OV^{h2}`` for V-composition), the score is

    ``||M W_OV^{h1}||_F / (||M||_F ||W_OV^{h1}||_F)``,

in ``[0, 1]``: 0 when ``M`` ignores everything ``h1`` writes, 1 when they line up on one
direction. :func:`composition_score` scores two arrays; :func:`composition_scores` scores every
earlier head (and, with ``order > 1``, every virtual head) against every later head of a model,
with the random baseline (:mod:`~tensoralgebra.circuits.baseline`), as a
:class:`CompositionScores` table; :func:`path_composition_score` scores one pair of paths.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> M, W = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
>>> bool(0 < composition_score(M, W) <= 1)
True
>>> float(round(composition_score(np.eye(6), np.eye(6)) * np.sqrt(6), 12))
1.0
>>> composition_score(np.eye(3), np.eye(4))  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: ... that chain: got M (3, 3) and W_OV (4, 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits import scoring
from tensoralgebra.circuits.baseline import Baseline, random_baseline
from tensoralgebra.circuits.factored_matrix import as_matrix
from tensoralgebra.circuits.full import Head, Reader, ov_matrix, qk_matrix
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError

#: The kinds of composition: the later head reads the earlier one's output in its queries,
#: keys or values.
KINDS = ("Q", "K", "V")
#: Most rows (heads and virtual heads) one table holds.
MAX_ROWS = 20_000


def composition_score(M: object, W_OV: object) -> float:
    """``||M W_OV||_F / (||M||_F ||W_OV||_F)`` for ``M`` [a × b] and ``W_OV`` [b × c], in
    ``[0, 1]``; 0 if a factor is 0. Refuses shapes that do not chain and non-finite values."""
    m, w = as_matrix(M, "M"), as_matrix(W_OV, "W_OV")
    if m.shape[1] != w.shape[0]:
        raise TensorAlgebraError(
            "composition_score needs M [a × b] and W_OV [b × c] that chain: "
            f"got M {m.shape} and W_OV {w.shape}"
        )
    unit_m, unit_w = _unit(m), _unit(w)
    if unit_m is None or unit_w is None:
        return 0.0
    score = float(np.linalg.norm(unit_m @ unit_w))
    return min(score, 1.0)  # ||MW|| ≤ ||M|| ||W||: only rounding could exceed 1


def _unit(array: np.ndarray) -> np.ndarray | None:
    """``array / ||array||_F`` (None for a zero array), divided by its largest entry first so
    that no square overflows or underflows for any finite entries."""
    largest = np.abs(array).max()
    if largest == 0:
        return None
    scaled = array / largest
    return scaled / np.linalg.norm(scaled)


def label(path: tuple[Head, ...]) -> str:
    """``L0H1`` for a head, ``L0H1→L1H0`` for a virtual head (earliest first)."""
    return "→".join(f"L{layer}H{head}" for layer, head in path)


@dataclass(frozen=True, eq=False)
class CompositionScores:
    """The ``kind`` composition scores of a model: ``scores`` [n_earlier, n_later], row ``i``
    for the (virtual) head ``earlier[i]`` (a path of ``(layer, head)`` pairs, earliest first),
    column ``j`` for the head ``later[j]``; NaN where the row's last head does not sit in an
    earlier layer than the column's. ``baselines`` maps a path's length to its
    :class:`~tensoralgebra.circuits.baseline.Baseline`."""

    kind: str
    earlier: tuple[tuple[Head, ...], ...]
    later: tuple[Head, ...]
    scores: np.ndarray
    baselines: dict[int, Baseline]

    @property
    def baseline_mean(self) -> np.ndarray:
        """The baseline's mean score for each row [n_earlier] (it depends on the path's length)."""
        return np.array([self.baselines[len(path)].mean for path in self.earlier])

    def subtracted(self) -> np.ndarray:
        """``scores`` minus each row's baseline mean [n_earlier, n_later], as the paper plots
        them: positive where a pair composes more than random matrices of its shapes do."""
        return self.scores - self.baseline_mean[:, None]

    def grid(self) -> np.ndarray:
        """The single heads' scores in TransformerLens's layout [n_layers, n_heads, n_layers,
        n_heads] (``all_composition_scores``), 0 where the first head's layer is not earlier.
        Refused for models with different numbers of heads in different layers."""
        heads = [path[0] for path in self.earlier if len(path) == 1]
        counts = {layer: 1 + max(h for lay, h in heads if lay == layer) for layer, _ in heads}
        if len(set(counts.values())) != 1 or sorted(counts) != list(range(len(counts))):
            raise TensorAlgebraError(
                "grid() needs the same number of heads in every layer; this model has "
                f"{[counts.get(layer, 0) for layer in range(max(counts, default=-1) + 1)]}"
            )
        n_layers, n_heads = len(counts), next(iter(counts.values()))
        flat = np.nan_to_num(self.scores[[len(p) == 1 for p in self.earlier]], nan=0.0)
        return flat.reshape(n_layers, n_heads, n_layers, n_heads)

    def largest(self, n: int = 5, subtract: bool = True) -> list[tuple[str, str, float, float]]:
        """The ``n`` pairs of largest score (baseline-subtracted when ``subtract``), as
        ``(earlier, later, score, score minus baseline)``, largest first."""
        n = validation.positive_integer(n, "n")
        values = self.subtracted() if validation.flag(subtract, "subtract") else self.scores
        order = np.argsort(np.nan_to_num(-values, nan=np.inf), axis=None, kind="stable")
        out = []
        for flat in order[:n]:
            i, j = np.unravel_index(flat, values.shape)
            if np.isnan(values[i, j]):
                break
            row, col = label(self.earlier[i]), label((self.later[j],))
            out.append((row, col, float(self.scores[i, j]), float(self.subtracted()[i, j])))
        return out

    def __str__(self) -> str:
        lines = [f"{self.kind}-composition scores, {len(self.earlier)} × {len(self.later)}"]
        lines += [f"  {b}" for _, b in sorted(self.baselines.items())]
        lines += [
            f"  {row} → {col}: {score:.4f} ({excess:+.4f} over the baseline)"
            for row, col, score, excess in self.largest()
        ]
        return "\n".join(lines)


def composition_scores(
    model: object,
    kind: str = "K",
    *,
    order: int = 1,
    fold_ln: bool = True,
    samples: int = 1000,
    seed: int = 0,
) -> CompositionScores:
    """The ``kind`` (``"Q"``, ``"K"`` or ``"V"``) composition score of every head and, with
    ``order > 1``, every virtual head of up to ``order`` heads (rows) into every later head
    (columns), for every pair of layers, with the random baseline of ``samples`` Monte Carlo
    draws from ``seed``. ``fold_ln``: as in :mod:`~tensoralgebra.circuits.full`.

    >>> import tensoralgebra as ta
    >>> w = ta.Weights.random(ta.Architecture((2, 2)), d_model=16, d_head=4, d_vocab=9, n_ctx=4)
    >>> table = composition_scores(w, "K", samples=200)
    >>> table.scores.shape, table.grid().shape, bool(np.nanmax(table.scores) <= 1)
    ((4, 4), (2, 2, 2, 2), True)
    >>> composition_scores(w, order=2).earlier[-1]
    ((0, 1), (1, 1))
    """
    reader = Reader(model, fold_ln)
    kind = validation.choice(kind, "kind", KINDS)
    rows = _paths(reader, validation.positive_integer(order, "order"))
    columns = reader.heads
    scores = np.full((len(rows), len(columns)), np.nan)
    if rows and columns:
        first = scoring.earlier(*map(np.stack, zip(*(reader.ov_factors(list(p)) for p in rows))))
        second = scoring.later(*map(np.stack, zip(*(_reading(reader, kind, h) for h in columns))))
        last = np.array([path[-1][0] for path in rows])
        for j, (layer, _) in enumerate(columns):
            feeds = last < layer
            side = scoring.Later(*(part[j] for part in second))
            scores[feeds, j] = scoring.combine(scoring.Earlier(*(p[feeds] for p in first)), side)
    weights = reader.weights
    baselines = {
        depth: random_baseline(weights.d_model, weights.d_head, depth=depth, samples=samples,
                               seed=seed)
        for depth in sorted({len(path) for path in rows})
    }  # fmt: skip
    return CompositionScores(kind, tuple(rows), tuple(columns), scores, baselines)


def _reading(reader: Reader, kind: str, head: Head) -> tuple[np.ndarray, np.ndarray]:
    """``(X, Y)`` with ``X Y`` the later head's matrix: ``W_QK^T = W_K^T W_Q`` (Q),
    ``W_QK = W_Q^T W_K`` (K) or ``W_OV = W_O W_V`` (V); [d_model, d_head], [d_head, d_model]."""
    if kind == "Q":
        return reader.read("W_K", head).T, reader.read("W_Q", head)
    if kind == "K":
        return reader.read("W_Q", head).T, reader.read("W_K", head)
    return reader.W_O(head), reader.read("W_V", head)


def _paths(reader: Reader, order: int) -> list[tuple[Head, ...]]:
    """Every path of 1..``order`` heads in increasing layers, shortest first, refused over
    :data:`MAX_ROWS`."""
    per_layer = [len(q) for q in reader.weights.W_Q]
    counts = [1] + [0] * order  # counts[k]: paths of k heads, by dynamic programming
    for n in per_layer:
        counts = [counts[0]] + [counts[k] + n * counts[k - 1] for k in range(1, order + 1)]
    total = sum(counts[1:])
    if total > MAX_ROWS:
        fits = max((k for k in range(1, order) if sum(counts[1 : k + 1]) <= MAX_ROWS), default=0)
        raise ExpansionLimitError(
            f"composition scores up to order {order} would have {total:,} rows (heads and "
            f"virtual heads), over {MAX_ROWS:,}",
            option="order" if fits else None,
            value=fits or None,
        )
    paths: list[tuple[Head, ...]] = [(h,) for h in reader.heads]
    frontier = paths
    for _ in range(order - 1):
        frontier = [(*p, h) for p in frontier for h in reader.heads if h[0] > p[-1][0]]
        paths = paths + frontier
    return paths


def path_composition_score(
    model: object, earlier: object, later: object, kind: str = "K", *, fold_ln: bool = True
) -> float:
    """The ``kind`` composition score of one pair: ``earlier`` a head or a virtual head (a path,
    its ``W_OV`` the right factor), ``later`` a head (for ``"V"`` a path too, its ``W_OV`` the
    left factor) whose first head sits in a later layer than ``earlier``'s last. Computed with
    :class:`~tensoralgebra.circuits.FactoredMatrix` products.

    >>> import tensoralgebra as ta
    >>> w = ta.Weights.random(ta.Architecture((1, 1, 1)), d_model=8, d_head=2, d_vocab=5, n_ctx=3)
    >>> 0 < path_composition_score(w, [(0, 0), (1, 0)], (2, 0), "V") <= 1
    True
    """
    reader = Reader(model, fold_ln)
    kind = validation.choice(kind, "kind", KINDS)
    first = reader.path(earlier, "earlier")
    second = reader.path(later, "later") if kind == "V" else [reader.head(later, "later")]
    reader.earlier_than(first, second[0][0], "earlier")
    W = ov_matrix(reader.weights, first, fold_ln=fold_ln)
    if kind == "V":
        M = ov_matrix(reader.weights, second, fold_ln=fold_ln)
    else:
        M = qk_matrix(reader.weights, *second[0], fold_ln=fold_ln)
        M = M.T if kind == "Q" else M
    norms = M.frobenius_norm * W.frobenius_norm
    return 0.0 if norms == 0 else min((M @ W).frobenius_norm / norms, 1.0)
