"""Binding the expansion's symbols to arrays: weights from a model, patterns from a trace.

==================  ======================  ===============================================
symbol              array                   from
==================  ======================  ===============================================
``W_E``             [d_model, d_vocab]      the model
``W_U``             [d_vocab, d_model]      the model
``W_pos``           [d_model, seq]          the model's first ``seq`` columns
``W_OV^{l,h}``      [d_model, d_model]      ``W_O^h W_V^h`` of layer ``l``
``W_QK^{l,h}``      [d_model, d_model]      ``W_Q^{hT} W_K^h`` of layer ``l``, unscaled
``W_Q``, ``W_K``,   [d_head, d_model]       the model (``W_O``: [d_model, d_head])
``W_V``, ``W_O``
``A^{l,h}``         [batch, seq, seq]       the trace's pattern
``X``               one-hot rows            the trace's tokens (source ``vocab``)
position one-hot    the first ``seq`` rows  of ``Id_{n_ctx}`` (source ``pos``)
constant source     [batch, 1, 1] of ones   the number 1 a bias multiplies (source ``one``)
``1``               [seq, 1]                all ones: a constant at every position
==================  ======================  ===============================================

and the symbols of real architectures (frozen LayerNorm scales ``N`` from the trace, ``W_ln``,
``C`` and the constants): :mod:`~tensoralgebra.numeric.real_symbols`.

A :class:`Bindings` works with numpy or torch arrays (``backend``); both compute the same
products in the model's dtype. With the torch backend the arrays are on a device: the model's
(:attr:`AttentionOnlyTransformer.device <tensoralgebra.AttentionOnlyTransformer.device>`) unless
``device=`` says another (checked: it must exist and be available here); numpy arrays are on the
host.

>>> import tensoralgebra as ta
>>> model = ta.AttentionOnlyTransformer(
...     ta.Weights.random(ta.Architecture(heads=(1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3))
>>> b = Bindings(model, model.run([[1, 2]]), "torch", device="cpu")
>>> b.device, b.patterns(0).device, tuple(b.patterns(0).shape)
(device(type='cpu'), device(type='cpu'), (1, 1, 2, 2))
"""

from __future__ import annotations

import numpy as np

from tensoralgebra import validation
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, Layer
from tensoralgebra.expr.nodes import MatrixSymbol
from tensoralgebra.expr.spaces import ONE, POS, VOCAB, Space
from tensoralgebra.numeric import real_symbols
from tensoralgebra.numeric.trace import Trace

BACKENDS = ("numpy", "torch")


class _Numpy:
    name = "numpy"
    device = None

    @staticmethod
    def array(value: np.ndarray):
        return np.asarray(value)

    @staticmethod
    def zeros(shape: tuple, like) -> np.ndarray:
        return np.zeros(shape, dtype=like.dtype)

    @staticmethod
    def to_numpy(value) -> np.ndarray:
        return np.asarray(value)

    @staticmethod
    def permute(value: np.ndarray, axes: tuple) -> np.ndarray:
        return value.transpose(axes)

    @staticmethod
    def stack(values: list) -> np.ndarray:
        return np.stack(values)

    @staticmethod
    def concat(values: list) -> np.ndarray:
        return values[0] if len(values) == 1 else np.concatenate(values)


class _Torch:
    name = "torch"

    def __init__(self, device):
        import torch

        self.torch, self.device = torch, device

    def array(self, value: np.ndarray):
        value = np.ascontiguousarray(value)
        # torch refuses to share read-only memory (the weights and traces are read-only).
        host = self.torch.from_numpy(value if value.flags.writeable else value.copy())
        return host.to(self.device)

    def zeros(self, shape: tuple, like):
        return self.torch.zeros(shape, dtype=like.dtype, device=like.device)

    @staticmethod
    def to_numpy(value) -> np.ndarray:
        return value.detach().cpu().numpy()

    @staticmethod
    def permute(value, axes: tuple):
        return value.permute(axes)

    def stack(self, values: list):
        return self.torch.stack(values)

    def concat(self, values: list):
        return values[0] if len(values) == 1 else self.torch.cat(values)


