"""Derivations: chains of justified steps, the concept LaTeX renders and proofs check.

- :class:`Derivation`, :class:`DerivationStep`, :class:`Group`: the chain, hand-written with
  ``Derivation.start(...).then(expr, "rule", ...)`` or built by
- :func:`derive_logits`, :func:`derive_scores`: the package's expansions, step by step, sized up
  front (:mod:`tensoralgebra.derivation.limits`);
- :func:`describe`: how a step's rules and citations read as its justification.

Rendering (:mod:`tensoralgebra.latex`) and checking (:mod:`tensoralgebra.proof`) live in the
rooms above; a derivation reaches them through :mod:`tensoralgebra.derivation.backends`.
"""

from tensoralgebra.derivation.chain import (
    Derivation,
    DerivationStep,
    Group,
    side_orders,
    term_order,
)
from tensoralgebra.derivation.expansions import derive_logits, derive_scores
from tensoralgebra.derivation.justify import describe
from tensoralgebra.derivation.limits import (
    MAX_BUILD_WORK,
    MAX_DERIVATION_BYTES,
    MAX_DERIVATION_TERMS,
)

__all__ = [
    "MAX_BUILD_WORK",
    "MAX_DERIVATION_BYTES",
    "MAX_DERIVATION_TERMS",
    "Derivation",
    "DerivationStep",
    "Group",
    "derive_logits",
    "derive_scores",
    "describe",
    "side_orders",
    "term_order",
]
