"""TransformerLens import: state dicts read without TransformerLens (known values, round trips,
every refusal), and agreement with TransformerLens's own forward passes where it is installed."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import tensoralgebra as ta
from tensoralgebra.io import (
    TransformerLensError,
    from_state_dict,
    to_config,
    to_state_dict,
)
from tensoralgebra.numeric.checked import WeightsError

D_MODEL, D_HEAD, N_HEADS, D_VOCAB, N_CTX, N_LAYERS = 6, 3, 2, 7, 5, 2


def config(**changes) -> dict:
    base = dict(
        n_layers=N_LAYERS, d_model=D_MODEL, d_head=D_HEAD, n_heads=N_HEADS, d_vocab=D_VOCAB,
        n_ctx=N_CTX, attn_only=True, normalization_type="LN", eps=1e-6,
    )  # fmt: skip
    return base | changes


def state_dict(normalization="LN", biases=True, buffers=True) -> dict:
    """A TransformerLens-layout state dict whose every entry is distinct: entry i of key k holds
    k's index times 1000 plus i, so a transposed or swapped array is visible."""
    shapes = {"embed.W_E": (D_VOCAB, D_MODEL), "pos_embed.W_pos": (N_CTX, D_MODEL)}
    for layer in range(N_LAYERS):
        block = f"blocks.{layer}"
        if normalization == "LN":
            shapes |= {f"{block}.ln1.w": (D_MODEL,), f"{block}.ln1.b": (D_MODEL,)}
        for m in ("W_Q", "W_K", "W_V"):
            shapes[f"{block}.attn.{m}"] = (N_HEADS, D_MODEL, D_HEAD)
        shapes[f"{block}.attn.W_O"] = (N_HEADS, D_HEAD, D_MODEL)
        if biases:
            shapes |= {f"{block}.attn.{b}": (N_HEADS, D_HEAD) for b in ("b_Q", "b_K", "b_V")}
            shapes[f"{block}.attn.b_O"] = (D_MODEL,)
    if normalization == "LN":
        shapes |= {"ln_final.w": (D_MODEL,), "ln_final.b": (D_MODEL,)}
    shapes["unembed.W_U"] = (D_MODEL, D_VOCAB)
    if biases:
        shapes["unembed.b_U"] = (D_VOCAB,)
    state = {
        key: (1000.0 * index + np.arange(np.prod(shape))).reshape(shape) / 1000
        for index, (key, shape) in enumerate(shapes.items())
    }
    if buffers:
        for layer in range(N_LAYERS):
            state[f"blocks.{layer}.attn.mask"] = torch.empty((0, 0), dtype=torch.bool)
            state[f"blocks.{layer}.attn.IGNORE"] = torch.tensor(-torch.inf)
    return state


def same_weights(a: ta.Weights, b: ta.Weights) -> bool:
    for name in ("normalization", "positional", "eps", "n_ctx", "dtype"):
        if getattr(a, name) != getattr(b, name):
            return False
    for name in ("W_E", "W_U", "W_pos", "b_U", "ln_final_w", "ln_final_b"):
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
            return False
    for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O", "ln_w", "ln_b"):
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None):
            return False
        if x is not None and not all(np.array_equal(u, v) for u, v in zip(x, y, strict=True)):
            return False
    return True


# --- reading a state dict, without TransformerLens ----------------------------------------------


