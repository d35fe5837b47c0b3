"""What a hand-written step may name, and how its justification reads in print.

>>> describe(("distribute_product", "pull_sum_out_of_product"), ())
'distributivity, linearity'
>>> validate(("distribute",), (), 2)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: step 2 names the rule 'distribute', which does not ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.engine import RULES
from tensoralgebra.expr.nodes import Expr


@runtime_checkable
class Citation(Protocol):
    """What a step may cite: an equation with a name (:class:`tensoralgebra.proof.Equation`).

    A protocol, not the class itself: equations belong to the proof room, above this one, and
    a derivation only needs their name and their two sides."""

    name: str
    lhs: Expr
    rhs: Expr
    unfolds: bool


#: How each rule reads as a justification (plain ASCII: it is printed in LaTeX text mode).
PHRASES = {
    "flatten_product": "associativity",
    "flatten_kron": "associativity",
    "flatten_sum": "associativity",
    "eliminate_identity": "identities",
    "kron_of_identities": "identities",
    "transpose_identity": "identities",
    "eliminate_zero": "zeros",
    "distribute_product": "distributivity",
    "distribute_kron": "bilinearity",
    "distribute_bilinear": "bilinearity",
    "pull_sum_out_of_product": "linearity",
    "pull_sum_out_of_kron": "linearity",
    "pull_sum_out_of_bilinear": "linearity",
    "split_indexed_sum": "linearity",
    "eliminate_zero_bilinear": "zeros",
    "transpose_product": "transposes",
    "transpose_kron": "transposes",
    "transpose_sum": "transposes",
    "transpose_indexed_sum": "transposes",
    "double_transpose": "transposes",
    "mixed_product": "mixed product",
    "bilinear_mixed_product": "mixed product",
    "name_bound_heads": "renaming",
    "order_terms": "reordering",
    "merge_head_sets": "merging head sets",
}


def describe(rules: Sequence[str], cites: Sequence) -> str:
    """The printed justification: each rule's phrase and each cited equation's name, once."""
    words = [PHRASES.get(r, r.replace("_", " ")) for r in rules] + [c.name for c in cites]
    return ", ".join(dict.fromkeys(words))


def validate(rules: Sequence[str], cites: Sequence, number: int) -> None:
    """Refuse unknown rule names and citations that are not equations, naming the step."""
    for name in rules:
        if name not in RULES:
            raise TensorAlgebraError(
                f"step {number} names the rule {name!r}, which does not exist; "
                f"the rules are {sorted(RULES)}"
            )
    for cite in cites:
        if not isinstance(cite, Citation):
            raise TensorAlgebraError(
                f"step {number} cites {cite!r}: a step cites Equations (a theorem's "
                "statement, a definition or a hypothesis)"
            )
        if not cite.name.isascii():
            raise TensorAlgebraError(
                f"step {number} cites an equation named {cite.name!r}: names print in LaTeX "
                "text mode, so they must be ASCII"
            )
