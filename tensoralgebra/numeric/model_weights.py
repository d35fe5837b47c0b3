"""A model's parameters as :class:`~tensoralgebra.Weights`: what ``model.weights`` (a checked
copy) and ``model.weights_view()`` (checked read-only views, inside
:func:`~tensoralgebra.numeric.checked.sharing`) build.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture((2,), biases=True), d_model=4, d_head=2, d_vocab=5,
...                       n_ctx=3)
>>> back = weights_of(ta.AttentionOnlyTransformer(w))
>>> back.architecture == w.architecture, bool((back.b_U == w.b_U).all())
(True, True)
"""

from __future__ import annotations

from tensoralgebra.numeric.weights import Weights

#: The per-layer parameters a model may lack (all layers have them, or none).
OPTIONAL_PER_LAYER = ("b_Q", "b_K", "b_V", "b_O", "ln_w", "ln_b")


def weights_of(model) -> Weights:
    """The current parameters of ``model`` (an
    :class:`~tensoralgebra.AttentionOnlyTransformer`) as :class:`~tensoralgebra.Weights`,
    validated again (finite, shapes)."""

    def per_layer(name):
        values = [getattr(layer, name) for layer in model.layers]
        return None if not values or any(v is None for v in values) else values

    layers = {
        n: [getattr(layer, n) for layer in model.layers] for n in ("W_Q", "W_K", "W_V", "W_O")
    }
    layers.update({n: per_layer(n) for n in OPTIONAL_PER_LAYER})
    if not model.layers:  # no layer to say which per-layer parameters exist
        layers.update(_no_layers(model))
    return Weights(
        W_E=model.W_E,
        W_U=model.W_U,
        **layers,
        W_pos=model.W_pos,
        n_ctx=model.n_ctx,
        b_U=model.b_U,
        ln_final_w=model.ln_final_w,
        ln_final_b=model.ln_final_b,
        normalization=model.normalization,
        eps=model.eps,
        positional=model.positional,
    )


def _no_layers(model) -> dict:
    """A model without layers still says whether it has biases and LayerNorm weights."""
    empty = {"b_Q": [], "b_K": [], "b_V": [], "b_O": []} if model.b_U is not None else {}
    return {**empty, **({"ln_w": [], "ln_b": []} if model.ln_final_w is not None else {})}