@pytest.mark.parametrize("as_torch", [False, True])
def test_state_dict_is_transposed_into_the_papers_convention(as_torch):
    state = state_dict()
    given = {k: torch.from_numpy(v) if as_torch and isinstance(v, np.ndarray) else v
             for k, v in state.items()}  # fmt: skip
    w = ta.Weights.from_state_dict(given, config())
    assert (w.normalization, w.positional, w.eps, w.n_ctx, w.dtype) == (
        "LN", "standard", 1e-6, N_CTX, np.float64,
    )  # fmt: skip
    assert np.array_equal(w.W_E, state["embed.W_E"].T)
    assert np.array_equal(w.W_U, state["unembed.W_U"].T)
    assert np.array_equal(w.W_pos, state["pos_embed.W_pos"].T)
    for layer in range(N_LAYERS):
        attn = f"blocks.{layer}.attn"
        for h in range(N_HEADS):
            for m in ("W_Q", "W_K", "W_V", "W_O"):
                assert np.array_equal(getattr(w, m)[layer][h], state[f"{attn}.{m}"][h].T)
        for b in ("b_Q", "b_K", "b_V", "b_O"):
            assert np.array_equal(getattr(w, b)[layer], state[f"{attn}.{b}"])
        assert np.array_equal(w.ln_w[layer], state[f"blocks.{layer}.ln1.w"])
        assert np.array_equal(w.ln_b[layer], state[f"blocks.{layer}.ln1.b"])
    assert np.array_equal(w.b_U, state["unembed.b_U"])
    assert np.array_equal(w.ln_final_w, state["ln_final.w"])
    assert np.array_equal(w.ln_final_b, state["ln_final.b"])


@pytest.mark.parametrize(
    "normalization, positional, biases",
    [("LNPre", "shortformer", True), (None, "standard", False), (None, "shortformer", True)],
)
def test_state_dict_kinds(normalization, positional, biases):
    cfg = config(normalization_type=normalization, positional_embedding_type=positional)
    w = from_state_dict(state_dict(normalization, biases), cfg)
    assert (w.normalization, w.positional, w.has_biases) == (normalization, positional, biases)
    assert w.ln_w is None and w.ln_final_w is None


def test_float32_state_dict_stays_float32():
    state = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v
             for k, v in state_dict().items()}  # fmt: skip
    assert from_state_dict(state, config()).dtype == np.float32


@pytest.mark.parametrize("normalization", [None, "LN", "LNPre"])
@pytest.mark.parametrize("positional", ["standard", "shortformer"])
@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_through_a_state_dict(normalization, positional, biases, dtype):
    arch = ta.Architecture(heads=(3, 3, 3))
    w = ta.Weights.random(arch, d_model=8, d_head=4, d_vocab=11, n_ctx=6, seed=5, dtype=dtype,
                          normalization=normalization, biases=biases,
                          positional=positional)  # fmt: skip
    state, cfg = to_state_dict(w), to_config(w)
    assert all(isinstance(value, torch.Tensor) for value in state.values())
    assert same_weights(from_state_dict(state, cfg), w)


def test_to_state_dict_writes_transformer_lens_layout():
    w = ta.Weights.from_state_dict(state_dict(), config())
    state = to_state_dict(w)
    expected = {k: v for k, v in state_dict().items() if isinstance(v, np.ndarray)}
    assert list(state) == list(expected)
    assert all(np.array_equal(state[k].numpy(), expected[k]) for k in expected)


