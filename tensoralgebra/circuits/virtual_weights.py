"""Virtual weights: the named token-space matrices the paper reads off the expansion's terms.

Each is an expression (symbolic, no arrays) of shape [vocab × vocab] (or with ``W_pos`` for the
position source), the last factor of some logit or score term:

=====================================  ==================================================
function                               matrix
=====================================  ==================================================
``full_ov_circuit(h)``                 ``W_U W_OV^h W_E``: what ``h`` writes to the logits
``full_qk_circuit(h)``                 ``W_E^T W_QK^h W_E``: which tokens ``h`` attends to
``virtual_ov_circuit(h1, ..., hk)``    ``W_U W_OV^{hk} ... W_OV^{h1} W_E`` (V-composition)
``q_composition(h1, h2)``              ``W_E^T W_OV^{h1 T} W_QK^{h2} W_E``
``k_composition(h1, h2)``              ``W_E^T W_QK^{h2} W_OV^{h1} W_E``
``qk_composition(hq, hk, h2)``         ``W_E^T W_OV^{hq T} W_QK^{h2} W_OV^{hk} W_E``
=====================================  ==================================================

Heads are ``(layer, head)`` pairs (or :class:`~tensoralgebra.expr.indices.Head` s); a head that
composes into another must sit in an earlier layer.

>>> print(k_composition((0, 1), (1, 0)))
W_E^T W_QK^{L1H0} W_OV^{L0H1} W_E
>>> k_composition((1, 0), (1, 1))  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: L1H0 cannot compose into L1H1: it must sit in an ...
"""

from __future__ import annotations

import itertools

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head
from tensoralgebra.expr.nodes import Expr, Product, Transpose
from tensoralgebra.symbols import W_E, W_OV, W_QK, W_U, as_head


def _head(head: Head | tuple[int, int]) -> Head:
    if isinstance(head, Head):
        return head
    if isinstance(head, tuple) and len(head) == 2:
        return as_head(head)
    raise TensorAlgebraError(f"a head is a (layer, head) pair or a Head, got {head!r}")


def _earlier(first: Head, later: Head) -> None:
    if first.layer >= later.layer:
        raise TensorAlgebraError(
            f"{first!r} cannot compose into {later!r}: it must sit in an earlier layer"
        )


def full_ov_circuit(head: Head | tuple[int, int]) -> Expr:
    """``W_U W_OV^h W_E`` [vocab × vocab]: the logits a head adds per attended token."""
    return Product((W_U, W_OV(_head(head)), W_E))


def full_qk_circuit(head: Head | tuple[int, int]) -> Expr:
    """``W_E^T W_QK^h W_E`` [vocab × vocab]: the score of a query token against a key token."""
    return Product((Transpose(W_E), W_QK(_head(head)), W_E))


def virtual_ov_circuit(*heads: Head | tuple[int, int]) -> Expr:
    """``W_U W_OV^{h_k} ... W_OV^{h_1} W_E`` for a path ``h_1 → ... → h_k`` (earliest first,
    layers strictly increasing): the full OV circuit of a virtual head."""
    path = [_head(h) for h in heads]
    if len(path) < 2:
        raise TensorAlgebraError(f"a virtual head needs at least two heads, got {len(path)}")
    for first, later in itertools.pairwise(path):
        _earlier(first, later)
    return Product((W_U, *(W_OV(h) for h in reversed(path)), W_E))


def q_composition(earlier: Head | tuple[int, int], later: Head | tuple[int, int]) -> Expr:
    """``W_E^T W_OV^{h1 T} W_QK^{h2} W_E``: ``earlier`` writes into ``later`` 's queries."""
    h1, h2 = _head(earlier), _head(later)
    _earlier(h1, h2)
    return Product((Transpose(W_E), Transpose(W_OV(h1)), W_QK(h2), W_E))


def k_composition(earlier: Head | tuple[int, int], later: Head | tuple[int, int]) -> Expr:
    """``W_E^T W_QK^{h2} W_OV^{h1} W_E``: ``earlier`` writes into ``later`` 's keys (the
    induction-head mechanism)."""
    h1, h2 = _head(earlier), _head(later)
    _earlier(h1, h2)
    return Product((Transpose(W_E), W_QK(h2), W_OV(h1), W_E))


def qk_composition(
    query_head: Head | tuple[int, int],
    key_head: Head | tuple[int, int],
    later: Head | tuple[int, int],
) -> Expr:
    """``W_E^T W_OV^{hq T} W_QK^{h2} W_OV^{hk} W_E``: one earlier head on each side."""
    hq, hk, h2 = _head(query_head), _head(key_head), _head(later)
    _earlier(hq, h2)
    _earlier(hk, h2)
    return Product((Transpose(W_E), Transpose(W_OV(hq)), W_QK(h2), W_OV(hk), W_E))
