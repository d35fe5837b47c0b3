"""Composition scores: how much of one head's output another head reads (docs/conventions.md §6).

For an earlier head's OV circuit ``W_OV^{h1}`` [d_model × d_model] and a matrix ``M`` of the
later head that reads the residual stream (``W_QK^{h2 T}`` for Q-composition, ``W_QK^{h2}`` for
K-composition, ``W_OV^{h2}`` for V-composition), the score is

    ``||M W_OV^{h1}||_F / (||M||_F ||W_OV^{h1}||_F)``,

in ``[0, 1]``: 0 when ``M`` ignores everything ``h1`` writes, 1 when they line up on one
direction. Only numpy is used.

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

import numpy as np

from tensoralgebra.errors import TensorAlgebraError


def _matrix(value: object, name: str) -> np.ndarray:
    """``value`` as a finite 2-D float array, else a clear error."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TensorAlgebraError(f"{name} is {value!r}: expected a matrix (a 2-D array)")
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise TensorAlgebraError(f"{name} is not a numeric matrix: {error}") from None
    if array.ndim != 2 or 0 in array.shape:
        raise TensorAlgebraError(f"{name} has shape {array.shape}: expected a non-empty matrix")
    if not np.isfinite(array).all():
        raise TensorAlgebraError(f"{name} has non-finite entries (NaN or inf)")
    return array


def composition_score(M: object, W_OV: object) -> float:
    """``||M W_OV||_F / (||M||_F ||W_OV||_F)`` for ``M`` [a × b] and ``W_OV`` [b × c], in
    ``[0, 1]``; 0 if a factor is 0. Refuses shapes that do not chain and non-finite values."""
    m, w = _matrix(M, "M"), _matrix(W_OV, "W_OV")
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