def test_importing_tensoralgebra_never_imports_transformer_lens():
    code = (
        "import sys, tensoralgebra, tensoralgebra.io, tensoralgebra.io.transformer_lens; "
        "print('transformer_lens' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- refusals ----------------------------------------------------------------------------------


def _without(key):
    def change(state):
        del state[key]

    return change


def _with(key, value):
    def change(state):
        state[key] = value

    return change


CONFIG_REFUSALS = [
    (dict(attn_only=False), "MLPs (attn_only is False"),
    (dict(attn_only=None), "MLPs (attn_only is False"),
    (dict(positional_embedding_type="rotary"), "rotary positions (positional_embedding_type"),
    (dict(positional_embedding_type="alibi"), "ALiBi positions"),
    (dict(positional_embedding_type="relative_positional_bias"), "relative position biases"),
    (dict(positional_embedding_type=None), "positions it does not know"),
    (dict(n_key_value_heads=1), "grouped-query attention (n_key_value_heads is 1)"),
    (dict(normalization_type="LNPost"), "post-LayerNorm (normalization_type 'LNPost'"),
    (dict(normalization_type="RMS"), "RMS norms (normalization_type 'RMS'"),
    (dict(normalization_type="RMSPre"), "RMS norms (normalization_type 'RMSPre'"),
    (dict(normalization_type="BatchNorm"), "a normalization it does not know"),
    (dict(final_rms=True), "RMS norms"),
    (dict(parallel_attn_mlp=True), "parallel attention and MLP"),
    (dict(use_attn_scale=False), "without the 1/sqrt(d_head) scale (use_attn_scale is False)"),
    (dict(attn_scale=2.0), "an attention scale of 2.0, not sqrt(d_head) = 1.73"),
    (dict(scale_attn_by_inverse_layer_idx=True), "scaled by the inverse layer index"),
    (dict(attention_dir="bidirectional"), "bidirectional attention (not causal)"),
    (dict(use_local_attn=True), "local attention"),
    (dict(use_qk_norm=True), "query and key normalization"),
    (dict(clip_qkv=8.0), "clipped queries, keys and values"),
    (dict(use_logn_attn=True), "log-length attention scaling"),
    (dict(attn_scores_soft_cap=50.0), "soft-capped attention scores"),
    (dict(output_logits_soft_cap=30.0), "soft-capped logits"),
    (dict(use_attention_sinks=True), "attention sinks"),
    (dict(post_embedding_ln=True), "a LayerNorm after the embedding"),
    (dict(use_normalization_before_and_after=True), "normalization before and after"),
    (dict(num_experts=4), "a mixture of experts"),
    (dict(d_vocab_out=3), "an output vocabulary of 3 tokens unlike the input's 7"),
    (dict(load_in_4bit=True), "4-bit quantized weights"),
    (dict(attn_only=False, positional_embedding_type="rotary"), "attn_only is False: pass"),
    (dict(normalisation_type="LN"), "unknown config keys ['normalisation_type']"),
    (dict(n_ctx=None), "the config has no n_ctx"),
    (dict(d_model=0), "d_model"),
    (dict(d_head="3"), "d_head"),
    (dict(n_heads=2.0), "n_heads"),
    (dict(eps=0.0), "eps"),
    (dict(eps=float("nan")), "eps"),
]


@pytest.mark.parametrize("changes, fragment", CONFIG_REFUSALS)
def test_config_refusals(changes, fragment):
    with pytest.raises(TransformerLensError) as error:
        from_state_dict(state_dict(), config(**changes))
    assert fragment in str(error.value)


def _nan(state):
    state["blocks.1.attn.W_V"] = state["blocks.1.attn.W_V"].copy()
    state["blocks.1.attn.W_V"][0, 1, 2] = np.nan


STATE_REFUSALS = [
    (_without("blocks.1.attn.W_K"), "has no blocks.1.attn.W_K (a key the config needs)"),
    (_without("pos_embed.W_pos"), "has no pos_embed.W_pos"),
    (_without("ln_final.b"), "has no ln_final.b"),
    (_without("blocks.0.attn.b_K"), "the biases come all together"),
    (_without("unembed.b_U"), "has no unembed.b_U (a key the config needs); the biases come"),
    (_with("blocks.0.mlp.W_in", np.zeros((6, 24))), "has MLPs (blocks.0.mlp.W_in, ...)"),
    (_with("blocks.0.ln2.w", np.ones(6)), "a second LayerNorm (ln2)"),
    (_with("blocks.0.attn._W_K", np.zeros((1, 6, 3))), "has grouped-query attention"),
    (_with("blocks.0.attn.rotary_sin", np.zeros((5, 3))), "has rotary positions"),
    (_with("blocks.0.attn.q_norm.w", np.ones(3)), "query and key normalization"),
    (_with("decoder.W", np.ones(3)), "unexpected keys ['decoder.W']"),
    (_with("blocks.0.attn.W_Q", np.ones((2, 3, 6))), "blocks.0.attn.W_Q has shape (2, 3, 6), "
     "expected (2, 6, 3) = [n_heads, d_model, d_head] from the config"),
    (_with("embed.W_E", np.ones((6, 7))), "embed.W_E has shape (6, 7), expected (7, 6)"),
    (_with("unembed.b_U", np.ones(6)), "unembed.b_U has shape (6,), expected (7,) = [d_vocab]"),
    (_with("blocks.1.ln1.w", np.ones(5)), "blocks.1.ln1.w has shape (5,), expected (6,)"),
    (_with("blocks.0.attn.b_Q", np.ones((3, 3))), "expected (2, 3) = [n_heads, d_head]"),
    (_nan, "blocks.1.attn.W_V"),
    (_with("unembed.W_U", torch.ones(6, 7, dtype=torch.bfloat16)), "unembed.W_U has dtype "
     "torch.bfloat16"),
    (_with("unembed.W_U", np.ones((6, 7), dtype=np.int64)), "unembed.W_U has dtype int64"),
    (_with("unembed.W_U", np.ones((6, 7), dtype=np.float32)), "unembed.W_U has dtype float32, "
     "but W_E has float64"),
    (_with("unembed.W_U", [[1.0] * 7] * 6), "unembed.W_U must be a numpy array or a torch"),
    (_with(3, np.ones(3)), "the state dict's keys are names, got 3"),
]  # fmt: skip


@pytest.mark.parametrize("change, fragment", STATE_REFUSALS)
def test_state_dict_refusals(change, fragment):
    state = state_dict()
    change(state)
    with pytest.raises(WeightsError) as error:
        from_state_dict(state, config())
    assert fragment in str(error.value)


class _Model(torch.nn.Module):
    pass


_Hooked = type("HookedTransformer", (), {"__module__": "elsewhere"})

OTHER_REFUSALS = [
    (lambda: from_state_dict(_Model(), config()), "got _Model (pass model.state_dict(), or"),
    (lambda: from_state_dict([1, 2], config()), "a mapping of names to tensors, got list"),
    (lambda: from_state_dict(state_dict(), 5), "a HookedTransformerConfig or a dict of its"),
    (lambda: from_state_dict(state_dict(None), config()), "has no ['blocks.0.ln1.w', "
     "'blocks.0.ln1.b', 'blocks.1.ln1.w', 'blocks.1.ln1.b', 'ln_final.w', 'ln_final.b']"),
    (lambda: from_state_dict(state_dict("LN"), config(normalization_type="LNPre")),
     "has LayerNorm weights (ln1.w, ln_final.w), but the config's normalization_type is "
     "'LNPre': they need 'LN'"),
    (lambda: ta.Weights.from_transformer_lens(_Hooked()), "needs a transformer_lens"),
    (lambda: ta.Weights.from_transformer_lens(_Model()), "HookedTransformer or "
     "TransformerBridge, got test_transformer_lens._Model"),
    (lambda: to_state_dict(ta.Weights.random(ta.Architecture((2, 1), positional="standard"),
     d_model=4, d_head=2, d_vocab=5, n_ctx=3)), "the same number of heads, at least one, in "
     "every layer; these weights have heads=(2, 1)"),
    (lambda: to_config(ta.Weights.random(ta.Architecture((2,)), d_model=4, d_head=2,
     d_vocab=5, n_ctx=3)), "these weights have no W_pos"),
    (lambda: to_config("weights"), "expected ta.Weights, got str"),
]  # fmt: skip


@pytest.mark.parametrize("call, fragment", OTHER_REFUSALS)
def test_other_refusals(call, fragment):
    with pytest.raises(TransformerLensError) as error:
        call()
    assert fragment in str(error.value)


def test_refusals_are_tensor_algebra_errors():
    assert issubclass(TransformerLensError, WeightsError)
    assert issubclass(TransformerLensError, ta.TensorAlgebraError)


# --- agreement with TransformerLens, where it is installed ----------------------------------------

TOLERANCE = 1e-10  # relative, float64 (docs/conventions.md §5)


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="CI installs the extra")
def test_ci_runs_the_transformer_lens_tests():
    # .ci/run installs the transformer-lens extra: a broken install must fail here rather than
    # skip every agreement test below in silence.
    import transformer_lens

    assert hasattr(transformer_lens, "HookedTransformer"), transformer_lens.__file__


