"""tensoralgebra: the mathematics of transformer circuits, executable and checkable.

An attention-only transformer written as Kronecker-product expressions (Elhage et al., 2021,
"A Mathematical Framework for Transformer Circuits"), expanded rule by rule into path terms.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(2, 2))
>>> ta.count_logit_paths(arch), ta.count_logit_paths(arch, order=2)
(9, 4)
>>> print(ta.expand(ta.logits(ta.Architecture.schematic(n_layers=1))))
Id ⊗ W_U W_E + Σ_{h∈H0} A^{h} ⊗ W_U W_OV^{h} W_E
"""

from tensoralgebra import circuits
from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import ExpansionLimitError, SpaceMismatchError, TensorAlgebraError
from tensoralgebra.expr import (
    Expr,
    Head,
    HeadSet,
    HeadVar,
    canonical,
    equivalent,
    expand,
    expansion_steps,
    terms,
)
from tensoralgebra.paths import (
    LogitPath,
    count_logit_paths,
    count_logit_paths_by_order,
    fitting_max_order,
    logit_paths,
    path_kind,
)
from tensoralgebra.scores import (
    SCORE_KINDS,
    ScorePath,
    check_score_kind,
    count_score_paths,
    count_score_paths_by_kind,
    fitting_score_max_order,
    score_kind,
    score_paths,
    scores,
)
from tensoralgebra.factored import embedding, layer_factor, logits, residual_stream
from tensoralgebra.counting import format_count

__version__ = "0.1.0"

# What needs SymPy, torch, networkx or a TeX engine is imported on first use, so that importing
# tensoralgebra stays fast: name -> the module that defines it.
_LAZY = {
    # LaTeX output, in the paper's notation.
    "Derivation": "tensoralgebra.latex",
    "derive_logits": "tensoralgebra.latex",
    "derive_scores": "tensoralgebra.latex",
    "to_latex": "tensoralgebra.latex",
    "to_sympy": "tensoralgebra.expr.sympy_bridge",
    "sympy_expansion": "tensoralgebra.expr.sympy_bridge",
    "split_sources": "tensoralgebra.expr.sympy_bridge",
    # The numeric backend imports torch only when a model is built or run.
    "AttentionOnlyTransformer": "tensoralgebra.numeric",
    "Trace": "tensoralgebra.numeric",
    "TokensError": "tensoralgebra.numeric",
    "VerifyReport": "tensoralgebra.numeric",
    "Weights": "tensoralgebra.numeric",
    "WeightsError": "tensoralgebra.numeric",
    "evaluate": "tensoralgebra.numeric",
    "verify": "tensoralgebra.numeric",
    # Checked proofs: derivations re-derived by their rules, with SymPy and with Hypothesis.
    "Equation": "tensoralgebra.proof",
    "ProofError": "tensoralgebra.proof",
    "Theorem": "tensoralgebra.proof",
    "check_derivation": "tensoralgebra.proof",
}
# Whole submodules: ``ta.graph`` (networkx), ``ta.testing`` and ``ta.strategies`` (Hypothesis),
# ``ta.proof`` (SymPy, Hypothesis).
_SUBMODULES = ("graph", "proof", "strategies", "testing")


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"tensoralgebra.{name}")
    raise AttributeError(f"module 'tensoralgebra' has no attribute {name!r}")


__all__ = [
    "Architecture",
    "AttentionOnlyTransformer",
    "Derivation",
    "Equation",
    "ExpansionLimitError",
    "Expr",
    "Head",
    "HeadSet",
    "HeadVar",
    "LogitPath",
    "ProofError",
    "ScorePath",
    "SpaceMismatchError",
    "TensorAlgebraError",
    "Theorem",
    "TokensError",
    "Trace",
    "VerifyReport",
    "Weights",
    "WeightsError",
    "canonical",
    "check_derivation",
    "count_logit_paths",
    "count_score_paths",
    "derive_logits",
    "derive_scores",
    "embedding",
    "equivalent",
    "evaluate",
    "expand",
    "expansion_steps",
    "graph",
    "layer_factor",
    "logit_paths",
    "logits",
    "path_kind",
    "proof",
    "residual_stream",
    "score_kind",
    "score_paths",
    "scores",
    "split_sources",
    "strategies",
    "sympy_expansion",
    "terms",
    "testing",
    "to_latex",
    "to_sympy",
    "verify",
    "circuits",
]
