"""Random weights for :meth:`~tensoralgebra.Weights.random`: the draw and its initial scales.

Every matrix is a block-wise draw of standard normals times a scale that depends on ``init``
(:data:`INITS`): ``"fan-in"`` keeps activations of order one, ``"gpt2"`` draws GPT-2's initial
scales. Both draw the same normals in the same order, so they differ by the scales alone, and
the LayerNorm parameters and biases (:func:`~tensoralgebra.numeric.parameters.draw`) come after
the matrices, so the matrices do not depend on them.

>>> fields = draw(Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)
>>> fields["W_E"].shape, fields["W_O"][0].shape, fields["W_pos"]
((4, 5), (1, 4, 2), None)
"""

from __future__ import annotations

import math

import numpy as np

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture
from tensoralgebra.numeric import budget, parameters
from tensoralgebra.numeric.checked import DTYPES, WeightsError

#: The initial scales :meth:`~tensoralgebra.Weights.random` draws.
INITS = ("fan-in", "gpt2")


def draw(
    arch: Architecture,
    *,
    d_model: int,
    d_head: int,
    d_vocab: int,
    n_ctx: int,
    seed: int = 0,
    dtype="float64",
    max_bytes: int = budget.MEMORY_BUDGET,
    normalization: str | None = None,
    biases: bool | None = None,
    positional: str | None = None,
    init: str = "fan-in",
) -> dict:
    """The fields of random :class:`~tensoralgebra.Weights` (the options and refusals of
    :meth:`~tensoralgebra.Weights.random`): ``W_E`` [d_model, d_vocab], ``W_U`` [d_vocab,
    d_model], per layer ``W_Q``, ``W_K``, ``W_V`` [n_heads, d_head, d_model] and ``W_O``
    [n_heads, d_model, d_head], ``W_pos`` [d_model, n_ctx] or ``None``, the real parameters,
    ``n_ctx``, ``normalization`` and ``positional``."""
    if not isinstance(arch, Architecture) or arch.is_schematic:
        raise WeightsError(f"Weights.random needs a concrete Architecture, got {arch!r}")
    sizes = {
        name: validation.positive_integer(value, name, error=WeightsError)
        for name, value in (
            ("d_model", d_model),
            ("d_head", d_head),
            ("d_vocab", d_vocab),
            ("n_ctx", n_ctx),
        )
    }
    rng = np.random.default_rng(validation.seed(seed, error=WeightsError))
    dtype = _dtype(dtype)
    max_bytes = validation.positive_integer(max_bytes, "max_bytes", error=WeightsError)
    positional = _kind(arch, "positional", positional, parameters.POSITIONALS)
    normalization = _kind(arch, "normalization", normalization, parameters.NORMALIZATIONS)
    biases = (
        arch.biases if biases is None else validation.flag(biases, "biases", error=WeightsError)
    )
    counted = Architecture(arch.heads, positional="standard" if positional else None)
    budget.check_weights(counted, sizes, dtype, max_bytes)
    d_model, d_head, d_vocab, n_ctx = sizes.values()
    init = validation.choice(init, "init", INITS, error=WeightsError)

    def draw(shape, scale):
        return _gaussian(rng, shape, scale, dtype)

    embed, read, write, position = _scales(init, d_model, d_head, arch.n_layers)
    heads = arch.heads
    matrices = dict(  # (drawn in this order, as they always were)
        W_E=draw((d_model, d_vocab), embed),
        W_U=draw((d_vocab, d_model), read),
        W_Q=[draw((h, d_head, d_model), read) for h in heads],
        W_K=[draw((h, d_head, d_model), read) for h in heads],
        W_V=[draw((h, d_head, d_model), read) for h in heads],
        W_O=[draw((h, d_model, d_head), write) for h in heads],
        W_pos=draw((d_model, n_ctx), position) if positional else None,
    )
    real = parameters.draw(rng, heads, sizes, dtype, normalization, biases)
    return {
        **matrices,
        **real,
        "n_ctx": n_ctx,
        "normalization": normalization,
        "positional": positional,
    }


def _kind(arch: Architecture, name: str, value: object, kinds: tuple) -> str | None:
    """``value`` of the architecture's kind ``name`` (``"positional"``, ``"normalization"``),
    defaulting to the architecture's own; refused when the two disagree."""
    value = validation.choice(value, name, kinds, error=WeightsError)
    own = getattr(arch, name)
    if value is not None and own not in (None, value):
        raise WeightsError(f"{name} is {value!r}, but the architecture has {own!r}")
    return value or own


def _dtype(value: object) -> np.dtype:
    try:
        dtype = None if value is None else np.dtype(value)
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype not in DTYPES:  # (np.dtype compares equal to None: float64)
        raise WeightsError(f"dtype is {value!r}: expected 'float32' or 'float64'")
    return dtype


def _scales(init: str, d_model: int, d_head: int, n_layers: int) -> tuple[float, ...]:
    """The standard deviations of (``W_E``, read matrices, ``W_O``, ``W_pos``) for ``init``."""
    if init == "gpt2":
        return 0.02, 0.02, 0.02 / math.sqrt(2 * max(n_layers, 1)), 0.01
    return 1.0, d_model**-0.5, d_head**-0.5, 1.0


#: Entries drawn at once by :func:`_gaussian` (8 MiB of float64).
_DRAWN = 2**20


def _gaussian(rng: np.random.Generator, shape: tuple, scale: float, dtype) -> np.ndarray:
    """``rng.standard_normal(shape) * scale`` cast to ``dtype``, drawn in float64 a block of
    rows at a time: the same values as one draw (the generator yields the same stream whatever
    the block sizes), without a float64 copy of the whole array when ``dtype`` is float32 (a
    float32 ``W_E`` of 48,262 tokens × 512 would otherwise pass through 0.4 GB of float64)."""
    out = np.empty(shape, dtype=dtype)
    flat = out.reshape(-1)  # a view: out is contiguous
    for start in range(0, flat.size, _DRAWN):
        stop = min(flat.size, start + _DRAWN)
        flat[start:stop] = rng.standard_normal(stop - start) * scale
    return out
