"""Mechanically checked proofs: derivations whose every step is re-derived, and theorems.

- :class:`~tensoralgebra.Derivation` (``Derivation.start(...).then(expr, "rule", ...)``): a
  chain of expressions, each step naming the rules or citing the equations that justify it;
- :func:`check_derivation`: each step re-derived by its rules, checked exactly with SymPy on
  symbolic entries and numerically on sizes and values drawn by Hypothesis;
- :class:`Equation`: an identity, definition or hypothesis a step may cite;
- :class:`Theorem`: a statement, its derivations and the facts checked beside them, rendered to
  LaTeX and Markdown;
- :func:`load_proofs`, :func:`run_proofs`: the repository's ``proofs/`` folder, one theorem per
  file (the ``tensoralgebra prove`` command).
"""

from tensoralgebra.derivation import describe
from tensoralgebra.proof.checker import check_derivation
from tensoralgebra.proof.equations import Equation, replace_symbols, unfold
from tensoralgebra.proof.report import CheckResult, ProofError, ProofReport
from tensoralgebra.proof.rewriting import same, tidy
from tensoralgebra.proof.runner import (
    find_proofs,
    load_proof,
    load_proofs,
    main,
    proofs_dir,
    prove_profile,
    run_proofs,
)
from tensoralgebra.proof.theorem import Fact, Theorem

__all__ = [
    "CheckResult",
    "Equation",
    "Fact",
    "ProofError",
    "ProofReport",
    "Theorem",
    "check_derivation",
    "describe",
    "find_proofs",
    "load_proof",
    "load_proofs",
    "main",
    "proofs_dir",
    "prove_profile",
    "replace_symbols",
    "run_proofs",
    "same",
    "tidy",
    "unfold",
]
