"""The factored expressions of an attention-only transformer (symbolic only, no arrays).

The weight symbols, in the paper's convention (column vectors; MATH.md §1):

=================  ======================  =================================================
symbol             maps                    meaning
=================  ======================  =================================================
``W_E``            vocab → model           token embedding
``W_pos``          pos → model             positional embedding (position source)
``W_U``            model → vocab           unembedding
``W_OV^{l,h}``     model → model           OV circuit ``W_O W_V`` of head ``(l, h)``
``W_QK^{l,h}``     model → model           QK circuit ``W_Q^T W_K`` (a bilinear form)
``A^{l,h}``        positions → positions   attention pattern (row = query, column = key)
=================  ======================  =================================================

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
from tensoralgebra.expr.nodes import Expr, Identity, IndexedSum, Kron, MatrixSymbol, Product, Sum
from tensoralgebra.expr.spaces import HEAD, MODEL, POS, POSITIONS, VOCAB, Space

_POSITIONS, _MODEL, _VOCAB = Space.of(POSITIONS), Space.of(MODEL), Space.of(VOCAB)

W_E = MatrixSymbol("W_E", _MODEL, _VOCAB)
W_pos = MatrixSymbol("W_pos", _MODEL, Space.of(POS))
W_U = MatrixSymbol("W_U", _VOCAB, _MODEL)
#: The identity on positions (``Id`` in ``Id ⊗ W_U``) and on the residual stream.
Id_positions = Identity(_POSITIONS)
Id_residual = Identity(_POSITIONS @ _MODEL)


def _head_index(index: Index | tuple[int, int]) -> Index:
    if isinstance(index, (Head, HeadVar)):
        return index
    if isinstance(index, tuple) and len(index) == 2:
        return Head(*index)
    raise TensorAlgebraError(f"a head is a (layer, head) pair, a Head or a HeadVar, got {index!r}")


def _per_head(name: str, rows: Space, cols: Space, doc: str):
    def make(head: Index | tuple[int, int]) -> MatrixSymbol:
        return MatrixSymbol(name, rows, cols, _head_index(head))

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"{doc}; ``head`` is a ``(layer, head)`` pair, a Head or a HeadVar."
    return make


A = _per_head("A", _POSITIONS, _POSITIONS, "The attention pattern ``A^h`` [positions × positions]")
W_OV = _per_head("W_OV", _MODEL, _MODEL, "The OV circuit ``W_O^h W_V^h`` [model × model]")
W_QK = _per_head("W_QK", _MODEL, _MODEL, "The QK circuit ``W_Q^{hT} W_K^h`` [model × model]")
W_Q = _per_head("W_Q", Space.of(HEAD), _MODEL, "The query weights ``W_Q^h`` [head × model]")
W_K = _per_head("W_K", Space.of(HEAD), _MODEL, "The key weights ``W_K^h`` [head × model]")
W_V = _per_head("W_V", Space.of(HEAD), _MODEL, "The value weights ``W_V^h`` [head × model]")
W_O = _per_head("W_O", _MODEL, Space.of(HEAD), "The output weights ``W_O^h`` [model × head]")


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
