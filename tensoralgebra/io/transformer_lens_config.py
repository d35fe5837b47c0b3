"""A TransformerLens model config, read and checked: what this package can model, and a refusal
naming every part it cannot.

A config is TransformerLens's ``HookedTransformerConfig`` or a dict of its fields (what
``cfg.to_dict()`` gives); a field a dict leaves out takes ``HookedTransformerConfig``'s default, so
``attn_only`` must be given (its default, ``False``, means MLPs). A dict's keys must be fields this
package knows: a misspelt key would otherwise be read as its default, and a setting it cannot
check could change the model.

>>> config = read_config(dict(n_layers=2, d_model=8, d_head=4, n_heads=2, d_vocab=11, n_ctx=5,
...                           attn_only=True, normalization_type="LNPre"))
>>> config.normalization, config.positional, config.eps
('LNPre', 'standard', 1e-05)
>>> read_config(dict(n_layers=2, d_model=8, d_head=4, n_heads=2, d_vocab=11, n_ctx=5,
...                  positional_embedding_type="rotary"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.io.transformer_lens_config.TransformerLensError: this TransformerLens model has parts tensoralgebra does not model: MLPs (attn_only is False...); rotary positions ...
"""  # noqa: E501

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tensoralgebra import validation
from tensoralgebra.numeric.checked import WeightsError

#: The sizes a config must give (``HookedTransformerConfig`` has no usable default for them).
SIZES = ("n_layers", "d_model", "d_head", "n_heads", "d_vocab", "n_ctx")

#: The settings read, with ``HookedTransformerConfig``'s defaults.
DEFAULTS = {
    "attn_only": False,
    "normalization_type": "LN",
    "positional_embedding_type": "standard",
    "eps": 1e-5,
    "n_key_value_heads": None,
    "use_attn_scale": True,
    "attn_scale": -1.0,
    "scale_attn_by_inverse_layer_idx": False,
    "parallel_attn_mlp": False,
    "attention_dir": "causal",
    "use_local_attn": False,
    "use_qk_norm": False,
    "clip_qkv": None,
    "use_logn_attn": False,
    "attn_scores_soft_cap": -1.0,
    "output_logits_soft_cap": -1.0,
    "use_attention_sinks": False,
    "post_embedding_ln": False,
    "use_normalization_before_and_after": False,
    "uses_rms_norm": False,
    "final_rms": False,
    "num_experts": None,
    "d_vocab_out": -1,
    "load_in_4bit": False,
}

#: Fields of ``HookedTransformerConfig`` that do not change what the model computes from its
#: weights (names, devices, initialisation, hooks, settings of parts refused elsewhere).
INERT = frozenset(
    """model_name act_fn d_mlp use_hook_mlp_in use_attn_in use_attn_result use_split_qkv_input
    ungroup_grouped_query_attention original_architecture from_checkpoint checkpoint_index
    checkpoint_label_type checkpoint_value tokenizer_name window_size attn_types init_mode
    n_devices seed initializer_range init_weights rotary_dim n_params use_hook_tokens gated_mlp
    dtype device tokenizer_prepends_bos default_prepend_bos rotary_base rotary_scaling_factor
    trust_remote_code rotary_adjacent_pairs quantization_method experts_per_token
    relative_attention_max_distance relative_attention_num_buckets decoder_start_token_id
    tie_word_embeddings use_NTK_by_parts_rope NTK_by_parts_low_freq_factor
    NTK_by_parts_high_freq_factor NTK_by_parts_factor NTK_original_ctx_len use_yarn_rope
    yarn_factor yarn_attention_factor yarn_beta_fast yarn_beta_slow
    yarn_original_max_position_embeddings yarn_truncate yarn_global_attn_only norm_topk_prob
    train_seq_length use_dynamic_ntk_rope layer_norm_folding""".split()  # noqa: SIM905
)

_POSITIONS = {
    "rotary": "rotary positions",
    "alibi": "ALiBi positions",
    "relative_positional_bias": "relative position biases",
}
_NORMS = {"LNPost": "post-LayerNorm", "RMS": "RMS norms", "RMSPre": "RMS norms"}


class TransformerLensError(WeightsError):
    """A TransformerLens model, config or state dict this package cannot read exactly; the
    message names the part (MLPs, rotary positions, ...) or the key."""


@dataclass(frozen=True)
class Config:
    """What this package reads from a config: the sizes and the kinds."""

    n_layers: int
    d_model: int
    d_head: int
    n_heads: int
    d_vocab: int
    n_ctx: int
    normalization: str | None
    positional: str
    eps: float