def hooked_transformer(normalization, positional, seed=0):
    """A random-init float64 HookedTransformer, built offline from its config, with every
    parameter redrawn (TransformerLens starts its biases at zero and LayerNorm weights at one)."""
    lens = pytest.importorskip("transformer_lens")
    cfg = lens.HookedTransformerConfig(
        n_layers=2, d_model=8, d_head=4, n_heads=3, d_vocab=11, n_ctx=6, attn_only=True,
        normalization_type=normalization, positional_embedding_type=positional,
        dtype=torch.float64, device="cpu", eps=1e-5,
    )  # fmt: skip
    model = lens.HookedTransformer(cfg)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            kind = name.split(".")[-1]
            draw = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            scale = 0.1 if kind in ("w", "b") or kind.startswith("b_") else 1 / 8**0.5
            parameter.copy_(draw * scale + (kind == "w"))
    return model


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def compare(model, weights) -> dict:
    """Our forward pass against TransformerLens's on random tokens: logits, unscaled scores
    (TransformerLens's ``hook_attn_scores`` are divided by sqrt(d_head) and masked), patterns."""
    tokens = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
    trace = ta.AttentionOnlyTransformer(weights).run(tokens.numpy())
    below = np.tril(np.ones((6, 6), dtype=bool))
    errors = {"logits": relative_error(trace.logits, logits.numpy())}
    for layer in range(2):
        scores = cache[f"blocks.{layer}.attn.hook_attn_scores"].numpy() * np.sqrt(4)
        errors[f"scores {layer}"] = relative_error(trace.scores[layer][..., below],
                                                   scores[..., below])  # fmt: skip
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"].numpy()
        errors[f"pattern {layer}"] = relative_error(trace.patterns[layer], pattern)
    return errors


