"""Copying: the eigenvalues of full OV (and QK) circuits and the paper's summary statistic.

A head copies when its full OV circuit ``W_U W_OV^h W_E`` [d_vocab, d_vocab] raises the logit
of the token it attends to: its eigenvalues then have mostly positive real parts. The statistic
(docs/conventions.md §6) is

    ``Σ_i λ_i / Σ_i |λ_i|`` in ``[-1, 1]``,

1 for a circuit whose eigenvalues are all positive reals. The eigenvalues come from the
[d_head, d_head] matrix ``W_V W_E W_U W_O`` (the cyclic trick,
:meth:`~tensoralgebra.circuits.FactoredMatrix.eigenvalues`): the circuit's other eigenvalues are
0 and add nothing to either sum. For the QK circuit ``W_E^T W_QK^h W_E`` a positive statistic
means a token's query matches its own key: the head attends to copies of the present token.

A head is *flagged* as copying when its statistic is at least ``threshold`` (0.5 by default:
three quarters of its eigenvalue mass on the positive side, far above random heads, whose
statistics spread around 0; docs/copying.md measures that spread).

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture((2,)), d_model=8, d_head=4, d_vocab=30, n_ctx=4)
>>> table = copying_scores(w)
>>> table.heads, table.eigenvalues.shape, bool(abs(table.scores).max() <= 1)
(((0, 0), (0, 1)), (2, 4), True)
>>> copying_scores(w, circuit="KQ")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: circuit is 'KQ': expected one of 'OV', 'QK'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits.composition import label
from tensoralgebra.circuits.factored_matrix import FactoredMatrix
from tensoralgebra.circuits.full import Head, Reader, ov_circuit, qk_circuit
from tensoralgebra.errors import TensorAlgebraError

CIRCUITS = ("OV", "QK")
#: The default statistic at or above which a head is flagged as copying.
THRESHOLD = 0.5


def copying_score(eigenvalues: object) -> float:
    """``Σλ / Σ|λ|`` of eigenvalues [n] (complex); the sum is real for a real matrix's
    eigenvalues, and its real part is taken. 0 when every eigenvalue is 0.

    >>> copying_score([2, 1j, -1j]), copying_score([1, -1]), copying_score([0, 0])
    (0.5, 0.0, 0.0)
    """
    values = np.asarray(eigenvalues, dtype=complex).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise TensorAlgebraError(f"copying_score needs finite eigenvalues, got {values!r}")
    total = np.abs(values).sum()
    return 0.0 if total == 0 else float(values.sum().real / total)


def circuit_of(model: object, layer: int, head: int, circuit: str, fold_ln: bool):
    """The head's full ``"OV"`` or ``"QK"`` circuit, a :class:`FactoredMatrix`."""
    circuit = validation.choice(circuit, "circuit", CIRCUITS)
    build = ov_circuit if circuit == "OV" else qk_circuit
    return build(model, layer, head, fold_ln=fold_ln)


def eigenvalues(
    model: object, layer: int, head: int, *, circuit: str = "OV", fold_ln: bool = True
) -> np.ndarray:
    """The d_head eigenvalues [d_head] (complex, largest modulus first) of a head's full OV or
    QK circuit that can be non-zero; its other d_vocab - d_head eigenvalues are 0."""
    return _spectrum(circuit_of(model, layer, head, circuit, fold_ln))


def _spectrum(matrix: FactoredMatrix) -> np.ndarray:
    values = matrix.eigenvalues()
    return np.concatenate([values, np.zeros(matrix.rank - values.size, complex)])


@dataclass(frozen=True, eq=False)
class CopyingScores:
    """Per head, in model order: ``eigenvalues`` [n_heads, d_head] (complex) of the full
    ``circuit``, ``scores`` [n_heads] (``Σλ/Σ|λ|``), ``copying`` [n_heads] (bool: score ≥
    ``threshold``)."""

    circuit: str
    heads: tuple[Head, ...]
    eigenvalues: np.ndarray
    scores: np.ndarray
    threshold: float

    @property
    def copying(self) -> np.ndarray:
        return self.scores >= self.threshold

    def __str__(self) -> str:
        lines = [f"{self.circuit} copying scores Σλ/Σ|λ| (copying: ≥ {self.threshold:g})"]
        for head, score, flag in zip(self.heads, self.scores, self.copying, strict=True):
            lines.append(f"  {label((head,))}: {score:+.4f}" + ("  copying" if flag else ""))
        return "\n".join(lines)


def copying_scores(
    model: object, *, circuit: str = "OV", threshold: float = THRESHOLD, fold_ln: bool = True
) -> CopyingScores:
    """The eigenvalues and ``Σλ/Σ|λ|`` of every head's full ``circuit`` (``"OV"`` or ``"QK"``),
    each head flagged as copying when its statistic is ≥ ``threshold`` (in ``[-1, 1]``)."""
    reader = Reader(model, fold_ln)
    circuit = validation.choice(circuit, "circuit", CIRCUITS)
    threshold = _threshold(threshold)
    heads = tuple(reader.heads)
    spectra = [_spectrum(circuit_of(reader.weights, *h, circuit, fold_ln)) for h in heads]
    values = np.array(spectra).reshape(len(heads), reader.weights.d_head)
    scores = np.array([copying_score(v) for v in values])
    return CopyingScores(circuit, heads, values, scores, threshold)


def _threshold(value: object) -> float:
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float, np.number)):
        raise TensorAlgebraError(f"threshold is {value!r}: expected a number in [-1, 1]")
    if not -1 <= float(value) <= 1:
        raise TensorAlgebraError(f"threshold is {value!r}: expected a number in [-1, 1]")
    return float(value)
