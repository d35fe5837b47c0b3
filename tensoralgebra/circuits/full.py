"""Full circuits of a model's heads and virtual heads, as :class:`FactoredMatrix` es.

For a :class:`~tensoralgebra.Weights` (or an :class:`~tensoralgebra.AttentionOnlyTransformer`,
read through its ``weights``), in the paper's column-vector convention (docs/conventions.md §6):

- ``ov_circuit(model, l, h)``: ``W_U W_OV^h W_E`` [d_vocab, d_vocab], as
  ``(W_U W_O^h) (W_V^h W_E)``;
- ``path_ov_circuit(model, [h1, ..., hk])``: ``W_U W_OV^{hk} ... W_OV^{h1} W_E``, a virtual
  head's full OV circuit;
- ``qk_circuit(model, l, h)``: ``W_E^T W_QK^h W_E`` [d_vocab, d_vocab], as
  ``(W_E^T W_Q^{hT}) (W_K^h W_E)``; with ``query=p`` and/or ``key=q`` the composed form
  ``W_E^T W_OV^{pT} W_QK^h W_OV^q W_E``;
- ``ov_matrix(model, path)``, ``qk_matrix(model, l, h)``: ``W_OV`` of a head or virtual head
  and ``W_QK^h = W_Q^{hT} W_K^h`` (unscaled), [d_model, d_model].

All are :class:`FactoredMatrix` es of inner dimension d_head.

A head is a ``(layer, head)`` pair; a path (a virtual head) is a sequence of them, earliest
first, in strictly increasing layers. ``query`` and ``key`` are paths whose heads all sit before
``l``: the Q-, K- and QK-composed bilinear forms of the score terms.

**LayerNorm and biases.** A model with LayerNorm (normalization ``"LN"`` or ``"LNPre"``)
applies ``LN(r) = w ⊙ C r / σ + b`` before its heads and its unembedding, ``C`` [d_model,
d_model] the centring projection. With ``fold_ln=True`` (the default) the circuits are those of
the linear part, as TransformerLens's processed weights hold it (``fold_ln`` with centred
readers, ``center_writing_weights``): every reading matrix becomes ``W diag(w) C`` (``W_Q``,
``W_K``, ``W_V`` with layer ``l``'s ``ln1``, ``W_U`` with ``ln_final``; ``w = 1`` for
``"LNPre"``) and every writing matrix ``C W`` (``W_O``, ``W_E``). The division by ``σ`` depends
on the stream and is not part of any circuit; nor are the biases and LayerNorm's ``b``, which
give the expansion's constant terms, not the token terms these matrices belong to. With
``fold_ln=False``, or for a model without LayerNorm, the matrices are used as stored (what
TransformerLens's ``all_composition_scores`` reads on any model).

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture((2, 2)), d_model=8, d_head=4, d_vocab=50, n_ctx=5)
>>> ov_circuit(w, 1, 0), path_ov_circuit(w, [(0, 1), (1, 0)]).shape
(FactoredMatrix([50, 4] @ [4, 50]), (50, 50))
>>> qk_circuit(w, 1, 1, key=[(0, 0)])
FactoredMatrix([50, 4] @ [4, 50])
>>> ov_circuit(w, 2, 0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: layer 2 does not exist: the model has layers 0..1
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits.factored_matrix import FactoredMatrix
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.weights import Weights

Head = tuple[int, int]


def model_weights(model: object) -> Weights:
    """``model`` itself if it is :class:`~tensoralgebra.Weights`, the current ``weights`` of an
    :class:`~tensoralgebra.AttentionOnlyTransformer`; anything else is refused."""
    if isinstance(model, Weights):
        return model
    if type(model).__name__ == "AttentionOnlyTransformer":
        from tensoralgebra.numeric.model import AttentionOnlyTransformer  # torch, when given one

        if isinstance(model, AttentionOnlyTransformer):
            return model.weights
    raise TensorAlgebraError(
        f"circuits need ta.Weights or a ta.AttentionOnlyTransformer, got {type(model).__name__}"
    )


class Reader:
    """The matrices of a model's circuits, LayerNorm weights folded into the readers when
    ``fold_ln`` (see the module's docstring); heads and paths checked on the way in."""

    def __init__(self, model: object, fold_ln: bool = True):
        self.weights = model_weights(model)
        fold = validation.flag(fold_ln, "fold_ln")
        self.folding = fold and self.weights.normalization is not None
        self.scaling = self.folding and self.weights.normalization == "LN"
        W_E = self.weights.W_E
        self.W_E = W_E - W_E.mean(0) if self.folding else W_E  # C W_E [d_model, d_vocab]

    @property
    def heads(self) -> list[Head]:
        """Every ``(layer, head)`` of the model, in order."""
        return [(layer, h) for layer, q in enumerate(self.weights.W_Q) for h in range(len(q))]

    def head(self, value: object, name: str = "head") -> Head:
        """``value`` as a ``(layer, head)`` pair of a head the model has, else a clear error."""
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise TensorAlgebraError(f"{name} is {value!r}: expected a (layer, head) pair")
        return self.checked(*value)

    def checked(self, layer: object, head: object) -> Head:
        n_layers = len(self.weights.W_Q)
        span = f"the model has layers 0..{n_layers - 1}" if n_layers else "the model has none"
        layer = validation.index(layer, "layer", n_layers, context=span)
        n = self.weights.W_Q[layer].shape[0]
        heads = f"layer {layer} has heads 0..{n - 1}" if n else f"layer {layer} has no heads"
        return layer, validation.index(head, "head", n, context=heads)

    def path(self, value: object, name: str = "path") -> list[Head]:
        """A virtual head: one ``(layer, head)`` pair, or a sequence of them in strictly
        increasing layers (earliest first)."""
        if isinstance(value, tuple) and len(value) == 2 and not isinstance(value[0], Sequence):
            return [self.head(value, name)]
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            raise TensorAlgebraError(
                f"{name} is {value!r}: expected a (layer, head) pair or a non-empty sequence "
                "of them"
            )
        path = [self.head(h, f"{name}[{i}]") for i, h in enumerate(value)]
        for first, later in itertools.pairwise(path):
            if first[0] >= later[0]:
                raise TensorAlgebraError(
                    f"{name} is {value!r}: L{first[0]}H{first[1]} cannot feed L{later[0]}H"
                    f"{later[1]}, the heads of a path sit in strictly increasing layers"
                )
        return path

    def read(self, name: str, head: Head) -> np.ndarray:
        """``W_Q``, ``W_K`` or ``W_V`` of ``head`` [d_head, d_model]; folded, ``W diag(w) C``."""
        layer, h = head
        matrix = getattr(self.weights, name)[layer][h]
        if self.scaling:
            matrix = matrix * self.weights.ln_w[layer]
        return matrix - matrix.mean(1, keepdims=True) if self.folding else matrix

    def W_O(self, head: Head) -> np.ndarray:
        """``W_O`` of ``head`` [d_model, d_head]; folded, ``C W_O``."""
        matrix = self.weights.W_O[head[0]][head[1]]
        return matrix - matrix.mean(0) if self.folding else matrix

    def unembed(self, matrix: np.ndarray) -> np.ndarray:
        """``W_U X`` [d_vocab, k] for ``X`` [d_model, k]; folded, ``W_U diag(w_f) C X``."""
        if self.folding:
            matrix = matrix - matrix.mean(0)
        if self.scaling:
            matrix = self.weights.ln_final_w[:, None] * matrix
        return self.weights.W_U @ matrix

    def ov_factors(self, path: list[Head]) -> tuple[np.ndarray, np.ndarray]:
        """``(W_O^{hk}, W_V^{hk} W_O^{hk-1} ... W_O^{h1} W_V^{h1})``: [d_model, d_head] and
        [d_head, d_model], whose product is the path's ``W_OV = W_OV^{hk} ... W_OV^{h1}``."""
        right = self.read("W_V", path[0])
        for previous, head in itertools.pairwise(path):
            right = self.read("W_V", head) @ self.W_O(previous) @ right
        return self.W_O(path[-1]), right

    def earlier_than(self, path: list[Head], layer: int, side: str) -> None:
        if path[-1][0] >= layer:
            last = path[-1]
            raise TensorAlgebraError(
                f"the {side} path ends at L{last[0]}H{last[1]}, which cannot feed a head of "
                f"layer {layer}: it must sit in an earlier layer"
            )


def ov_matrix(model: object, path: object, *, fold_ln: bool = True) -> FactoredMatrix:
    """``W_OV`` [d_model, d_model] of a head ``(l, h)`` or of a virtual head (a path of heads,
    earliest first): ``W_O^{hk} W_V^{hk} ... W_O^{h1} W_V^{h1}``, inner dimension d_head."""
    reader = Reader(model, fold_ln)
    return FactoredMatrix(*reader.ov_factors(reader.path(path)))


def qk_matrix(model: object, layer: int, head: int, *, fold_ln: bool = True) -> FactoredMatrix:
    """``W_QK^h = W_Q^{hT} W_K^h`` [d_model, d_model] (unscaled), inner dimension d_head."""
    reader = Reader(model, fold_ln)
    h = reader.checked(layer, head)
    return FactoredMatrix(reader.read("W_Q", h).T, reader.read("W_K", h))


def ov_circuit(model: object, layer: int, head: int, *, fold_ln: bool = True) -> FactoredMatrix:
    """The full OV circuit ``W_U W_OV^h W_E`` [d_vocab, d_vocab] of one head: column ``j``
    holds the logits the head adds when it attends to token ``j``."""
    reader = Reader(model, fold_ln)
    return _full_ov(reader, [reader.checked(layer, head)])


def path_ov_circuit(model: object, path: object, *, fold_ln: bool = True) -> FactoredMatrix:
    """The full OV circuit ``W_U W_OV^{hk} ... W_OV^{h1} W_E`` [d_vocab, d_vocab] of a virtual
    head (a path of heads in increasing layers, earliest first; one head is a path too)."""
    reader = Reader(model, fold_ln)
    return _full_ov(reader, reader.path(path))


def _full_ov(reader: Reader, path: list[Head]) -> FactoredMatrix:
    left, right = reader.ov_factors(path)
    return FactoredMatrix(reader.unembed(left), right @ reader.W_E)


def qk_circuit(
    model: object,
    layer: int,
    head: int,
    *,
    query: object = (),
    key: object = (),
    fold_ln: bool = True,
) -> FactoredMatrix:
    """The full QK circuit ``W_E^T W_QK^h W_E`` [d_vocab, d_vocab] of a head (row: the query
    token, column: the key token), or with a virtual head on either side the Q-, K- or
    QK-composed form ``W_E^T W_OV^{query T} W_QK^h W_OV^{key} W_E``: ``query`` and ``key`` are
    paths (a head or a sequence of heads) in layers before ``layer``, ``()`` for none."""
    reader = Reader(model, fold_ln)
    h = reader.checked(layer, head)
    left, right = reader.read("W_Q", h), reader.read("W_K", h)  # [d_head, d_model] each
    for side, value in (("query", query), ("key", key)):
        if isinstance(value, (tuple, list)) and len(value) == 0:
            continue
        path = reader.path(value, side)
        reader.earlier_than(path, h[0], side)
        out, into = reader.ov_factors(path)
        if side == "query":
            left = left @ out @ into
        else:
            right = right @ out @ into
    W_E = reader.W_E
    return FactoredMatrix((left @ W_E).T, right @ W_E)