class Bindings:
    """The arrays of every symbol, for one model and one trace, on one backend.

    Matrices are computed once and cached (``W_OV`` and ``W_QK`` of a head are products).
    ``sizes`` maps the dimension names of :mod:`tensoralgebra.expr.spaces` to sizes, with
    ``n_ctx`` the traced sequence length: patterns and position one-hots are ``seq`` long.
    ``device`` (torch backend only): where the arrays are, by default the model's; ``.device``
    says which (``None`` for numpy).
    """

    @staticmethod
    def ops_for(value):
        """The backend operations for arrays like ``value`` (a numpy array or a torch
        tensor, on its device)."""
        if isinstance(value, np.ndarray):
            return _Numpy()
        return _Torch(value.device)

    def __init__(self, model, trace: Trace, backend: str = "numpy", device: object = None):
        validation.choice(backend, "backend", BACKENDS)
        if not isinstance(trace, Trace):
            raise TensorAlgebraError(f"evaluation needs a Trace, got {type(trace).__name__}")
        if backend == "numpy" and device is not None:
            raise TensorAlgebraError(
                f"device is {device!r}: numpy arrays are on the host; a device needs the torch "
                "backend"
            )
        if backend == "numpy":
            self.ops = _Numpy()
        else:
            where = getattr(model, "device", "cpu") if device is None else device
            self.ops = _Torch(validation.device(where))
        self.device = self.ops.device
        # Bindings live for one evaluation or verify, which holds the model still: a view of its
        # parameters, not a copy (at large vocabularies W_E and W_U are most of the memory).
        self.weights = weights = model.weights_view()
        arch = weights.architecture
        traced = tuple(p.shape[1] for p in trace.patterns)
        if traced != arch.heads:
            raise TensorAlgebraError(
                f"the trace has heads {traced} per layer, but the model has {arch.heads}"
            )
        model.tokens(trace.tokens)  # the same checks as the model's: in the vocabulary, ≤ n_ctx
        self.model, self.trace, self.architecture = model, trace, arch
        self.batch, self.seq = trace.tokens.shape
        self.sizes = {
            "n_ctx": self.seq,
            "d_model": weights.d_model,
            "d_vocab": weights.d_vocab,
            "d_head": weights.d_head,
            "one": 1,
        }
        self.dtype = weights.dtype
        self._cache: dict = {}
        self.tokens = self.ops.array(trace.tokens)
        self.positions = self.ops.array(np.broadcast_to(np.arange(self.seq), trace.tokens.shape))
        # A constant source reads the number 1: index 0 of a one-dimensional space, once a row.
        self.constant = self.ops.array(np.zeros((self.batch, 1), dtype=np.int64))

    def source(self, space: Space):
        """The index array of a source space: tokens (vocab) or positions (pos) [batch, seq], or
        the constant 1 (one) [batch, 1]."""
        if space == Space.of(VOCAB):
            return self.tokens
        if space == Space.of(ONE):
            return self.constant
        if space == Space.of(POS):
            if self.weights.W_pos is None:
                raise TensorAlgebraError("the term reads positions, but the model has no W_pos")
            return self.positions
        raise TensorAlgebraError(
            f"a term's input must be tokens (vocab), positions (pos) or a constant (one), got "
            f"{space}"
        )

    def matrix(self, sym: MatrixSymbol):
        """The array of a weight symbol, [rows, cols]."""
        key = (sym.name, sym.index)
        if key not in self._cache:
            self._cache[key] = self.ops.array(self._matrix(sym).astype(self.dtype, copy=False))
        return self._cache[key]

    def _matrix(self, sym: MatrixSymbol) -> np.ndarray:
        w = self.weights
        if sym.name in real_symbols.NAMES:
            return self._real(sym)
        if sym.index is None:
            # Only the first seq positions exist in this trace: X_pos = Id_{n_ctx}[:seq].
            W_pos = None if w.W_pos is None else w.W_pos[:, : self.seq]
            shared = {"W_E": w.W_E, "W_U": w.W_U, "W_pos": W_pos}
            if sym.name == "W_pos" and W_pos is None:
                raise TensorAlgebraError("the term reads W_pos, but the model has no W_pos")
            if sym.name not in shared:
                raise TensorAlgebraError(f"no array for the symbol {sym} in this model")
            return shared[sym.name]
        layer, head = self._head(sym)
        per_head = {n: getattr(w, n)[layer][head] for n in ("W_Q", "W_K", "W_V", "W_O")}
        if sym.name == "W_OV":
            return per_head["W_O"] @ per_head["W_V"]
        if sym.name == "W_QK":
            # Unscaled: the model divides the scores by sqrt(d_head) itself, after recording them.
            return per_head["W_Q"].T @ per_head["W_K"]
        if sym.name not in per_head:
            raise TensorAlgebraError(f"no array for the symbol {sym} in this model")
        return per_head[sym.name]

    def _real(self, sym: MatrixSymbol) -> np.ndarray:
        """A symbol of real architectures (:mod:`~tensoralgebra.numeric.real_symbols`)."""
        index = sym.index
        if isinstance(index, Layer):
            layer = None if index.layer is None else self._layer(sym, index.layer)
            return real_symbols.real_matrix(self.weights, sym.name, layer)
        if sym.name in ("C", "b_U", "c_U") and index is None:
            return real_symbols.real_matrix(self.weights, sym.name, None)
        if sym.name in ("b_Q", "b_K", "c_Q", "c_K"):
            return real_symbols.real_matrix(self.weights, sym.name, *self._head(sym))
        raise TensorAlgebraError(f"no array for the symbol {sym} in this model")

    def _layer(self, sym: MatrixSymbol, layer: int) -> int:
        n = self.architecture.n_layers
        if layer >= n:
            raise TensorAlgebraError(f"{sym}: layer {layer} does not exist; the model has {n}")
        return layer

    def ones(self):
        """The all-ones ``1`` [seq, 1]."""
        if "1" not in self._cache:
            self._cache["1"] = self.ops.array(np.ones((self.seq, 1), dtype=self.dtype))
        return self._cache["1"]

    def inverse_scale(self, sym: MatrixSymbol):
        """The diagonal ``1/σ`` of a frozen LayerNorm scale ``N`` from the trace, [batch, seq, 1]
        (applying ``N`` multiplies each position's row by it)."""
        if not isinstance(sym.index, Layer):
            raise TensorAlgebraError(f"{sym}: a frozen scale is N^{{Ll}} or N^{{f}}")
        key = ("N", sym.index)
        if key not in self._cache:
            layer = sym.index.layer
            layer = None if layer is None else self._layer(sym, layer)
            diagonal = real_symbols.inverse_scale(self.weights, self.trace, layer)
            self._cache[key] = self.ops.array(np.ascontiguousarray(diagonal[..., None]))
        return self._cache[key]

    def pattern(self, sym: MatrixSymbol):
        """``A^{l,h}`` from the trace, [batch, seq, seq]."""
        if sym.name != "A":
            raise TensorAlgebraError(
                f"{sym} acts on positions, but only patterns A^h, frozen LayerNorm scales N and "
                "the all-ones 1 do"
            )
        key = ("A", sym.index)
        if key not in self._cache:
            layer, head = self._head(sym)
            self._cache[key] = self.ops.array(self.trace.pattern(layer, head))
        return self._cache[key]

    def patterns(self, layer: int):
        """Every pattern of ``layer``, [n_heads, batch, seq, seq]."""
        key = ("A*", layer)
        if key not in self._cache:
            stacked = np.ascontiguousarray(self.trace.patterns[layer].transpose(1, 0, 2, 3))
            self._cache[key] = self.ops.array(stacked)
        return self._cache[key]

    def ov_stack(self, layer: int):
        """``W_OV^{l,h T}`` of every head of ``layer``, [n_heads, d_model, d_model]."""
        key = ("OV*", layer)
        if key not in self._cache:
            w = self.weights
            stacked = np.einsum("hmd,hdn->hnm", w.W_O[layer], w.W_V[layer])
            self._cache[key] = self.ops.array(np.ascontiguousarray(stacked))
        return self._cache[key]

    def _head(self, sym: MatrixSymbol) -> tuple[int, int]:
        index = sym.index
        if not isinstance(index, Head):
            raise TensorAlgebraError(
                f"{sym} has the head variable {index!r}: instantiate sums over heads first"
            )
        heads = self.architecture.heads
        if index.layer >= len(heads) or index.head >= heads[index.layer]:
            raise TensorAlgebraError(f"{sym}: head {index!r} does not exist; heads are {heads}")
        return index.layer, index.head
