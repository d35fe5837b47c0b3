"""The framework's weight symbols, in the paper's convention (column vectors; see
docs/conventions.md):

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

and, for real architectures (docs/conventions.md §7):

=================  ======================  =================================================
symbol             maps                    meaning
=================  ======================  =================================================
``N^{Ll}``         positions → positions   layer ``l``'s frozen LayerNorm scale ``diag(1/σ)``
``N^{f}``          positions → positions   the final LayerNorm's frozen scale
``W_ln^{Ll}``      model → model           ``W̃_l = diag(w_l) C``: centring, then the weight
``W_ln^{f}``       model → model           the final LayerNorm's ``W̃_f = diag(w_f) C``
``C``              model → model           the centring ``Id - 11ᵀ/d`` alone (``LNPre``)
``1``              one → positions         the all-ones vector: a constant's position factor
``c^{Ll}``         one → model             layer ``l``'s constant ``b_O + Σ_h W_O(W_V b + b_V)``
``b_U``            one → vocab             the unembedding bias (no LayerNorm bias)
``c_U``            one → vocab             ``W_U b_f + b_U`` (with LayerNorm ``LN``)
``b_Q^{h}``        one → head              a head's query bias (no LayerNorm bias)
``c_Q^{h}``        one → head              ``W_Q^h b_l + b_Q^h`` (with ``LN``)
``b_K^{h}``        one → head              a head's key bias (no LayerNorm bias)
``c_K^{h}``        one → head              ``W_K^h b_l + b_K^h`` (with ``LN``)
=================  ======================  =================================================

Per-head symbols are functions of a ``(layer, head)`` pair, a ``Head`` or a ``HeadVar``:

>>> from tensoralgebra.symbols import A, W_E, W_OV
>>> print(A((1, 0)), W_OV((1, 0)), W_E)
A^{L1H0} W_OV^{L1H0} W_E
"""

from __future__ import annotations

from tensoralgebra import validation
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadVar, Index, Layer
from tensoralgebra.expr.nodes import Identity, MatrixSymbol
from tensoralgebra.expr.spaces import HEAD, MODEL, ONE, POS, POSITIONS, VOCAB, Space

_POSITIONS, _MODEL, _VOCAB = Space.of(POSITIONS), Space.of(MODEL), Space.of(VOCAB)
_ONE, _HEAD = Space.of(ONE), Space.of(HEAD)

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
        return as_head(index)
    raise TensorAlgebraError(f"a head is a (layer, head) pair, a Head or a HeadVar, got {index!r}")


def as_head(pair: tuple[object, object]) -> Head:
    """``Head(layer, head)`` from a pair of non-negative integers (numpy integers too)."""
    layer = validation.integer(pair[0], "a head's layer", low=0)
    return Head(layer, validation.integer(pair[1], "a head's index within its layer", low=0))


def _per_head(name: str, rows: Space, cols: Space, doc: str):
    # The symbol of each head asked for so far: paths' expressions ask for the same few over and
    # over (one per head of the model), and a lookup is what constructing an interned node ends
    # in anyway. Keyed by validated heads only, never by a raw pair (``(True, 0) == (1, 0)``).
    made: dict[Head | HeadVar, MatrixSymbol] = {}

    def make(head: Index | tuple[int, int]) -> MatrixSymbol:
        symbol = made.get(head) if isinstance(head, (Head, HeadVar)) else None
        if symbol is None:
            index = _head_index(head)
            symbol = made[index] = MatrixSymbol(name, rows, cols, index)
        return symbol

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


# Real architectures (docs/conventions.md §7): frozen LayerNorm scales, the centring and
# LayerNorm weight, and the constant sources that biases make.

#: The all-ones vector ``1`` [positions × one]: a constant's position factor.
ones = MatrixSymbol("1", _POSITIONS, _ONE)
#: The centring ``C = Id - 11ᵀ/d_model`` [model × model] (symmetric): ``W̃`` of ``LNPre``.
C = MatrixSymbol("C", _MODEL, _MODEL)
#: The unembedding bias ``b_U`` [vocab × one], and ``c_U = W_U b_f + b_U`` with LayerNorm ``LN``.
# The paper's names (b_U, c_Q, ...) are lower-case letters with upper-case subscripts.
b_U = MatrixSymbol("b_U", _VOCAB, _ONE)  # noqa: N816
c_U = MatrixSymbol("c_U", _VOCAB, _ONE)  # noqa: N816


def _layer(layer: int | None) -> Layer:
    if layer is None:
        return Layer(None)
    return Layer(validation.integer(layer, "layer", low=0))


def N(layer: int | None) -> MatrixSymbol:
    """Layer ``layer``'s frozen LayerNorm scale ``N^{Ll} = diag(1/σ_i)`` [positions × positions],
    recorded from a forward pass like a pattern; ``layer=None`` is the final one, ``N^{f}``.

    >>> print(N(1), N(None))
    N^{L1} N^{f}
    """
    return MatrixSymbol("N", _POSITIONS, _POSITIONS, _layer(layer))


def W_ln(layer: int | None) -> MatrixSymbol:
    """``W̃ = diag(w) C`` [model × model] of layer ``layer``'s LayerNorm (``None``: the final one):
    centring, then the LayerNorm weight."""
    return MatrixSymbol("W_ln", _MODEL, _MODEL, _layer(layer))


def c(layer: int) -> MatrixSymbol:
    """Layer ``layer``'s constant source ``c^{Ll} = b_O + Σ_h W_O^h (W_V^h b_l + b_V^h)``
    [model × one] (``b_l`` the layer's LayerNorm bias, when it has one)."""
    return MatrixSymbol("c", _MODEL, _ONE, _layer(layer))


b_Q = _per_head("b_Q", _HEAD, _ONE, "A head's query bias ``b_Q^h`` [head × one]")  # noqa: N816
b_K = _per_head("b_K", _HEAD, _ONE, "A head's key bias ``b_K^h`` [head × one]")  # noqa: N816
c_Q = _per_head("c_Q", _HEAD, _ONE, "``c_Q^h = W_Q^h b_l + b_Q^h`` [head × one] with LayerNorm LN")  # noqa: N816
c_K = _per_head("c_K", _HEAD, _ONE, "``c_K^h = W_K^h b_l + b_K^h`` [head × one] with LayerNorm LN")  # noqa: N816
