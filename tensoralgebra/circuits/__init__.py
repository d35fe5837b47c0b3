"""Circuits: the quantities the paper reads off the expansion, per head and per path.

- :mod:`~tensoralgebra.circuits.virtual_weights`: the named token-space matrices (full OV and QK
  circuits, virtual OV circuits, Q-, K- and QK-composition bilinear forms) as expressions.
- :mod:`~tensoralgebra.circuits.composition`: composition scores of head pairs, from arrays.
- :mod:`~tensoralgebra.circuits.detectors`, :mod:`~tensoralgebra.circuits.ablation`,
  :mod:`~tensoralgebra.circuits.contributions`, :mod:`~tensoralgebra.circuits.plots_attention`:
  head detectors, order-by-order ablation, term-kind contributions and their figures (they run
  models, so torch is imported when one of their names is first used).
"""

import importlib

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

#: Names imported on first use (their modules need torch).
_LAZY = {
    **dict.fromkeys(
        (
            "detect_heads",
            "duplicate_token_scores",
            "in_context_learning_score",
            "induction_scores",
            "previous_token_scores",
            "repeated_random_tokens",
            "HeadScores",
        ),
        "tensoralgebra.circuits.detectors",
    ),
    **dict.fromkeys(("order_ablation", "OrderAblation"), "tensoralgebra.circuits.ablation"),
    **dict.fromkeys(
        ("logit_difference_contributions", "score_kind_contributions"),
        "tensoralgebra.circuits.contributions",
    ),
    **dict.fromkeys(
        ("plot_attention", "plot_order_ablation"), "tensoralgebra.circuits.plots_attention"
    ),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tensoralgebra.circuits' has no attribute {name!r}")


__all__ = [
    *_LAZY,
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
