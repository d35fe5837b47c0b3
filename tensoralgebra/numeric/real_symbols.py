"""The arrays of the symbols of real architectures (docs/conventions.md §7), from a model's
:class:`~tensoralgebra.Weights` and, for the frozen LayerNorm scales, from a trace.

==================  ======================  ===============================================
symbol              array                   from
==================  ======================  ===============================================
``N^{Ll}``          [batch, seq]            ``1/σ`` of layer ``l``'s ``ln1`` in the trace
``N^{f}``           [batch, seq]            ``1/σ`` of the final LayerNorm in the trace
``W_ln^{Ll}``       [d_model, d_model]      ``diag(w_l) C`` (``LN`` only)
``W_ln^{f}``        [d_model, d_model]      ``diag(w_f) C`` (``LN`` only)
``C``               [d_model, d_model]      ``Id - 11ᵀ/d_model``
``c^{Ll}``          [d_model, 1]            ``b_O + Σ_h W_O^h (W_V^h b_l + b_V^h)``
``b_U``, ``c_U``    [d_vocab, 1]            ``b_U``; ``W_U b_f + b_U`` (``LN`` only)
``b_Q^h``, ``c_Q^h``  [d_head, 1]           ``b_Q^h``; ``W_Q^h b_l + b_Q^h`` (``LN`` only)
``b_K^h``, ``c_K^h``  [d_head, 1]           likewise for keys
==================  ======================  ===============================================

A frozen scale ``N = diag(1/σ)`` is held as its diagonal only: applying it multiplies each
position's row. A constant whose parts a model lacks uses zeros for them (``c^{Ll}`` of an
``LN`` model without biases is ``Σ_h W_O^h W_V^h b_l``); a symbol the model cannot have at
all (``N`` without LayerNorm, ``W_ln`` or ``c_U`` without ``LN``, ``c^{Ll}`` or ``b_Q`` without
any constant) is refused, never read as zero.

>>> import numpy as np, tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3,
...                       normalization="LN", biases=True)
>>> real_matrix(w, "c_U", None).shape, real_matrix(w, "C", None).sum(0).round(12).tolist()
((5, 1), [0.0, 0.0, 0.0, 0.0])
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.errors import TensorAlgebraError

#: The model-space symbols of real architectures (position-space ones: ``N`` and ``1``).
NAMES = frozenset({"W_ln", "C", "c", "b_U", "c_U", "b_Q", "b_K", "c_Q", "c_K"})


def centring(d_model: int, dtype) -> np.ndarray:
    """``C = Id - 11ᵀ/d`` [d_model, d_model]."""
    return (np.eye(d_model) - np.full((d_model, d_model), 1.0 / d_model)).astype(dtype)


def _vector(value, size: int, dtype) -> np.ndarray:
    """``value`` [size], or zeros for a part the model lacks."""
    return np.zeros(size, dtype) if value is None else np.asarray(value)


def real_matrix(w, name: str, layer: int | None, head: int | None = None) -> np.ndarray:
    """The array of a real-architecture model-space symbol ``name`` of ``layer`` (``None``: the
    final LayerNorm, or no layer) and ``head``; constants are columns [dim, 1]."""
    _check_has(w, name, layer)
    d, dtype = w.d_model, w.dtype
    if name == "C":
        return centring(d, dtype)
    if name == "W_ln":
        weight = w.ln_final_w if layer is None else w.ln_w[layer]
        return np.asarray(weight)[:, None] * centring(d, dtype)
    ln_b = ln_bias(w, layer)
    if name in ("b_U", "c_U"):
        b_U = _vector(w.b_U, w.d_vocab, dtype)
        return (b_U if name == "b_U" else w.W_U @ ln_b + b_U)[:, None]
    if name == "c":
        b_V = np.zeros((len(w.W_V[layer]), w.d_head), dtype) if w.b_V is None else w.b_V[layer]
        values = np.einsum("hkd,d->hk", w.W_V[layer], ln_b) + b_V  # [n_heads, d_head]
        written = np.einsum("hdk,hk->d", w.W_O[layer], values)
        return (_vector(None if w.b_O is None else w.b_O[layer], d, dtype) + written)[:, None]
    reads = {"Q": w.W_Q, "K": w.W_K}[name[-1]][layer][head]  # [d_head, d_model]
    own = getattr(w, "b_" + name[-1])
    bias = np.zeros(w.d_head, dtype) if own is None else own[layer][head]
    return (bias if name[0] == "b" else reads @ ln_b + bias)[:, None]


def ln_bias(w, layer: int | None) -> np.ndarray:
    """The bias of layer ``layer``'s LayerNorm (``None``: the final one) [d_model]; zeros
    without one."""
    if w.normalization != "LN":
        return np.zeros(w.d_model, w.dtype)
    return np.asarray(w.ln_final_b if layer is None else w.ln_b[layer])


def _check_has(w, name: str, layer: int | None) -> None:
    """Refuse a symbol that ``w``'s model cannot have."""
    arch = w.architecture
    if name in ("W_ln", "c_U", "c_Q", "c_K") and w.normalization != "LN":
        raise TensorAlgebraError(
            f"the term reads {_shown(name, layer)}, which needs LayerNorm weights "
            f"(normalization 'LN'); this model has normalization {w.normalization!r}"
        )
    if name in ("c", "b_U", "b_Q", "b_K", "c_Q", "c_K") and not arch.biases:
        raise TensorAlgebraError(
            f"the term reads {_shown(name, layer)}, but this model has no biases (no constant "
            "source)"
        )
    if name == "c" and layer is None:
        raise TensorAlgebraError("the term reads c without a layer: constants are c^{Ll}")


def _shown(name: str, layer: int | None) -> str:
    if name in ("W_ln", "c", "N"):
        return f"{name}^{{{'f' if layer is None else f'L{layer}'}}}"
    return name


def inverse_scale(w, trace, layer: int | None) -> np.ndarray:
    """The diagonal of the frozen scale ``N = diag(1/σ)`` of layer ``layer``'s LayerNorm
    (``None``: the final one) recorded in ``trace``, [batch, seq]."""
    if w.normalization is None or trace.ln_final_scale is None:
        where = "this model has no LayerNorm" if w.normalization is None else "the trace has none"
        raise TensorAlgebraError(
            f"the term reads the frozen LayerNorm scale {_shown('N', layer)}, but {where}"
        )
    sigma = trace.ln_final_scale if layer is None else trace.ln_scale[layer]
    return (1.0 / np.asarray(sigma)).astype(w.dtype, copy=False)
