"""Weights from TransformerLens models and state dicts, and back (docs/importing.md).

TransformerLens multiplies row vectors from the right, so its state dict holds the transpose of
each matrix :class:`~tensoralgebra.Weights` takes (the paper's column vectors, docs/conventions.md
§7): ``W_E = embed.W_Eᵀ``, ``W_U = unembed.W_Uᵀ``, ``W_pos = pos_embed.W_posᵀ``, and per layer
``l`` and head ``h`` ``W_Q^h = blocks.l.attn.W_Q[h]ᵀ`` (``W_K``, ``W_V``, ``W_O`` alike). Biases
and LayerNorm parameters are vectors and are taken as they are. Reading a state dict needs
neither TransformerLens nor torch: its values may be torch tensors or numpy arrays.

>>> import numpy as np
>>> import tensoralgebra as ta
>>> cfg = dict(n_layers=1, d_model=4, d_head=2, n_heads=2, d_vocab=6, n_ctx=3, attn_only=True,
...            normalization_type=None)
>>> shapes = {"embed.W_E": (6, 4), "pos_embed.W_pos": (3, 4), "unembed.W_U": (4, 6)}
>>> shapes |= {f"blocks.0.attn.{m}": (2, 4, 2) for m in ("W_Q", "W_K", "W_V")}
>>> shapes["blocks.0.attn.W_O"] = (2, 2, 4)
>>> state = {key: np.ones(shape) for key, shape in shapes.items()}
>>> weights = from_state_dict(state, cfg)
>>> weights, weights.W_E.shape, weights.W_Q[0].shape
(Weights(Architecture(heads=(2,), positional='standard'), d_model=4, d_head=2, d_vocab=6, n_ctx=3, dtype=float64), (4, 6), (2, 2, 4))
>>> del state["blocks.0.attn.W_K"]
>>> from_state_dict(state, cfg)
Traceback (most recent call last):
  ...
tensoralgebra.io.transformer_lens_config.TransformerLensError: the state dict has no blocks.0.attn.W_K (a key the config needs)
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tensoralgebra.io.transformer_lens_config import Config, TransformerLensError, read_config
from tensoralgebra.numeric.checked import frozen_array, to_numpy
from tensoralgebra.numeric.weights import Weights

#: Buffers TransformerLens keeps in every attention layer's state dict: the causal mask and the
#: value it masks with. They hold no weights and are skipped.
BUFFERS = ("IGNORE", "mask")

#: The biases, all present or all absent (TransformerLens models have all of them).
_BIAS_KEYS = ("b_Q", "b_K", "b_V", "b_O")

#: The matrices of the embeddings and the unembedding, and their keys.
_MATRICES = {"W_E": "embed.W_E", "W_U": "unembed.W_U", "W_pos": "pos_embed.W_pos"}

#: Keys of parts this package does not model, recognised to name the part.
_PARTS = (
    (".mlp.", "MLPs"),
    (".ln2.", "a second LayerNorm (ln2), which only blocks with MLPs have"),
    ("._W_K", "grouped-query attention"),
    ("._W_V", "grouped-query attention"),
    ("rotary_", "rotary positions"),
    ("_norm.", "query and key normalization"),
)


def layout(config: Config, biases: bool) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every key a state dict of ``config`` holds, with its shape and the names of its axes."""
    c = config
    qkv = ((c.n_heads, c.d_model, c.d_head), "n_heads, d_model, d_head")
    keys = {"embed.W_E": ((c.d_vocab, c.d_model), "d_vocab, d_model")}
    keys["pos_embed.W_pos"] = ((c.n_ctx, c.d_model), "n_ctx, d_model")
    vector = ((c.d_model,), "d_model")
    for layer in range(c.n_layers):
        block = f"blocks.{layer}"
        if c.normalization == "LN":
            keys |= {f"{block}.ln1.w": vector, f"{block}.ln1.b": vector}
        keys |= {f"{block}.attn.{m}": qkv for m in ("W_Q", "W_K", "W_V")}
        keys[f"{block}.attn.W_O"] = ((c.n_heads, c.d_head, c.d_model), "n_heads, d_head, d_model")
        if biases:
            head = ((c.n_heads, c.d_head), "n_heads, d_head")
            keys |= {f"{block}.attn.{b}": head for b in ("b_Q", "b_K", "b_V")}
            keys[f"{block}.attn.b_O"] = vector
    if c.normalization == "LN":
        keys |= {"ln_final.w": vector, "ln_final.b": vector}
    keys["unembed.W_U"] = ((c.d_model, c.d_vocab), "d_model, d_vocab")
    if biases:
        keys["unembed.b_U"] = ((c.d_vocab,), "d_vocab")
    return keys


