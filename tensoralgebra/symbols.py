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

Per-head symbols are functions of a ``(layer, head)`` pair, a ``Head`` or a ``HeadVar``:

>>> from tensoralgebra.symbols import A, W_E, W_OV
>>> print(A((1, 0)), W_OV((1, 0)), W_E)
A^{L1H0} W_OV^{L1H0} W_E
"""

from __future__ import annotations

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadVar, Index
from tensoralgebra.expr.nodes import Identity, MatrixSymbol
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