KINDS = [(n, p) for n in ("LN", "LNPre", None) for p in ("standard", "shortformer")]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("normalization, positional", KINDS)
def test_agrees_with_transformer_lens(normalization, positional):
    model = hooked_transformer(normalization, positional)
    weights = ta.Weights.from_transformer_lens(model)
    assert weights.architecture == ta.Architecture(
        (3, 3), positional=positional, normalization=normalization, biases=True
    )
    errors = compare(model, weights)
    assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("normalization, positional", KINDS)
def test_to_state_dict_loads_into_transformer_lens(normalization, positional):
    lens = pytest.importorskip("transformer_lens")
    weights = ta.Weights.random(ta.Architecture((3, 3)), d_model=8, d_head=4, d_vocab=11,
                                n_ctx=6, seed=2, normalization=normalization, biases=True,
                                positional=positional)  # fmt: skip
    model = lens.HookedTransformer(lens.HookedTransformerConfig(**to_config(weights)))
    missing, unexpected = model.load_state_dict(to_state_dict(weights), strict=False)
    assert unexpected == [] and all(k.split(".")[-1] in ("mask", "IGNORE") for k in missing)
    assert same_weights(ta.Weights.from_transformer_lens(model), weights)
    errors = compare(model, weights)
    assert max(errors.values()) <= TOLERANCE, errors