def _weights_keys(state_dict: object) -> dict:
    """The state dict's entries less TransformerLens's attention buffers."""
    if not isinstance(state_dict, Mapping):
        hint = " (pass model.state_dict(), or use from_transformer_lens)" * hasattr(
            state_dict, "state_dict"
        )
        raise TransformerLensError(
            f"the state dict must be a mapping of names to tensors, got "
            f"{type(state_dict).__name__}{hint}"
        )
    weights = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TransformerLensError(f"the state dict's keys are names, got {key!r}")
        if key.startswith("blocks.") and key.split(".")[-1] in BUFFERS:
            continue
        weights[key] = value
    return weights


def _check_keys(found: dict, expected: dict, config: Config) -> None:
    unexpected = [key for key in found if key not in expected]
    for fragment, part in _PARTS:
        keys = [key for key in unexpected if fragment in key]
        if keys:
            raise TransformerLensError(
                f"the state dict has {part} ({keys[0]}, ...), which tensoralgebra does not model"
            )
    if config.normalization != "LN" and any(".ln1." in k or "ln_final." in k for k in unexpected):
        raise TransformerLensError(
            f"the state dict has LayerNorm weights (ln1.w, ln_final.w), but the config's "
            f"normalization_type is {config.normalization!r}: they need 'LN'"
        )
    if unexpected:
        raise TransformerLensError(f"the state dict has unexpected keys {unexpected}")
    missing = [key for key in expected if key not in found]
    if missing:
        what = "a key the config needs" if len(missing) == 1 else "keys the config needs"
        keys = missing[0] if len(missing) == 1 else missing
        hint = ""
        if any(key.split(".")[-1] in (*_BIAS_KEYS, "b_U") for key in missing):
            hint = "; the biases come all together (a model without one has zeros)"
        raise TransformerLensError(f"the state dict has no {keys} ({what}){hint}")


def _array(value: object, key: str, shape: tuple, dims: str, dtype) -> np.ndarray:
    array = to_numpy(value, key)
    if array.shape != shape:
        raise TransformerLensError(
            f"{key} has shape {tuple(array.shape)}, expected {shape} = [{dims}] from the config"
        )
    return frozen_array(array, key, shape, dims, dtype)


def from_state_dict(state_dict: object, cfg: object, weights_class: type = Weights) -> Weights:
    """:class:`~tensoralgebra.Weights` from a TransformerLens state dict and its config.

    ``state_dict`` maps TransformerLens's names (``embed.W_E`` [d_vocab, d_model],
    ``blocks.{l}.attn.W_Q`` [n_heads, d_model, d_head], ...: :func:`layout`) to torch tensors or
    numpy arrays; the attention buffers ``IGNORE`` and ``mask`` are skipped. ``cfg`` is a
    ``HookedTransformerConfig`` or a dict of its fields
    (:mod:`~tensoralgebra.io.transformer_lens_config`). The biases are read when the state dict
    has them (a TransformerLens model always does). Refused with a
    :class:`~tensoralgebra.io.transformer_lens_config.TransformerLensError` naming the part or
    the key: a config with parts this package does not model, keys missing or unexpected, a
    shape that disagrees with the config; and, as for any ``Weights``, other dtypes than
    float32 and float64, and values that are not finite.
    """
    config = read_config(cfg)
    found = _weights_keys(state_dict)
    bias_keys = {f"attn.{b}" for b in _BIAS_KEYS} | {"unembed.b_U"}
    biases = any(".".join(key.split(".")[-2:]) in bias_keys for key in found)
    expected = layout(config, biases)
    _check_keys(found, expected, config)
    arrays, dtype = {}, None
    for key, (shape, dims) in expected.items():
        arrays[key] = _array(found[key], key, shape, dims, dtype)
        dtype = arrays["embed.W_E"].dtype

    def layers(name: str, transpose: bool = False) -> list[np.ndarray]:
        found = [arrays[f"blocks.{layer}.{name}"] for layer in range(config.n_layers)]
        # Contiguous copies: the same weights then give the same bits whatever their origin.
        return [np.ascontiguousarray(a.transpose(0, 2, 1)) for a in found] if transpose else found

    fields = {m: layers(f"attn.{m}", transpose=True) for m in ("W_Q", "W_K", "W_V", "W_O")}
    fields |= {m: np.ascontiguousarray(arrays[key].T) for m, key in _MATRICES.items()}
    fields["positional"] = config.positional
    if biases:
        fields |= {b: layers(f"attn.{b}") for b in _BIAS_KEYS} | {"b_U": arrays["unembed.b_U"]}
    if config.normalization == "LN":
        fields |= dict(ln_w=layers("ln1.w"), ln_b=layers("ln1.b"))
        fields |= dict(ln_final_w=arrays["ln_final.w"], ln_final_b=arrays["ln_final.b"])
    return weights_class(
        **fields, n_ctx=config.n_ctx, normalization=config.normalization, eps=config.eps
    )


