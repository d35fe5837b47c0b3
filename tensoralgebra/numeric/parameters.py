"""The parameters of real architectures beside the paper's matrices: biases, LayerNorm, and the
kinds of normalization and positions (docs/conventions.md §7).

Every one is optional in :class:`~tensoralgebra.Weights` and *absent* (``None``) by default, so a
model knows what it has. Shapes, in the paper's convention (column vectors):

====================  ========================  ================================================
field                 shape                     what
====================  ========================  ================================================
``b_Q[l]``            [n_heads_l, d_head]       query bias of each head of layer ``l``
``b_K[l]``, ``b_V[l]``  [n_heads_l, d_head]     key and value biases
``b_O[l]``            [d_model]                 output bias of layer ``l`` (one for all heads)
``b_U``               [d_vocab]                 unembedding bias
``ln_w[l]``           [d_model]                 weight of layer ``l``'s LayerNorm ``ln1``
``ln_b[l]``           [d_model]                 bias of ``ln1``
``ln_final_w``        [d_model]                 weight of the LayerNorm before ``W_U``
``ln_final_b``        [d_model]                 its bias
====================  ========================  ================================================

Biases come all together (``b_Q``, ``b_K``, ``b_V``, ``b_O``, ``b_U``) or not at all: a model
without one passes zeros. ``normalization`` is ``None`` (no LayerNorm), ``"LN"`` (centre, scale,
weight and bias: the four LayerNorm fields are needed) or ``"LNPre"`` (centre and scale only:
they must be absent); ``eps`` > 0 is added to the variance (default ``1e-5``). ``positional`` is
``None``, ``"standard"`` (``W_pos`` added to the residual stream) or ``"shortformer"`` (``W_pos``
added, after ``ln1``, to what each layer's queries and keys read, and nowhere else).
"""

from __future__ import annotations

from tensoralgebra import validation

#: The LayerNorm kinds a model may have (as TransformerLens's ``normalization_type``).
NORMALIZATIONS = (None, "LN", "LNPre")
#: The positional kinds a model's weights may have.
POSITIONALS = (None, "standard", "shortformer")
#: The biases, all given or none.
BIASES = ("b_Q", "b_K", "b_V", "b_O", "b_U")
#: The parameters of normalization "LN".
LAYER_NORM = ("ln_w", "ln_b", "ln_final_w", "ln_final_b")
#: The parameters with one array per layer.
PER_LAYER = ("b_Q", "b_K", "b_V", "b_O", "ln_w", "ln_b")
#: TransformerLens's default ``eps``.
EPS = 1e-5


def check_kinds(weights, error) -> None:
    """Check ``normalization``, ``eps``, ``positional`` and which parameters are present."""
    validation.choice(weights.normalization, "normalization", NORMALIZATIONS, error=error)
    validation.choice(weights.positional, "positional", POSITIONALS, error=error)
    validation.positive_number(weights.eps, "eps", error=error)
    if weights.positional is not None and weights.W_pos is None:
        raise error(f"positional is {weights.positional!r}, but there is no W_pos")
    given = [name for name in BIASES if getattr(weights, name) is not None]
    if given and len(given) != len(BIASES):
        missing = [name for name in BIASES if name not in given]
        raise error(
            f"the biases come all together: {', '.join(given)} given, {', '.join(missing)} "
            "missing (pass zeros for a bias the model does not have)"
        )
    given = [name for name in LAYER_NORM if getattr(weights, name) is not None]
    if weights.normalization == "LN" and len(given) != len(LAYER_NORM):
        missing = [name for name in LAYER_NORM if name not in given]
        missing = ", ".join(missing)
        raise error(f"normalization 'LN' needs its weights and biases: {missing} missing")
    if weights.normalization != "LN" and given:
        raise error(
            f"{', '.join(given)} given, but normalization is {weights.normalization!r}: "
            "LayerNorm weights and biases need normalization='LN' (LNPre has none)"
        )


def frozen_parameters(weights, frozen, layers, error) -> dict:
    """The present parameters, checked and frozen (``frozen(value, name, shape, dims)``);
    ``layers(value, name)`` splits a per-layer field into a tuple."""
    d_model, d_vocab, d_head = weights.d_model, weights.d_vocab, weights.d_head
    heads = [q.shape[0] for q in weights.W_Q]
    shapes = {
        "b_Q": lambda h: ((h, d_head), "n_heads, d_head"),
        "b_K": lambda h: ((h, d_head), "n_heads, d_head"),
        "b_V": lambda h: ((h, d_head), "n_heads, d_head"),
        "b_O": lambda h: ((d_model,), "d_model"),
        "ln_w": lambda h: ((d_model,), "d_model"),
        "ln_b": lambda h: ((d_model,), "d_model"),
    }
    out = {}
    for name, shape in shapes.items():
        value = getattr(weights, name)
        if value is None:
            continue
        per_layer = layers(value, name)
        if len(per_layer) != len(heads):
            raise error(
                f"{name} has {len(per_layer)} layers, but W_Q has {len(heads)}: one array a layer"
            )
        out[name] = tuple(
            frozen(v, f"{name}[{i}]", *shape(h)) for i, (v, h) in enumerate(zip(per_layer, heads))
        )
    for name, size, dims in (
        ("b_U", d_vocab, "d_vocab"),
        ("ln_final_w", d_model, "d_model"),
        ("ln_final_b", d_model, "d_model"),
    ):
        if getattr(weights, name) is not None:
            out[name] = frozen(getattr(weights, name), name, (size,), dims)
    return out


def draw(rng, heads, sizes, dtype, normalization, biases) -> dict:
    """Random parameters for ``Weights.random``: LayerNorm weights near 1 (``1 + N(0, 0.1²)``),
    LayerNorm biases and the model's biases small and non-zero (``N(0, 0.1²)``)."""
    d_model, d_head, d_vocab = sizes["d_model"], sizes["d_head"], sizes["d_vocab"]

    def small(shape, centre=0.0):
        return (centre + 0.1 * rng.standard_normal(shape)).astype(dtype)

    out = {}
    if normalization == "LN":
        out["ln_w"] = [small(d_model, 1.0) for _ in heads]
        out["ln_b"] = [small(d_model) for _ in heads]
        out["ln_final_w"], out["ln_final_b"] = small(d_model, 1.0), small(d_model)
    if biases:
        for name in ("b_Q", "b_K", "b_V"):
            out[name] = [small((h, d_head)) for h in heads]
        out["b_O"] = [small(d_model) for _ in heads]
        out["b_U"] = small(d_vocab)
    return out


def real_parts(weights) -> list[str]:
    """What the model has beyond the paper's idealised one, in words (empty if nothing)."""
    parts = []
    if weights.normalization is not None:
        parts.append(f"LayerNorm ({weights.normalization})")
    if weights.has_biases:
        parts.append("biases")
    if weights.positional == "shortformer":
        parts.append("shortformer positions")
    return parts
