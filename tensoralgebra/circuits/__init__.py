"""Circuits: the quantities the paper reads off the expansion, per head and per path.

- :mod:`~tensoralgebra.circuits.virtual_weights`: the named token-space matrices (full OV and QK
  circuits, virtual OV circuits, Q-, K- and QK-composition bilinear forms) as expressions.
- :mod:`~tensoralgebra.circuits.factored_matrix`: :class:`FactoredMatrix`, a low-rank matrix
  kept as its two factors (SVD, norms, eigenvalues, top entries from the factors).
- :mod:`~tensoralgebra.circuits.full`: a model's full OV and QK circuits, of heads and virtual
  heads, as factored matrices (``ov_circuit``, ``qk_circuit``, ``path_ov_circuit``).
- :mod:`~tensoralgebra.circuits.composition`: composition scores of head pairs, from arrays
  (``composition_score``) and for a whole model (``composition_scores``), with the random
  baseline of :mod:`~tensoralgebra.circuits.baseline`.
- :mod:`~tensoralgebra.circuits.copying`: eigenvalues of full circuits and ``Σλ/Σ|λ|`` per head.
- :mod:`~tensoralgebra.circuits.detectors`, :mod:`~tensoralgebra.circuits.ablation`,
  :mod:`~tensoralgebra.circuits.contributions`: head detectors, order-by-order ablation and
  term-kind contributions (they run models, so torch is imported when one of their names is
  first used).
- :mod:`~tensoralgebra.circuits.skip_trigrams`: a head's ``[source] … [destination] → [out]``
  table from its factored OV and QK circuits (``skip_trigrams``, ``SkipTrigrams``).
- :mod:`~tensoralgebra.circuits.plots`, :mod:`~tensoralgebra.circuits.plots_attention`,
  :mod:`~tensoralgebra.circuits.plots_skip_trigrams`: figures, each a
  :class:`~tensoralgebra.circuits.figures.CircuitFigure` (matplotlib, imported on first use;
  plots.py lists them all).
- :mod:`~tensoralgebra.circuits.report`, :mod:`~tensoralgebra.circuits.report_render`: every
  analysis of one model in one document (``report``: text, JSON, markdown, HTML).
"""

import importlib

from tensoralgebra.circuits import baseline, composition, copying, full, virtual_weights
from tensoralgebra.circuits.baseline import Baseline, random_baseline
from tensoralgebra.circuits.composition import (
    KINDS,
    CompositionScores,
    composition_score,
    composition_scores,
    path_composition_score,
)
from tensoralgebra.circuits.copying import CopyingScores, copying_score, copying_scores, eigenvalues
from tensoralgebra.circuits.factored_matrix import FactoredMatrix
from tensoralgebra.circuits.full import (
    ov_circuit,
    ov_matrix,
    path_ov_circuit,
    qk_circuit,
    qk_matrix,
)

# ``report`` is imported here, not lazily: once its submodule is imported, the package's
# attribute ``report`` would be that module, and a lazy name would never be looked up.
from tensoralgebra.circuits.report import Report, report
from tensoralgebra.circuits.skip_trigrams import SkipTrigrams, Triple, skip_trigrams
from tensoralgebra.circuits.virtual_weights import (
    full_ov_circuit,
    full_qk_circuit,
    k_composition,
    q_composition,
    qk_composition,
    virtual_ov_circuit,
)

#: Names imported on first use: their modules need torch or matplotlib.
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
        "detectors",
    ),
    **dict.fromkeys(("order_ablation", "OrderAblation"), "ablation"),
    **dict.fromkeys(
        ("logit_difference_contributions", "score_kind_contributions"), "contributions"
    ),
    **dict.fromkeys(("plot_attention", "plot_order_ablation"), "plots_attention"),
    **dict.fromkeys(("composition_figure", "eigenvalue_figure"), "plots"),
    **dict.fromkeys(("skip_trigram_figure",), "plots_skip_trigrams"),
    **dict.fromkeys(("CircuitFigure",), "figures"),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"tensoralgebra.circuits.{_LAZY[name]}"), name)
    if name == "plots":
        return importlib.import_module("tensoralgebra.circuits.plots")
    raise AttributeError(f"module 'tensoralgebra.circuits' has no attribute {name!r}")


__all__ = [
    *_LAZY,
    "KINDS",
    "Baseline",
    "CompositionScores",
    "CopyingScores",
    "FactoredMatrix",
    "baseline",
    "composition",
    "composition_score",
    "composition_scores",
    "copying",
    "copying_score",
    "copying_scores",
    "eigenvalues",
    "full",
    "full_ov_circuit",
    "full_qk_circuit",
    "k_composition",
    "ov_circuit",
    "ov_matrix",
    "path_composition_score",
    "path_ov_circuit",
    "plots",
    "q_composition",
    "qk_circuit",
    "qk_composition",
    "qk_matrix",
    "random_baseline",
    "Report",
    "SkipTrigrams",
    "report",
    "Triple",
    "skip_trigrams",
    "virtual_ov_circuit",
    "virtual_weights",
]