def from_transformer_lens(model: object, weights_class: type = Weights) -> Weights:
    """:class:`~tensoralgebra.Weights` from a TransformerLens model: a ``HookedTransformer``
    (2.x, 3.x), :func:`from_state_dict` of its ``state_dict()`` and ``cfg``; or a
    ``TransformerBridge`` (3.x's ``transformer_lens.model_bridge``, e.g. from ``boot_native``),
    :func:`from_state_dict` of its ``get_params()``, which are in the same layout. TransformerLens
    is never imported here: the model's class says what it is."""
    names = {(c.__module__.split(".")[0], c.__name__) for c in type(model).__mro__}
    if ("transformer_lens", "HookedTransformer") in names:
        return from_state_dict(model.state_dict(), model.cfg, weights_class)
    if ("transformer_lens", "TransformerBridge") in names:
        return from_state_dict(_bridge_params(model), model.cfg, weights_class)
    kind = f"{type(model).__module__}.{type(model).__name__}"
    raise TransformerLensError(
        "from_transformer_lens needs a transformer_lens HookedTransformer or TransformerBridge, "
        f"got {kind}"
    )


def _bridge_params(bridge: object) -> dict:
    """A bridge's parameters in HookedTransformer's layout. ``get_params`` fills parts a model
    lacks with zeros, MLPs included: an attention-only bridge's all-zero MLP entries are
    dropped; any other MLP entry is kept, so that :func:`from_state_dict` refuses the MLP."""
    params = dict(bridge.get_params())
    if getattr(bridge.cfg, "attn_only", False):
        for key in [k for k in params if ".mlp." in k]:
            if not bool((params[key] != 0).any()):
                del params[key]
    return params


def _check_exportable(weights: object) -> None:
    if not isinstance(weights, Weights):
        raise TransformerLensError(f"expected ta.Weights, got {type(weights).__name__}")
    heads = weights.architecture.heads
    if len(set(heads)) != 1 or heads[0] == 0:
        raise TransformerLensError(
            f"a TransformerLens model has the same number of heads, at least one, in every "
            f"layer; these weights have heads={heads}"
        )
    if weights.W_pos is None:
        raise TransformerLensError(
            "a TransformerLens model has a positional embedding; these weights have no W_pos "
            "(give them W_pos=zeros([d_model, n_ctx]) for a model that ignores positions)"
        )


def to_config(weights: Weights) -> dict:
    """The fields of the ``HookedTransformerConfig`` of ``weights`` (pass them as
    ``HookedTransformerConfig(**to_config(weights))``). Refused: a different number of heads in
    different layers, and no positional embedding, which TransformerLens models cannot have."""
    import torch  # a dependency, imported only by what hands torch objects out

    _check_exportable(weights)
    return dict(
        n_layers=len(weights.W_Q), d_model=weights.d_model, d_head=weights.d_head,
        n_heads=weights.W_Q[0].shape[0], d_vocab=weights.d_vocab, n_ctx=weights.n_ctx,
        attn_only=True, normalization_type=weights.normalization,
        positional_embedding_type=weights.positional, eps=weights.eps,
        dtype=getattr(torch, str(weights.dtype)),
    )  # fmt: skip


def to_state_dict(weights: Weights) -> dict:
    """The TransformerLens state dict of ``weights``: torch tensors in its row-vector layout
    (:func:`layout`), the inverse of :func:`from_state_dict` with :func:`to_config`'s config.
    It holds what ``weights`` has: no biases for a model without them, no attention buffers, so
    ``HookedTransformer.load_state_dict(..., strict=False)`` loads it (keeping its own zero
    biases and buffers)."""
    import torch  # a dependency, imported only by what hands torch objects out

    _check_exportable(weights)
    arrays = {"embed.W_E": weights.W_E.T, "pos_embed.W_pos": weights.W_pos.T}
    for layer in range(len(weights.W_Q)):
        attn = f"blocks.{layer}.attn"
        if weights.normalization == "LN":
            arrays[f"blocks.{layer}.ln1.w"] = weights.ln_w[layer]
            arrays[f"blocks.{layer}.ln1.b"] = weights.ln_b[layer]
        for m in ("W_Q", "W_K", "W_V", "W_O"):
            arrays[f"{attn}.{m}"] = getattr(weights, m)[layer].transpose(0, 2, 1)
        if weights.has_biases:
            arrays |= {f"{attn}.{b}": getattr(weights, b)[layer] for b in _BIAS_KEYS}
    if weights.normalization == "LN":
        arrays |= {"ln_final.w": weights.ln_final_w, "ln_final.b": weights.ln_final_b}
    arrays["unembed.W_U"] = weights.W_U.T
    if weights.has_biases:
        arrays["unembed.b_U"] = weights.b_U
    return {key: torch.from_numpy(np.array(value)) for key, value in arrays.items()}
