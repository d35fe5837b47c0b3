"""Composition scores of many factored pairs at once, from the factors (docs/conventions.md §6).

An earlier (virtual) head's ``W_OV = P Q`` (``P`` [d_model, r], ``Q`` [r, d_model]) and a later
head's reading matrix ``M = X Y`` (``X`` [d_model, r], ``Y`` [r, d_model]) score

    ``||X (Y P) Q||_F / (||X Y||_F ||P Q||_F)``.

With the QR decompositions ``X = Q_X R_X`` and ``Q^T = Q_Q R_Q`` the orthonormal factors drop out
of every norm: ``||X (Y P) Q||_F = ||R_X (Y P) R_Q^T||_F``, a product of [r, r] matrices. Each
side is prepared once (:func:`earlier`, :func:`later`); :func:`combine` then costs
``O(d_model r^2)`` per pair. Every array may carry leading batch axes, which broadcast.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> P, Q, X, Y = (rng.normal(size=s) for s in ((6, 2), (2, 6), (6, 2), (2, 6)))
>>> direct = np.linalg.norm(X @ Y @ P @ Q) / np.linalg.norm(X @ Y) / np.linalg.norm(P @ Q)
>>> bool(np.isclose(combine(earlier(P, Q), later(X, Y)), direct, rtol=1e-12))
True
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Earlier(NamedTuple):
    """An earlier side ``W_OV = P Q``: ``P`` [..., d, r], ``R_Q`` [..., k, r], ``norm`` [...]."""

    P: np.ndarray
    R_Q: np.ndarray
    norm: np.ndarray


class Later(NamedTuple):
    """A later side ``M = X Y``: ``R_X`` [..., k, r], ``Y`` [..., r, d], ``norm`` [...]."""

    R_X: np.ndarray
    Y: np.ndarray
    norm: np.ndarray


def _r(matrix: np.ndarray) -> np.ndarray:
    """The ``R`` of the reduced QR decomposition, stacked over leading axes."""
    return np.linalg.qr(matrix, mode="r")


def _swap(matrix: np.ndarray) -> np.ndarray:
    return np.swapaxes(matrix, -1, -2)


def _fro(matrix: np.ndarray) -> np.ndarray:
    return np.linalg.norm(matrix, axis=(-2, -1))


def earlier(P: np.ndarray, Q: np.ndarray) -> Earlier:
    """Prepare ``W_OV = P Q`` (``P`` [..., d, r], ``Q`` [..., r, d]) as an earlier side."""
    R_Q = _r(_swap(Q))
    return Earlier(P, R_Q, _fro(_r(P) @ _swap(R_Q)))


def later(X: np.ndarray, Y: np.ndarray) -> Later:
    """Prepare ``M = X Y`` (``X`` [..., d, r], ``Y`` [..., r, d]) as a later side."""
    R_X = _r(X)
    return Later(R_X, Y, _fro(R_X @ _swap(_r(_swap(Y)))))


def combine(first: Earlier, second: Later) -> np.ndarray:
    """The composition scores of ``second`` reading ``first`` [broadcast batch shape], in
    ``[0, 1]``; 0 where either matrix is 0."""
    numerator = _fro(second.R_X @ (second.Y @ first.P) @ _swap(first.R_Q))
    denominator = second.norm * first.norm
    safe = np.where(denominator > 0, denominator, 1.0)
    # ||MW|| <= ||M|| ||W||: only rounding could take a score above 1
    return np.where(denominator > 0, np.minimum(numerator / safe, 1.0), 0.0)
