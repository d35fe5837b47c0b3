"""A low-rank matrix kept as its two factors: ``M = A @ B`` with ``A`` [m, r] and ``B`` [r, n].

A full circuit such as ``W_U W_OV^h W_E`` is [d_vocab, d_vocab] (48k × 48k in real models) but
has rank at most d_head: it is ``(W_U W_O^h) (W_V^h W_E)``, [d_vocab, d_head] times
[d_head, d_vocab]. Everything here is computed from the factors, in memory of order
``(m + n) r``: products (keeping the inner dimension the smaller of the two), the transpose, the
SVD and both norms (through QR of the factors), the eigenvalues (through the small ``B A``
[r, r]: the cyclic trick, docs/conventions.md §6), the largest entries (row blocks of bounded
size). The dense matrix is made only when asked, and refused over a memory budget.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> M = FactoredMatrix(rng.normal(size=(1000, 3)), rng.normal(size=(3, 1000)))
>>> M, M.shape, M.rank
(FactoredMatrix([1000, 3] @ [3, 1000]), (1000, 1000), 3)
>>> U, S, Vh = M.svd()
>>> U.shape, S.shape, Vh.shape
((1000, 3), (3,), (3, 1000))
>>> M.eigenvalues().shape  # the other 997 eigenvalues of M are 0
(3,)
>>> small = FactoredMatrix(np.eye(2), [[1.0, 2.0], [3.0, 4.0]])
>>> small.dense(max_bytes=16)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.ExpansionLimitError: the dense [2, 2] matrix would take 32 bytes, over ...
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import numpy as np

from tensoralgebra import validation
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.numeric.arrays import as_numpy
from tensoralgebra.numeric.budget import MEMORY_BUDGET
from tensoralgebra.progress import progress

#: Bytes of one block of dense rows that :meth:`FactoredMatrix.top_k` holds at a time (64 MiB).
BLOCK_BYTES = 2**26
_ORDERS = ("largest", "smallest", "magnitude")


def as_matrix(value: object, name: str) -> np.ndarray:
    """``value`` (an array, a nested list or a torch tensor) as a finite, non-empty, read-only
    2-D float64 array, else a clear error naming it ``name``."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TensorAlgebraError(f"{name} is {value!r}: expected a matrix (a 2-D array)")
    try:
        array = np.array(as_numpy(value, name), dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TensorAlgebraError(f"{name} is not a numeric matrix: {error}") from None
    if array.ndim != 2 or 0 in array.shape:
        raise TensorAlgebraError(f"{name} has shape {array.shape}: expected a non-empty matrix")
    if not np.isfinite(array).all():
        raise TensorAlgebraError(f"{name} has non-finite entries (NaN or inf)")
    array.flags.writeable = False
    return array


class Entries(NamedTuple):
    """Entries of a matrix, best first: ``rows``, ``cols`` (int) and ``values``, each [k]."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


class FactoredMatrix:
    """The [m, n] matrix ``A @ B``, with ``A`` [m, r] and ``B`` [r, n] kept apart (float64).

    ``r`` is the inner dimension (the rank is at most ``r``). Immutable; ``@`` with a numpy
    array or another :class:`FactoredMatrix` on either side gives a new one.
    """

    __array_ufunc__ = None  # ``array @ FactoredMatrix`` comes to __rmatmul__, not to numpy

    def __init__(self, A: object, B: object):
        self.A, self.B = as_matrix(A, "A"), as_matrix(B, "B")
        if self.A.shape[1] != self.B.shape[0]:
            raise TensorAlgebraError(
                f"a FactoredMatrix needs A [m, r] and B [r, n] that chain: got A {self.A.shape} "
                f"and B {self.B.shape}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``: the shape of ``A @ B``."""
        return (self.A.shape[0], self.B.shape[1])

    @property
    def rank(self) -> int:
        """The inner dimension ``r`` (an upper bound on the rank)."""
        return self.A.shape[1]

    def __repr__(self) -> str:
        (m, r), n = self.A.shape, self.B.shape[1]
        return f"FactoredMatrix([{m}, {r}] @ [{r}, {n}])"

    @property
    def T(self) -> FactoredMatrix:
        """The transpose ``B^T A^T`` [n, m]."""
        return FactoredMatrix(self.B.T, self.A.T)

    def __matmul__(self, other: object) -> FactoredMatrix:
        """``self @ other``: ``other`` [n, p] an array or a :class:`FactoredMatrix`."""
        if isinstance(other, FactoredMatrix):
            self._chains(other.shape, "right")
            middle = self.B @ other.A  # [r1, r2]
            if self.rank <= other.rank:  # keep the smaller inner dimension
                return FactoredMatrix(self.A, middle @ other.B)
            return FactoredMatrix(self.A @ middle, other.B)
        matrix = as_matrix(other, "the right operand")
        self._chains(matrix.shape, "right")
        return FactoredMatrix(self.A, self.B @ matrix)

    def __rmatmul__(self, other: object) -> FactoredMatrix:
        """``other @ self``: ``other`` [p, m] an array."""
        matrix = as_matrix(other, "the left operand")
        self._chains(matrix.shape, "left")
        return FactoredMatrix(matrix @ self.A, self.B)

    def _chains(self, shape: tuple[int, int], side: str) -> None:
        ok = shape[0] == self.shape[1] if side == "right" else shape[1] == self.shape[0]
        if not ok:
            raise TensorAlgebraError(
                f"cannot multiply a {list(self.shape)} FactoredMatrix by a {list(shape)} matrix "
                f"on the {side}: the inner dimensions differ"
            )

    @cached_property
    def _qr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(Q_A, Q_B, core)`` with ``A = Q_A R_A``, ``B^T = Q_B R_B`` (reduced QR, orthonormal
        columns) and ``core = R_A R_B^T`` [≤ r, ≤ r]: ``A B = Q_A core Q_B^T``."""
        q_a, r_a = np.linalg.qr(self.A)
        q_b, r_b = np.linalg.qr(self.B.T)
        return q_a, q_b, r_a @ r_b.T

    @cached_property
    def _svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q_a, q_b, core = self._qr
        u, s, vh = np.linalg.svd(core, full_matrices=False)
        return q_a @ u, s, vh @ q_b.T

    def svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(U, S, Vh)`` with ``A @ B = U @ diag(S) @ Vh``: ``U`` [m, k] and ``Vh`` [k, n] with
        orthonormal columns and rows, ``S`` [k] descending, ``k = min(m, r, n)``; computed from
        the SVD of the small core ``R_A R_B^T`` of the factors' QR decompositions."""
        U, S, Vh = self._svd
        return U.copy(), S.copy(), Vh.copy()

    @property
    def singular_values(self) -> np.ndarray:
        """The ``k = min(m, r, n)`` largest singular values [k], descending (the rest are 0)."""
        return self._svd[1].copy()

    @property
    def frobenius_norm(self) -> float:
        """``||A B||_F``, from the core: orthonormal factors do not change the norm."""
        return float(np.linalg.norm(self._qr[2]))

    @property
    def spectral_norm(self) -> float:
        """``||A B||_2``, the largest singular value."""
        return float(self._svd[1][0])

    def eigenvalues(self) -> np.ndarray:
        """For a square ``A B`` [n, n]: its eigenvalues, complex, of largest modulus first.

        With ``r < n`` they are the ``r`` eigenvalues of ``B A`` [r, r], which are those of
        ``A B`` that can be non-zero, with multiplicity (the cyclic trick: ``λ^r det(λI - AB)
        = λ^n det(λI - BA)``); the other ``n - r`` eigenvalues of ``A B`` are 0. With
        ``r >= n`` all ``n`` eigenvalues of ``A B`` itself. Shape [min(r, n)].
        """
        if self.shape[0] != self.shape[1]:
            raise TensorAlgebraError(
                f"eigenvalues need a square matrix; this FactoredMatrix is {list(self.shape)}"
            )
        small = self.B @ self.A if self.rank < self.shape[0] else self.A @ self.B
        values = np.linalg.eigvals(small).astype(complex)
        return values[np.lexsort((-values.imag, -values.real, -np.abs(values)))]

    def trace(self) -> float:
        """``tr(A B) = tr(B A)`` of a square ``A B``, from the factors."""
        if self.shape[0] != self.shape[1]:
            raise TensorAlgebraError(
                f"a trace needs a square matrix; this FactoredMatrix is {list(self.shape)}"
            )
        return float(np.einsum("ij,ji->", self.A, self.B))

    def nbytes_dense(self) -> int:
        """The bytes the dense float64 [m, n] matrix would take."""
        return 8 * self.shape[0] * self.shape[1]

    def dense(self, max_bytes: int = MEMORY_BUDGET) -> np.ndarray:
        """``A @ B`` [m, n] as one array, refused (:class:`~tensoralgebra.ExpansionLimitError`)
        when it would take more than ``max_bytes`` bytes."""
        max_bytes = validation.positive_integer(max_bytes, "max_bytes")
        if self.nbytes_dense() > max_bytes:
            raise ExpansionLimitError(
                f"the dense {list(self.shape)} matrix would take {self.nbytes_dense():,} bytes, "
                f"over the memory budget of {max_bytes:,} bytes (svd, eigenvalues, norms and "
                "top_k work on the factors)"
            )
        return self.A @ self.B

    def top_k(self, k: int, order: str = "largest", max_bytes: int = BLOCK_BYTES) -> Entries:
        """The ``k`` entries of ``A @ B`` with the largest values (``order="largest"``), the
        smallest (``"smallest"``) or the largest absolute values (``"magnitude"``), best first.

        Computed on blocks of rows of at most ``max_bytes`` bytes each (at least one row), so
        the dense matrix is never held (a few blocks' worth of memory at most); ``k`` is at most
        ``m n``, and ``k`` entries must fit in ``max_bytes`` too. Ties are broken by position
        (row-major). With a progress bar on a terminal.

        Entries that cannot enter are never computed: ``|M[i, j]| ≤ ||A[i]|| ||B[:, j]||``
        (Cauchy–Schwarz), so rows are visited by decreasing norm, each block only against the
        columns whose norm could still beat the k-th best entry so far, and the search stops
        at the first block that cannot. At worst (equal norms everywhere) every entry is
        computed once, time ``O(m n r)``.
        """
        m, n = self.shape
        k = validation.positive_integer(k, "k", maximum=m * n)
        order = validation.choice(order, "order", _ORDERS)
        max_bytes = validation.positive_integer(max_bytes, "max_bytes")
        if 24 * k > max_bytes:  # rows, columns and values of the k entries
            fits = max_bytes // 24
            raise ExpansionLimitError(
                f"the top {k:,} entries would take {24 * k:,} bytes, over the block budget of "
                f"{max_bytes:,} bytes",
                option="k" if fits else None,
                value=fits or None,
            )
        row_norms = np.linalg.norm(self.A, axis=1)
        col_norms = np.linalg.norm(self.B, axis=0)
        rows = np.argsort(-row_norms, kind="stable")
        cols = np.argsort(-col_norms, kind="stable")
        B, col_norms = self.B[:, cols], col_norms[cols]
        step = max(1, max_bytes // (8 * n))
        where, values = np.empty(0, dtype=np.int64), np.empty(0)
        with progress(-(-m // step), "top_k row blocks", unit="block") as bar:
            for start in range(0, m, step):
                block_rows = rows[start : start + step]
                width = n
                if where.size == k:
                    # Every entry of these rows is at most |worst| in size beyond this width.
                    reach = _reach(values[-1], order)
                    width = int(np.sum(row_norms[block_rows[0]] * col_norms * _SAFETY >= reach))
                    if width == 0:
                        break  # later rows have smaller norms: nothing left can enter
                block = self.A[block_rows] @ B[:, :width]
                key = _key(block, order).ravel()
                # Everything that ties the k-th best too: ties are then broken by position.
                bar_key = _key(values[-1:], order)[0] if where.size == k else _kth(key, k)
                candidates = np.flatnonzero(key <= bar_key)
                positions = block_rows[candidates // width] * n + cols[candidates % width]
                where = np.concatenate([where, positions])
                values = np.concatenate([values, block.ravel()[candidates]])
                ranked = np.lexsort((where, _key(values, order)))[:k]
                where, values = where[ranked], values[ranked]
                bar.update(1)
        return Entries(where // n, where % n, values)


#: Headroom on the Cauchy–Schwarz bound for rounding in the products (relative).
_SAFETY = 1 + 1e-9


def _reach(worst: float, order: str) -> float:
    """How large ``|entry|`` must possibly be to tie or beat ``worst``, the k-th best so far:
    for ``"largest"`` an entry must reach ``worst`` from below (any size will do if ``worst``
    is negative), likewise for ``"smallest"`` from above."""
    if order == "magnitude":
        return abs(worst)
    signed = worst if order == "largest" else -worst
    return max(signed, 0.0)


def _key(values: np.ndarray, order: str) -> np.ndarray:
    """What ranks entries in ``order``: smaller is better."""
    return {"largest": -values, "smallest": values, "magnitude": -np.abs(values)}[order]


def _kth(key: np.ndarray, k: int) -> float:
    """The ``k``-th smallest of ``key`` (its largest if it has fewer)."""
    if key.size <= k:
        return float(key.max())
    return float(np.partition(key, k - 1)[k - 1])