def _getter(cfg: object):
    if isinstance(cfg, Mapping):
        unknown = sorted(str(k) for k in cfg if k not in {*SIZES, *DEFAULTS, *INERT})
        if unknown:
            raise TransformerLensError(
                f"unknown config keys {unknown}: not HookedTransformerConfig fields this package "
                "knows, so it cannot tell whether they change the model"
            )
        return lambda name: cfg.get(name, DEFAULTS.get(name))
    if not hasattr(cfg, "d_model"):
        raise TransformerLensError(
            "the config must be a HookedTransformerConfig or a dict of its fields, got "
            f"{type(cfg).__name__}"
        )
    return lambda name: getattr(cfg, name, DEFAULTS.get(name))


def read_config(cfg: object) -> Config:
    """The sizes and kinds of ``cfg``; a :class:`TransformerLensError` listing every part this
    package does not model, or naming the size or value that is wrong."""
    get = _getter(cfg)
    sizes = {}
    for name in SIZES:
        if get(name) is None:
            raise TransformerLensError(f"the config has no {name}")
        sizes[name] = validation.positive_integer(get(name), name, error=TransformerLensError)
    unsupported = unsupported_parts(get, sizes)
    if unsupported:
        raise TransformerLensError(
            "this TransformerLens model has parts tensoralgebra does not model: "
            + "; ".join(unsupported)
            + " (it models attention-only transformers: docs/importing.md)"
        )
    eps = validation.positive_number(get("eps"), "eps", error=TransformerLensError)
    normalization = get("normalization_type")
    return Config(**sizes, normalization=normalization, positional=get("positional_embedding_type"),
                  eps=float(eps))  # fmt: skip


def unsupported_parts(get, sizes: dict) -> list[str]:
    """Each part of the config this package does not model, in words naming the setting."""
    checks = [
        (not get("attn_only"), "MLPs (attn_only is False: pass attn_only=True for a model "
         "without them)"),
        (get("n_key_value_heads") is not None, "grouped-query attention (n_key_value_heads is "
         f"{get('n_key_value_heads')!r})"),
        (not get("use_attn_scale"), "attention scores without the 1/sqrt(d_head) scale "
         "(use_attn_scale is False)"),
        (get("use_attn_scale") and get("attn_scale") not in (-1, math.sqrt(sizes["d_head"])),
         f"an attention scale of {get('attn_scale')!r}, not sqrt(d_head) = "
         f"{math.sqrt(sizes['d_head'])!r}"),
        (get("scale_attn_by_inverse_layer_idx"), "attention scaled by the inverse layer index"),
        (get("parallel_attn_mlp"), "parallel attention and MLP"),
        (get("attention_dir") != "causal", f"{get('attention_dir')} attention (not causal)"),
        (get("use_local_attn"), "local attention"),
        (get("use_qk_norm"), "query and key normalization (use_qk_norm)"),
        (get("clip_qkv") is not None, "clipped queries, keys and values (clip_qkv)"),
        (get("use_logn_attn"), "log-length attention scaling (use_logn_attn)"),
        (_positive(get("attn_scores_soft_cap")), "soft-capped attention scores"),
        (_positive(get("output_logits_soft_cap")), "soft-capped logits"),
        (get("use_attention_sinks"), "attention sinks"),
        (get("post_embedding_ln"), "a LayerNorm after the embedding (post_embedding_ln)"),
        (get("use_normalization_before_and_after"), "normalization before and after each "
         "sublayer"),
        (get("uses_rms_norm") or get("final_rms"), "RMS norms"),
        (get("num_experts") is not None, "a mixture of experts"),
        (get("d_vocab_out") not in (-1, sizes["d_vocab"]), f"an output vocabulary of "
         f"{get('d_vocab_out')!r} tokens unlike the input's {sizes['d_vocab']}"),
        (get("load_in_4bit"), "4-bit quantized weights"),
    ]  # fmt: skip
    parts = [part for refused, part in checks if refused]
    parts += _kinds(get("normalization_type"), get("positional_embedding_type"))
    return parts


def _positive(value: object) -> bool:
    """Whether a soft cap is on (TransformerLens turns one off with -1)."""
    return isinstance(value, int | float) and value > 0


def _kinds(normalization: object, positional: object) -> list[str]:
    parts = []
    if normalization not in (None, "LN", "LNPre"):
        what = _NORMS.get(normalization, "a normalization it does not know")
        parts.append(f"{what} (normalization_type {normalization!r}; None, 'LN', 'LNPre' are read)")
    if positional not in ("standard", "shortformer"):
        what = _POSITIONS.get(positional, "positions it does not know")
        parts.append(
            f"{what} (positional_embedding_type {positional!r}; 'standard' and 'shortformer' "
            "are read)"
        )
    return parts
