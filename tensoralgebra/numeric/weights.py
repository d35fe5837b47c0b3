"""The weights of an attention-only transformer, in the paper's convention
(docs/conventions.md §1).

Column vectors: ``W_E`` [d_model, d_vocab] sends a token's one-hot to the residual stream,
``W_U`` [d_vocab, d_model] reads logits off it; per layer, ``W_Q``, ``W_K``, ``W_V``
[n_heads, d_head, d_model] read from the stream and ``W_O`` [n_heads, d_model, d_head] writes to
it. Arrays may be numpy arrays or torch tensors; they are stored as read-only numpy copies, so a
:class:`Weights` never changes after it is built.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture(heads=(2, 0)), d_model=8, d_head=4, d_vocab=11, n_ctx=5)
>>> w.architecture, w.W_E.shape, w.W_Q[0].shape, w.W_O[1].shape, w.dtype
(Architecture(heads=(2, 0)), (8, 11), (2, 4, 8), (0, 8, 4), dtype('float64'))
>>> ta.Weights(W_E=w.W_E, W_U=w.W_U[:, :3], W_Q=w.W_Q, W_K=w.W_K, W_V=w.W_V, W_O=w.W_O,
...            n_ctx=5)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.numeric.checked.WeightsError: W_U has shape (11, 3), expected (11, 8) = ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture
from tensoralgebra.numeric import budget, layout, parameters, random_weights
from tensoralgebra.numeric.checked import (
    WeightsError,
    check_size,
    frozen_array,
    per_layer,
    to_numpy,
)


@dataclass(frozen=True, eq=False)
class Weights:
    """An attention-only transformer's weights (frozen, validated on construction).

    ``W_Q[l]``, ``W_K[l]``, ``W_V[l]`` [n_heads_l, d_head, d_model] and ``W_O[l]``
    [n_heads_l, d_model, d_head] hold layer ``l``'s heads (``n_heads_l`` may be 0);
    ``W_pos`` [d_model, n_ctx] is the optional positional embedding. ``n_ctx``, the longest
    sequence the model reads, is ``W_pos``'s width when there is one and must be given otherwise.
    All arrays share one dtype, float32 or float64, and are finite.

    Real architectures add, all optional and absent by default (shapes and rules in
    :mod:`tensoralgebra.numeric.parameters`): the biases ``b_Q``, ``b_K``, ``b_V``
    [n_heads_l, d_head] and ``b_O`` [d_model] per layer and ``b_U`` [d_vocab]; the LayerNorm
    parameters ``ln_w``, ``ln_b`` [d_model] per layer and ``ln_final_w``, ``ln_final_b``
    [d_model]; ``normalization`` (``None``, ``"LN"``, ``"LNPre"``), ``eps`` (``1e-5``) and
    ``positional`` (``"standard"`` when there is a ``W_pos``, or ``"shortformer"``).
    """

    W_E: np.ndarray
    W_U: np.ndarray
    W_Q: tuple[np.ndarray, ...]
    W_K: tuple[np.ndarray, ...]
    W_V: tuple[np.ndarray, ...]
    W_O: tuple[np.ndarray, ...]
    W_pos: np.ndarray | None = None
    n_ctx: int | None = None
    b_Q: tuple[np.ndarray, ...] | None = None  # noqa: N815 (the paper's name)
    b_K: tuple[np.ndarray, ...] | None = None  # noqa: N815 (the paper's name)
    b_V: tuple[np.ndarray, ...] | None = None  # noqa: N815 (the paper's name)
    b_O: tuple[np.ndarray, ...] | None = None  # noqa: N815 (the paper's name)
    b_U: np.ndarray | None = None  # noqa: N815
    ln_w: tuple[np.ndarray, ...] | None = None
    ln_b: tuple[np.ndarray, ...] | None = None
    ln_final_w: np.ndarray | None = None
    ln_final_b: np.ndarray | None = None
    normalization: str | None = None
    eps: float = parameters.EPS
    positional: str | None = None

    def __post_init__(self) -> None:
        try:
            self._build()
        except WeightsError as error:
            given = {k: getattr(self, k) for k in ("W_E", "W_U", "W_pos", "W_Q", "W_K", "W_V")}
            hint = layout.whole_set_hint({**given, "W_O": self.W_O})
            if hint is None:
                raise
            raise WeightsError(f"{error}; {hint}") from None

    def _build(self) -> None:
        set_ = object.__setattr__
        W_E = to_numpy(self.W_E, "W_E")
        if W_E.ndim != 2:
            raise WeightsError(f"W_E has shape {W_E.shape}, expected [d_model, d_vocab]")
        (d_model, d_vocab), dtype = W_E.shape, None
        check_size(d_model, "d_model", "W_E", W_E.shape)
        check_size(d_vocab, "d_vocab", "W_E", W_E.shape)
        set_(self, "W_E", frozen_array(W_E, "W_E", W_E.shape, "d_model, d_vocab", dtype))
        dtype = self.W_E.dtype
        set_(
            self,
            "W_U",
            frozen_array(self.W_U, "W_U", (d_vocab, d_model), "d_vocab, d_model", dtype),
        )
        n_ctx = self._n_ctx(d_model)
        if self.W_pos is not None:
            set_(
                self,
                "W_pos",
                frozen_array(self.W_pos, "W_pos", (d_model, n_ctx), "d_model, n_ctx", dtype),
            )
        set_(self, "n_ctx", n_ctx)
        layers = {k: per_layer(getattr(self, k), k) for k in ("W_Q", "W_K", "W_V", "W_O")}
        counts = {k: len(v) for k, v in layers.items()}
        if len(set(counts.values())) != 1:
            raise WeightsError(f"the weights disagree on the number of layers: {counts}")
        d_head = self._d_head(layers["W_Q"], d_model)
        for name, stack in layers.items():
            arrays = []
            for index, value in enumerate(stack):
                n_heads = _n_heads(layers["W_Q"][index], f"W_Q[{index}]")
                shape, dims = (
                    ((n_heads, d_model, d_head), "n_heads, d_model, d_head")
                    if name == "W_O"
                    else ((n_heads, d_head, d_model), "n_heads, d_head, d_model")
                )
                arrays.append(frozen_array(value, f"{name}[{index}]", shape, dims, dtype))
            set_(self, name, tuple(arrays))
        self._build_real(dtype)

    def _build_real(self, dtype) -> None:
        set_ = object.__setattr__
        if self.positional is None and self.W_pos is not None:
            set_(self, "positional", "standard")
        parameters.check_kinds(self, WeightsError)
        set_(self, "eps", float(self.eps))

        def frozen(value, name, shape, dims):
            return frozen_array(value, name, shape, dims, dtype)

        found = parameters.frozen_parameters(self, frozen, per_layer, WeightsError)
        for name, value in found.items():
            set_(self, name, value)

    def _n_ctx(self, d_model: int) -> int:
        n_ctx = self.n_ctx
        if n_ctx is not None:
            n_ctx = validation.positive_integer(n_ctx, "n_ctx", error=WeightsError)
        if self.W_pos is None:
            if n_ctx is None:
                raise WeightsError(
                    "n_ctx (the longest sequence the model reads) is needed when there is no W_pos"
                )
            return n_ctx
        W_pos = to_numpy(self.W_pos, "W_pos")
        width = W_pos.shape[0] if n_ctx is None and W_pos.ndim == 2 else n_ctx
        hint = layout.transposed_hint("W_pos", W_pos.shape, (d_model, width))
        if hint and W_pos.shape[0] != d_model:
            raise WeightsError(
                f"W_pos has shape {W_pos.shape}, expected [d_model, n_ctx] with d_model={d_model} "
                f"first; {hint}"
            )
        if W_pos.ndim != 2 or (n_ctx is not None and W_pos.shape[1] != n_ctx):
            width = "n_ctx" if n_ctx is None else n_ctx
            raise WeightsError(
                f"W_pos has shape {W_pos.shape}, expected ({d_model}, {width}) = [d_model, n_ctx]"
            )
        check_size(W_pos.shape[1], "n_ctx", "W_pos", W_pos.shape)
        return W_pos.shape[1]

    @staticmethod
    def _d_head(W_Q: tuple, d_model: int) -> int:
        if not W_Q:
            return 1  # no layers: no head reads anything, and d_head is never used
        first = to_numpy(W_Q[0], "W_Q[0]")
        if first.ndim != 3:
            raise WeightsError(
                f"W_Q[0] has shape {first.shape}, expected [n_heads, d_head, d_model]"
            )
        if first.shape[2] != d_model and first.shape[1] == d_model:
            raise WeightsError(
                f"W_Q[0] has shape {first.shape}, expected [n_heads, d_head, d_model] with "
                f"d_model={d_model} last; it looks like TransformerLens's [n_heads, d_model, "
                "d_head] layout: transpose the last two axes"
            )
        check_size(first.shape[1], "d_head", "W_Q[0]", first.shape)
        return first.shape[1]

    @property
    def architecture(self) -> Architecture:
        """The :class:`~tensoralgebra.Architecture` these weights are: heads per layer, the
        positional kind, the normalization, and ``biases=True`` when the model has any additive
        constant (its biases, or the bias of an ``"LN"`` LayerNorm, which this package's
        LayerNorm always has: the symbolic architecture then lists every constant's terms, and
        those of absent biases are zero)."""
        return Architecture(
            heads=tuple(q.shape[0] for q in self.W_Q),
            positional=self.positional,
            normalization=self.normalization,
            biases=self.has_biases or self.normalization == "LN",
        )

    @property
    def has_biases(self) -> bool:
        """Whether the model has the biases ``b_Q``, ``b_K``, ``b_V``, ``b_O`` and ``b_U``."""
        return self.b_O is not None

    @property
    def is_idealised(self) -> bool:
        """Whether this is the paper's model: no biases, no LayerNorm, no shortformer positions."""
        return not parameters.real_parts(self)

    @property
    def dtype(self) -> np.dtype:
        """float32 or float64."""
        return self.W_E.dtype

    @property
    def d_model(self) -> int:
        return self.W_E.shape[0]

    @property
    def d_vocab(self) -> int:
        return self.W_E.shape[1]

    @property
    def d_head(self) -> int:
        return self.W_Q[0].shape[1] if self.W_Q else 1

    @classmethod
    def random(
        cls,
        arch: Architecture,
        *,
        d_model: int,
        d_head: int,
        d_vocab: int,
        n_ctx: int,
        seed: int = 0,
        dtype: str | np.dtype = "float64",
        max_bytes: int = budget.MEMORY_BUDGET,
        normalization: str | None = None,
        biases: bool | None = None,
        positional: str | None = None,
        init: str = "fan-in",
    ) -> Weights:
        """Gaussian weights for ``arch`` (concrete), scaled by ``init``.

        ``init="fan-in"`` (the default) keeps activations of order one: read matrices have entries
        of variance ``1/d_model``, write matrices ``1/d_head``, the embeddings ``1``.
        ``init="gpt2"`` draws GPT-2's scales: standard deviation 0.02 for ``W_E``, ``W_U``, ``W_Q``,
        ``W_K``, ``W_V``, ``0.02 / sqrt(2 · n_layers)`` for the writes ``W_O`` (GPT-2's residual
        projections) and 0.01 for ``W_pos``. Both draw the same standard normals in the same order,
        so they differ by the scales alone. ``W_pos`` exists when ``arch.positional == "standard"``
        or ``positional`` (default: ``arch.positional``) is ``"standard"`` or ``"shortformer"``.
        ``normalization="LN"`` draws LayerNorm weights near 1 and small LayerNorm biases,
        ``biases=True`` small non-zero biases (:func:`~tensoralgebra.numeric.parameters.draw`);
        they are drawn after the matrices, so the matrices do not depend on them. Sizes are
        at least 1, ``seed`` in ``0..2**32 - 1``, ``dtype`` float32 or float64. Weights that would
        take more than ``max_bytes`` bytes are refused up front
        (:class:`~tensoralgebra.ExpansionLimitError`, with a smaller size that fits):

        >>> import tensoralgebra as ta
        >>> ta.Weights.random(ta.Architecture((1,)), d_model=8, d_head=2, d_vocab=10**12,
        ...                   n_ctx=4)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
          ...
        tensoralgebra.errors.ExpansionLimitError: ... would take 128,000,000,000,512 bytes, ...

        GPT-2's scales (``W_O``'s is ``0.02 / sqrt(2 · 2)`` for two layers):

        >>> arch = ta.Architecture((2, 2))
        >>> w = ta.Weights.random(arch, d_model=256, d_head=16, d_vocab=300, n_ctx=8, init="gpt2")
        >>> round(float(w.W_U.std()), 3), round(float(w.W_O[0].std() * 2), 3)  # 0.02/sqrt(4)
        (0.02, 0.02)
        """
        return cls(
            **random_weights.draw(
                arch, d_model=d_model, d_head=d_head, d_vocab=d_vocab, n_ctx=n_ctx, seed=seed,
                dtype=dtype, max_bytes=max_bytes, normalization=normalization, biases=biases,
                positional=positional, init=init,
            )
        )  # fmt: skip

    def save(self, path, *, extra: dict[str, str] | None = None) -> None:
        """Save to ``path`` (a ``.safetensors`` file), with ``extra`` metadata if given:
        :func:`tensoralgebra.io.save_weights`."""
        # io sits above numeric (it builds Weights), so it is imported on use.
        from tensoralgebra.io import save_weights

        save_weights(self, path, extra=extra)

    @classmethod
    def load(cls, path, *, max_bytes: int = budget.MEMORY_BUDGET) -> Weights:
        """The weights saved at ``path``, checked like any others:
        :func:`tensoralgebra.io.load_weights` (a pickle is refused, never opened)."""
        from tensoralgebra.io import load_weights  # io sits above numeric: imported on use

        return load_weights(path, cls, max_bytes=max_bytes)

    @classmethod
    def from_state_dict(cls, state_dict, cfg) -> Weights:
        """The weights of a TransformerLens state dict (torch tensors or numpy arrays) and its
        config (a ``HookedTransformerConfig`` or a dict of its fields), transposed into the
        paper's convention: :func:`tensoralgebra.io.from_state_dict` (needs no TransformerLens;
        a model with parts this package does not model, such as MLPs, is refused)."""
        # io sits above numeric (it builds Weights), so it is imported on use.
        from tensoralgebra.io import from_state_dict

        return from_state_dict(state_dict, cfg, cls)

    @classmethod
    def from_transformer_lens(cls, model) -> Weights:
        """The weights of a TransformerLens ``HookedTransformer``:
        :func:`tensoralgebra.io.from_transformer_lens`."""
        from tensoralgebra.io import from_transformer_lens  # io sits above numeric: imported on use

        return from_transformer_lens(model, cls)

    def __repr__(self) -> str:
        # The architecture names the kinds; eps only when it is not TransformerLens's default.
        eps = f", eps={self.eps!r}" if self.normalization and self.eps != parameters.EPS else ""
        return (
            f"Weights({self.architecture!r}, d_model={self.d_model}, d_head={self.d_head}, "
            f"d_vocab={self.d_vocab}, n_ctx={self.n_ctx}, dtype={self.dtype}{eps})"
        )


def _n_heads(value: object, name: str) -> int:
    array = to_numpy(value, name)
    if array.ndim != 3:
        raise WeightsError(f"{name} has shape {array.shape}, expected [n_heads, d_head, d_model]")
    return array.shape[0]