def transformer_lens_folding(model):
    """A new model with ``model``'s weights processed by TransformerLens's own functions, in
    float64: LayerNorm folded (reading weights centred), writing weights centred, value biases
    folded, as ``process_weights_(center_unembed=False)`` does. (``process_weights_`` itself
    computes in float32 since TransformerLens 3, which would leave float32's rounding in a
    float64 model.)"""
    lens = pytest.importorskip("transformer_lens")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state = model.fold_layer_norm(state)
    state = model.center_writing_weights(state)
    state = model.fold_value_biases(state)
    for layer in range(model.cfg.n_layers):  # as process_weights_ does after folding b_V
        b_O = state[f"blocks.{layer}.attn.b_O"]
        state[f"blocks.{layer}.attn.b_O"] = b_O - b_O.mean()
    cfg = lens.HookedTransformerConfig(**{**model.cfg.to_dict(), "normalization_type": "LNPre"})
    folded = lens.HookedTransformer(cfg)
    _, unexpected = folded.load_state_dict(state, strict=False)
    assert all(".ln1." in k or "ln_final." in k for k in unexpected), unexpected
    return folded


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("seed", [0, 1])
def test_fold_ln_agrees_with_transformer_lens(seed):
    model = hooked_transformer("LN", "standard", seed)
    weights = ta.Weights.from_transformer_lens(model)
    folded = ta.fold_value_biases(ta.center_writing_weights(ta.fold_ln(weights)))
    theirs = transformer_lens_folding(model)
    assert ta.Weights.from_transformer_lens(theirs).normalization == "LNPre"
    errors = {f"ta.fold_ln vs their folding, {k}": v for k, v in compare(theirs, folded).items()}
    errors |= {f"ta.fold_ln vs unfolded, {k}": v for k, v in compare(model, folded).items()}
    imported = ta.Weights.from_transformer_lens(theirs)
    errors |= {f"their folding imported, {k}": v for k, v in compare(theirs, imported).items()}
    assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_process_weights_model_is_read_as_it_computes():
    model = hooked_transformer("LN", "standard", 3)
    model.process_weights_(fold_ln=True, center_writing_weights=True, center_unembed=False)
    processed = ta.Weights.from_transformer_lens(model)
    assert processed.normalization == "LNPre" and processed.ln_w is None
    errors = compare(model, processed)
    assert max(errors.values()) <= TOLERANCE, errors


def _native_bridge(normalization, lens, **extra):
    """A randomly initialised TL-native TransformerBridge (no download), every parameter moved
    off its initial value so that biases and LayerNorm weights matter."""
    bridge_module = pytest.importorskip("transformer_lens.model_bridge")
    cfg = dict(n_layers=2, d_model=8, d_head=4, n_heads=2, d_vocab=11, n_ctx=6, seed=0)
    cfg |= dict(attn_only=True, normalization_type=normalization, act_fn=None) | extra
    bridge = bridge_module.TransformerBridge.boot_native(cfg, dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in bridge.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator).double())
    return bridge


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("normalization", ["LN", "LNPre", None])
def test_a_transformer_bridge_is_read_as_it_computes(normalization):
    lens = pytest.importorskip("transformer_lens")
    bridge = _native_bridge(normalization, lens)
    weights = ta.Weights.from_transformer_lens(bridge)
    tokens = torch.tensor([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]])
    want = bridge(tokens).detach().numpy()
    got = ta.AttentionOnlyTransformer(weights).run(tokens.numpy()).logits
    assert np.abs(got - want).max() <= 1e-10 * np.abs(want).max()
    assert weights.architecture.normalization == normalization
    assert ta.verify(ta.AttentionOnlyTransformer(weights), tokens.numpy()).ok


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_transformer_bridge_with_mlps_is_refused():
    lens = pytest.importorskip("transformer_lens")
    bridge = _native_bridge("LN", lens, attn_only=False, act_fn="gelu", d_mlp=16)
    with pytest.raises(TransformerLensError, match="MLP"):
        ta.Weights.from_transformer_lens(bridge)
