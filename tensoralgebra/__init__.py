"""tensoralgebra: the mathematics of transformer circuits, executable and checkable.

An attention-only transformer written as Kronecker-product expressions (Elhage et al., 2021,
"A Mathematical Framework for Transformer Circuits"), expanded rule by rule into path terms.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(2, 2))
>>> ta.count_logit_paths(arch), ta.count_logit_paths(arch, order=2)
(9, 4)
>>> print(ta.expand(ta.logits(ta.Architecture.schematic(n_layers=1))))
Id ⊗ W_U W_E + Σ_{h∈H0} A^{h} ⊗ W_U W_OV^{h} W_E

The symbolic layer (expressions, architectures, enumeration, counts, circuits, derivations,
printing) is imported at once; what needs torch, SymPy, networkx, matplotlib or Hypothesis is
imported on first use (``ta.verify``, ``ta.to_sympy``, ``ta.graph``, ``ta.proof``, ...), so that
``import tensoralgebra`` stays fast. Type checkers and IDEs see every name through the
``TYPE_CHECKING`` imports below.
"""

from typing import TYPE_CHECKING

# printing first: it registers the printers that str(expr) and expr._repr_latex_() use.
from tensoralgebra import printing  # isort: skip
from tensoralgebra import circuits
from tensoralgebra.architecture import Architecture
from tensoralgebra.counting import format_count
from tensoralgebra.derivation import Derivation, derive_logits, derive_scores
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
from tensoralgebra.factored import embedding, layer_factor, logits, residual_stream
from tensoralgebra.paths import (
    LogitPath,
    count_logit_paths,
    count_logit_paths_by_order,
    fitting_max_order,
    logit_paths,
    path_kind,
)
from tensoralgebra.printing import to_latex, to_text
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

if TYPE_CHECKING:  # what __getattr__ imports on first use, spelled out for type checkers
    from tensoralgebra import graph, io, models, proof, strategies, testing
    from tensoralgebra.expr.sympy_bridge import split_sources, sympy_expansion, to_sympy
    from tensoralgebra.numeric import (
        AttentionOnlyTransformer,
        FoldingError,
        TokensError,
        TopPaths,
        TopScorePaths,
        Trace,
        VerifyReport,
        Weights,
        WeightsError,
        center_writing_weights,
        evaluate,
        fold_ln,
        fold_value_biases,
        top_paths,
        top_score_paths,
        verify,
    )
    from tensoralgebra.proof import (
        Equation,
        ProofError,
        ProofReport,
        Theorem,
        check_derivation,
    )

__version__ = "0.1.0"

# Name -> the module that defines it, imported when the name is first used.
_LAZY = {
    # SymPy: the independent oracle.
    "to_sympy": "tensoralgebra.expr.sympy_bridge",
    "sympy_expansion": "tensoralgebra.expr.sympy_bridge",
    "split_sources": "tensoralgebra.expr.sympy_bridge",
    # torch: the numeric backend.
    "AttentionOnlyTransformer": "tensoralgebra.numeric",
    "Trace": "tensoralgebra.numeric",
    "TokensError": "tensoralgebra.numeric",
    "VerifyReport": "tensoralgebra.numeric",
    "Weights": "tensoralgebra.numeric",
    "WeightsError": "tensoralgebra.numeric",
    "evaluate": "tensoralgebra.numeric",
    "verify": "tensoralgebra.numeric",
    "fold_ln": "tensoralgebra.numeric",
    "center_writing_weights": "tensoralgebra.numeric",
    "fold_value_biases": "tensoralgebra.numeric",
    "FoldingError": "tensoralgebra.numeric",
    "top_paths": "tensoralgebra.numeric",
    "TopPaths": "tensoralgebra.numeric",
    "TopScorePaths": "tensoralgebra.numeric",
    "top_score_paths": "tensoralgebra.numeric",
    # SymPy and Hypothesis: checked proofs.
    "Equation": "tensoralgebra.proof",
    "ProofError": "tensoralgebra.proof",
    "ProofReport": "tensoralgebra.proof",
    "Theorem": "tensoralgebra.proof",
    "check_derivation": "tensoralgebra.proof",
}
# Whole submodules: ``ta.graph`` (networkx, matplotlib), ``ta.io`` (safetensors files),
# ``ta.proof`` (SymPy, Hypothesis), ``ta.models`` (the shipped trained models),
# ``ta.testing`` and ``ta.strategies`` (Hypothesis, torch).
_SUBMODULES = ("graph", "io", "models", "proof", "strategies", "testing")


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"tensoralgebra.{name}")
    raise AttributeError(f"module 'tensoralgebra' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "SCORE_KINDS",
    "Architecture",
    "AttentionOnlyTransformer",
    "Derivation",
    "Equation",
    "ExpansionLimitError",
    "Expr",
    "FoldingError",
    "Head",
    "HeadSet",
    "HeadVar",
    "LogitPath",
    "ProofError",
    "ProofReport",
    "ScorePath",
    "SpaceMismatchError",
    "TensorAlgebraError",
    "Theorem",
    "TokensError",
    "TopPaths",
    "TopScorePaths",
    "Trace",
    "VerifyReport",
    "Weights",
    "WeightsError",
    "canonical",
    "center_writing_weights",
    "check_derivation",
    "check_score_kind",
    "circuits",
    "count_logit_paths",
    "count_logit_paths_by_order",
    "count_score_paths",
    "count_score_paths_by_kind",
    "derive_logits",
    "derive_scores",
    "embedding",
    "equivalent",
    "evaluate",
    "expand",
    "expansion_steps",
    "fitting_max_order",
    "fitting_score_max_order",
    "fold_ln",
    "fold_value_biases",
    "format_count",
    "graph",
    "io",
    "layer_factor",
    "logit_paths",
    "logits",
    "models",
    "path_kind",
    "printing",
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
    "to_text",
    "top_paths",
    "top_score_paths",
    "verify",
]
