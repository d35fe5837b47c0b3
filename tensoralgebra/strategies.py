"""Hypothesis strategies for attention-only transformers: architectures, weights, models, tokens.

Every strategy takes keyword-only bounds, so property tests state the sizes they explore:

>>> from hypothesis import given
>>> import tensoralgebra as ta
>>> from tensoralgebra.strategies import models, tokens
>>> @given(data=models(max_layers=2, max_heads=2).flatmap(
...     lambda m: tokens(m, max_batch=2).map(lambda t: (m, t))))
... def test_expansion(data):
...     model, toks = data
...     assert ta.verify(model, toks).ok
>>> test_expansion()

Requires Hypothesis (a test dependency). Nothing here changes Hypothesis's settings or profiles:
those stay the caller's.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture


@st.composite
def architectures(
    draw,
    *,
    max_layers: int = 4,
    max_heads: int = 3,
    min_layers: int = 0,
    positional: bool | None = None,
) -> Architecture:
    """Concrete architectures of ``min_layers..max_layers`` layers with ``0..max_heads`` heads
    each; ``positional``: True (standard positions), False (none) or None (either)."""
    max_layers = validation.integer(max_layers, "max_layers", low=0)
    max_heads = validation.integer(max_heads, "max_heads", low=0)
    min_layers = validation.integer(min_layers, "min_layers", low=0, high=max_layers + 1)
    validation.choice(positional, "positional", (True, False, None))
    heads = draw(st.lists(st.integers(0, max_heads), min_size=min_layers, max_size=max_layers))
    kinds = {True: ["standard"], False: [None], None: [None, "standard"]}[positional]
    return Architecture(heads=tuple(heads), positional=draw(st.sampled_from(kinds)))


@st.composite
def weights(
    draw,
    *,
    arch: Architecture | None = None,
    max_layers: int = 4,
    max_heads: int = 3,
    max_d_model: int = 8,
    max_d_head: int = 4,
    max_d_vocab: int = 10,
    max_n_ctx: int = 6,
    dtypes: tuple[str, ...] = ("float64",),
):
    """:class:`~tensoralgebra.Weights` for ``arch`` (default: drawn from :func:`architectures`),
    with sizes from 1 to the bounds, Gaussian entries (``Weights.random``), dtype in ``dtypes``."""
    from tensoralgebra.numeric.weights import Weights

    bounds = {
        name: validation.positive_integer(value, name)
        for name, value in (
            ("max_d_model", max_d_model),
            ("max_d_head", max_d_head),
            ("max_d_vocab", max_d_vocab),
            ("max_n_ctx", max_n_ctx),
        )
    }
    for dtype in dtypes:
        validation.choice(dtype, "each of dtypes", ("float32", "float64"))
    if arch is None:
        arch = draw(architectures(max_layers=max_layers, max_heads=max_heads))
    return Weights.random(
        arch,
        d_model=draw(st.integers(1, bounds["max_d_model"])),
        d_head=draw(st.integers(1, bounds["max_d_head"])),
        d_vocab=draw(st.integers(1, bounds["max_d_vocab"])),
        n_ctx=draw(st.integers(1, bounds["max_n_ctx"])),
        seed=draw(st.integers(0, 2**32 - 1)),
        dtype=draw(st.sampled_from(dtypes)),
    )


@st.composite
def models(draw, **bounds):
    """:class:`~tensoralgebra.AttentionOnlyTransformer` s; keyword bounds as for :func:`weights`."""
    from tensoralgebra.numeric.model import AttentionOnlyTransformer

    return AttentionOnlyTransformer(draw(weights(**bounds)))


@st.composite
def tokens(draw, model, *, max_batch: int = 3, min_seq: int = 1, max_seq: int | None = None):
    """Token batches [batch, seq] for ``model``: ``1..max_batch`` sequences of one length in
    ``min_seq..min(max_seq, n_ctx)``, every token in the vocabulary (int64)."""
    d_vocab, n_ctx = model.W_E.shape[1], model.n_ctx
    max_batch = validation.positive_integer(max_batch, "max_batch")
    min_seq = validation.positive_integer(min_seq, "min_seq")
    if max_seq is not None:
        max_seq = validation.positive_integer(max_seq, "max_seq")
    top = n_ctx if max_seq is None else min(max_seq, n_ctx)
    batch = draw(st.integers(1, max_batch))
    seq = draw(st.integers(min(min_seq, top), top))
    rows = st.lists(st.integers(0, d_vocab - 1), min_size=seq, max_size=seq)
    return np.array(draw(st.lists(rows, min_size=batch, max_size=batch)), dtype=np.int64)
