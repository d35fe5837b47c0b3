"""Numbers: weights, the conventional forward pass, evaluation of terms, and ``verify``.

Importing this package does not import torch; the model does, when it is first used.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Weights": "tensoralgebra.numeric.weights",
    "WeightsError": "tensoralgebra.numeric.weights",
    "TokensError": "tensoralgebra.numeric.tokens",
    "Trace": "tensoralgebra.numeric.trace",
    "AttentionOnlyTransformer": "tensoralgebra.numeric.model",
    "evaluate": "tensoralgebra.numeric.evaluation",
    "verify": "tensoralgebra.numeric.verification",
    "VerifyReport": "tensoralgebra.numeric.report",
    "fold_ln": "tensoralgebra.numeric.folding",
    "center_writing_weights": "tensoralgebra.numeric.folding",
    "fold_value_biases": "tensoralgebra.numeric.folding",
    "FoldingError": "tensoralgebra.numeric.folding",
    "top_paths": "tensoralgebra.numeric.path_search",
    "TopPaths": "tensoralgebra.numeric.path_search_report",
    "top_score_paths": "tensoralgebra.numeric.score_search",
    "TopScorePaths": "tensoralgebra.numeric.path_search_report",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tensoralgebra.numeric' has no attribute {name!r}")


__all__ = sorted(_LAZY)
