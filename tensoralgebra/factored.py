"""The factored expressions of an attention-only transformer (symbolic only, no arrays): the
residual stream as a product of per-layer factors ``Id + Σ_h A^h ⊗ W_OV^h`` and the logits
``(Id ⊗ W_U) · Π_l (...) · (Id ⊗ W_E)``. The weight symbols are in :mod:`tensoralgebra.symbols`.

>>> import tensoralgebra as ta
>>> print(ta.logits(ta.Architecture(heads=(2,))))
(Id ⊗ W_U)·(Id + A^{L0H0} ⊗ W_OV^{L0H0} + A^{L0H1} ⊗ W_OV^{L0H1})·(Id ⊗ W_E)
>>> print(ta.logits(ta.Architecture.schematic(n_layers=2)))
(Id ⊗ W_U)·(Id + Σ_{h∈H1} A^{h} ⊗ W_OV^{h})·(Id + Σ_{h∈H0} A^{h} ⊗ W_OV^{h})·(Id ⊗ W_E)
"""

from __future__ import annotations

from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadSet, HeadVar, Index
from tensoralgebra.expr.nodes import Expr, IndexedSum, Kron, Product, Sum
from tensoralgebra.symbols import W_E, W_OV, W_U, A, Id_positions, Id_residual, W_pos


def head_term(head: Index) -> Kron:
    """``A^h ⊗ W_OV^h``: what one head adds to the residual stream, its pattern frozen."""
    return Kron((A(head), W_OV(head)))


def layer_factor(arch: Architecture, layer: int, var: str = "h") -> Expr:
    """``Id + Σ_{h ∈ H_layer} A^h ⊗ W_OV^h``: the residual stream through one layer.

    A concrete architecture lists its heads; a layer without heads is just ``Id``. ``var`` names
    the head variable of a schematic layer.
    """
    arch.check_layer(layer)
    if arch.is_schematic:
        h = HeadVar(var)
        return Sum((Id_residual, IndexedSum(h, HeadSet((layer,)), head_term(h))))
    heads = [head_term(Head(layer, i)) for i in range(arch.n_heads(layer))]
    return Sum((Id_residual, *heads)) if heads else Id_residual


def embedding(arch: Architecture) -> Expr:
    """``Id ⊗ W_E``, plus ``Id ⊗ W_pos`` with standard positions: the stream before layer 0."""
    tokens = Kron((Id_positions, W_E))
    if arch.positional is None:
        return tokens
    return Sum((tokens, Kron((Id_positions, W_pos))))


def residual_stream(arch: Architecture, layer: int, var: str = "h") -> Expr:
    """The residual stream that ``layer`` reads (``layer == n_layers``: the final stream),
    as the product of the earlier layers' factors and the embedding; ``var`` names the head
    variables of a schematic architecture."""
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= arch.n_layers:
        raise TensorAlgebraError(
            f"layer {layer!r} does not exist: residual streams are read by layers "
            f"0..{arch.n_layers - 1}, and {arch.n_layers} is the final stream"
        )
    factors = [layer_factor(arch, lay, var) for lay in reversed(range(layer))]
    return Product((*factors, embedding(arch))) if factors else embedding(arch)


def logits(arch: Architecture) -> Expr:
    """The logits in factored form: ``(Id⊗W_U)·Π_l(Id + Σ_h A^h⊗W_OV^h)·(Id⊗W_E)``.

    The last layer stands leftmost (it acts last). With standard positions the embedding is
    ``Id⊗W_E + Id⊗W_pos``, acting on the token one-hots and the position one-hots.
    """
    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(f"logits needs an Architecture, got {arch!r}")
    stream = residual_stream(arch, arch.n_layers)
    rest = stream.args if isinstance(stream, Product) else (stream,)
    return Product((Kron((Id_positions, W_U)), *rest))
