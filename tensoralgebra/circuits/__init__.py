"""Circuits: the quantities the paper reads off the expansion, per head and per path.

- :mod:`~tensoralgebra.circuits.virtual_weights`: the named token-space matrices (full OV and QK
  circuits, virtual OV circuits, Q-, K- and QK-composition bilinear forms) as expressions.
- :mod:`~tensoralgebra.circuits.composition`: composition scores of head pairs, from arrays.
"""

from tensoralgebra.circuits import composition, virtual_weights
from tensoralgebra.circuits.composition import composition_score
from tensoralgebra.circuits.virtual_weights import (
    full_ov_circuit,
    full_qk_circuit,
    k_composition,
    q_composition,
    qk_composition,
    virtual_ov_circuit,
)

__all__ = [
    "composition",
    "composition_score",
    "full_ov_circuit",
    "full_qk_circuit",
    "k_composition",
    "q_composition",
    "qk_composition",
    "virtual_ov_circuit",
    "virtual_weights",
]
