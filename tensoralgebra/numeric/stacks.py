"""Every path's contribution at once: stacks of residual streams that share their prefixes.

The stream a path ``p`` carries is ``R_p = A_p X_src W_src^T W_p^T`` [batch, seq, d_model]
(docs/conventions.md §2); a path one head longer is ``R_{p+h} = A^h R_p W_OV^{hT}``. Walking the
tree of paths depth first, each layer extends a whole stack of prefixes by all its heads in one
batched product, so work is shared between terms and Python loops once per chunk, never once per
path.
Memory stays bounded: stacks are cut into chunks of at most ``chunk`` paths.

Logit terms are ``R_p W_U^T``; the score terms of head ``(l, h)`` for query paths ``q`` and key
paths ``k`` (through layers before ``l``) are ``R_q W_QK^h R_k^T``, computed for a chunk of
query paths against a chunk of key paths as one matrix product per batch element.

>>> import numpy as np, tensoralgebra as ta
>>> from tensoralgebra.numeric.bind import Bindings
>>> arch = ta.Architecture(heads=(2, 2))
>>> model = ta.AttentionOnlyTransformer(
...     ta.Weights.random(arch, d_model=8, d_head=2, d_vocab=7, n_ctx=4))
>>> trace = model.run([[0, 3, 5, 1]])
>>> chunks = list(logit_terms(Bindings(model, trace)))
>>> sum(len(paths) for paths, _ in chunks), chunks[0][1].shape[1:]
(9, (1, 4, 7))
>>> bool(np.abs(sum(v.sum(0) for _, v in chunks) - trace.logits).max() < 1e-12)
True
"""

from __future__ import annotations

from collections.abc import Iterator

from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.paths import UNEMBEDDING_BIAS, LogitPath, bias_source
from tensoralgebra.scores import KEY_BIAS, QUERY_BIAS
from tensoralgebra.symbols import W_E, W_K, W_Q, W_QK, W_U, C, N, W_ln, W_pos, c, c_K, c_Q, c_U
from tensoralgebra.symbols import b_K as b_K_symbol
from tensoralgebra.symbols import b_Q as b_Q_symbol
from tensoralgebra.symbols import b_U as b_U_symbol

#: Default largest number of paths held in one stack.
CHUNK = 4096


def path_streams(
    b: Bindings, before: int | None = None, max_order: int | None = None, chunk: int = CHUNK
) -> Iterator[tuple[list[LogitPath], object]]:
    """``(paths, stack)`` chunks: ``stack[i]`` [batch, seq, d_model] is the stream of
    ``paths[i]``, for every path through layers before ``before`` (default: all layers) of
    order ≤ ``max_order``. Prefixes come before their extensions (depth-first order). With
    biases, the constant sources ``1 c^{Ll}ᵀ`` of the layers before ``before`` are roots too,
    extended by later layers only."""
    arch = b.architecture
    before = arch.n_layers if before is None else before
    top = before if max_order is None else max_order
    norm = arch.normalization
    paths = [LogitPath((), source, norm) for source in arch.sources]
    sources = [_embedded(b, source) for source in arch.sources]
    root = sources[0][None] if len(sources) == 1 else b.ops.stack(sources)
    yield from _walk(b, paths, root, 0, before, top, max(1, chunk))
    for layer in range(before) if arch.biases else ():
        constant = b.ones() @ b.matrix(c(layer)).T  # [seq, d_model]: 1 c^T
        stack = b.ops.stack([constant + b.ops.zeros((b.batch, *constant.shape), constant)])
        path = LogitPath((), bias_source(layer), norm)
        yield from _walk(b, [path], stack, layer + 1, before, top, max(1, chunk))


def _embedded(b: Bindings, source: str):
    matrix = W_E if source == "token" else W_pos
    return b.matrix(matrix).T[b.source(matrix.cols)]  # X W^T: the one-hots pick W's columns


def read(b: Bindings, stack, layer: int | None):
    """What a reader of the stream sees through its frozen LayerNorm, without the bias:
    ``N R W̃^T`` for each stream ``R`` of ``stack`` [..., batch, seq, d_model] (``layer=None``: the
    final LayerNorm); ``stack`` itself without normalization."""
    arch = b.architecture
    if arch.normalization is None:
        return stack
    w_tilde = C if arch.normalization == "LNPre" else W_ln(layer)
    return (stack @ b.matrix(w_tilde).T) * b.inverse_scale(N(layer))


def _walk(b, paths, stack, first_layer, before, top, chunk):
    yield paths, stack
    if not paths or len(paths[0].heads) >= top:
        return
    for layer in range(first_layer, before):
        n_heads = b.architecture.heads[layer]
        if n_heads == 0:
            continue
        patterns, ov = b.patterns(layer)[None], b.ov_stack(layer)[:, None]
        step = max(1, chunk // n_heads)
        for start in range(0, len(paths), step):
            prefix = read(b, stack[start : start + step], layer)
            # [n, 1, batch, seq, d] -> [n, heads, batch, seq, d]: every prefix through every head.
            extended = (patterns @ prefix[:, None]) @ ov
            longer = [
                LogitPath((*p.heads, (layer, h)), p.source, p.normalization)
                for p in paths[start : start + step]
                for h in range(n_heads)
            ]
            flat = extended.reshape(len(longer), *extended.shape[2:])
            yield from _walk(b, longer, flat, layer + 1, before, top, chunk)


def logit_terms(
    b: Bindings, max_order: int | None = None, chunk: int = CHUNK
) -> Iterator[tuple[list[LogitPath], object]]:
    """``(paths, values)`` chunks, ``values[i]`` [batch, seq, d_vocab] the logit term of
    ``paths[i]``, for every path of order ≤ ``max_order`` (prefix-sharing order); with biases
    the unembedding's constant ``1 c_U^T`` last."""
    unembed = b.matrix(W_U).T
    for paths, stack in regroup(b, path_streams(b, max_order=max_order, chunk=chunk), chunk):
        yield paths, read(b, stack, None) @ unembed
    arch = b.architecture
    if arch.biases:
        value = b.ones() @ unembedding_constant(b)  # [seq, d_vocab]
        path = LogitPath((), UNEMBEDDING_BIAS, arch.normalization)
        yield [path], b.ops.stack([value + b.ops.zeros((b.batch, *value.shape), value)])


def score_terms(
    b: Bindings, layer: int, head: int, max_order: int | None = None, chunk: int = CHUNK
) -> Iterator[tuple[list[LogitPath], list[LogitPath], object]]:
    """``(query paths, key paths, values)`` blocks of head ``(layer, head)``'s score terms,
    ``values[i, j]`` [batch, seq, seq] the term of query path ``i`` and key path ``j``
    (unscaled, pre-mask: ``R_q W_QK R_k^T``). In real architectures each side is read through
    the layer's frozen LayerNorm into the head's queries or keys, and the sides through no
    stream (shortformer positions, the head's own constants) come last: :func:`score_sides`."""
    if b.architecture.is_idealised:
        form = b.matrix(W_QK((layer, head)))
        for q_paths, q_stack in regroup(b, path_streams(b, layer, max_order, chunk), chunk):
            read_q = q_stack @ form  # [nq, batch, seq, d]
            for k_paths, k_stack in regroup(b, path_streams(b, layer, max_order, chunk), chunk):
                yield q_paths, k_paths, block_product(b.ops, read_q, k_stack)
        return
    for q_paths, q_stack in score_sides(b, layer, head, "query", max_order, chunk):
        for k_paths, k_stack in score_sides(b, layer, head, "key", max_order, chunk):
            yield q_paths, k_paths, block_product(b.ops, q_stack, k_stack)


def score_sides(b: Bindings, layer: int, head: int, side: str, max_order=None, chunk=CHUNK):
    """``(paths, stack)`` chunks of one side of a real architecture's score terms, in the head's
    query (``side="query"``) or key space: ``stack[i]`` [batch, seq, d_head] is
    ``N^{Ll} R_p W̃_l^T W_Q^{hT}`` for a stream path, ``W_pos^T W_Q^{hT}`` for shortformer
    positions and ``1 c_Q^T`` for the head's own constant (``W_K``, ``c_K`` for keys)."""
    arch, index = b.architecture, (layer, head)
    reads = b.matrix((W_Q if side == "query" else W_K)(index)).T  # [d_model, d_head]
    streams = path_streams(b, layer, max_order, chunk)
    for paths, stack in regroup(b, streams, chunk):
        yield paths, read(b, stack, layer) @ reads
    norm, extra, stacks = arch.normalization, [], []
    if arch.positional == "shortformer":
        extra.append(LogitPath((), "position", norm))
        stacks.append(b.matrix(W_pos).T[b.positions] @ reads)
    if arch.biases:
        extra.append(LogitPath((), QUERY_BIAS if side == "query" else KEY_BIAS, norm))
        value = b.ones() @ own_constant(b, layer, head, side)  # [seq, d_head]
        stacks.append(value + b.ops.zeros((b.batch, *value.shape), value))
    if extra:
        yield extra, b.ops.stack(stacks)


def unembedding_constant(b: Bindings):
    """``c_U^T`` (``b_U^T`` without LayerNorm weights) [1, d_vocab]."""
    return b.matrix(c_U if b.architecture.normalization == "LN" else b_U_symbol).T


def own_constant(b: Bindings, layer: int, head: int, side: str):
    """A head's own query (``side="query"``) or key constant, ``c_Q^T`` or ``b_Q^T``
    [1, d_head]."""
    if side == "query":
        own = c_Q if b.architecture.normalization == "LN" else b_Q_symbol
    else:
        own = c_K if b.architecture.normalization == "LN" else b_K_symbol
    return b.matrix(own((layer, head))).T


def regroup(b: Bindings, chunks, chunk: int = CHUNK):
    """The ``(paths, stack)`` chunks joined into stacks of up to ``chunk`` paths, so that the
    products after them are few and large (the depth-first walk yields many small stacks)."""
    paths, arrays = [], []
    for more, stack in chunks:
        if paths and len(paths) + len(more) > chunk:
            yield paths, b.ops.concat(arrays)
            paths, arrays = [], []
        paths.extend(more)
        arrays.append(stack)
    if paths:
        yield paths, b.ops.concat(arrays)


def block_product(ops, query, key):
    """``out[i, j] = query[i] @ key[j]^T`` for stacks [n, batch, seq, d]: one matrix product
    [batch, nq·seq, d] × [batch, d, nk·seq], returned as a view [nq, nk, batch, seq, seq]."""
    nq, batch, seq, d = query.shape
    nk = key.shape[0]
    left = ops.permute(query, (1, 0, 2, 3)).reshape(batch, nq * seq, d)
    right = ops.permute(key, (1, 0, 2, 3)).reshape(batch, nk * seq, d)
    out = (left @ right.swapaxes(-1, -2)).reshape(batch, nq, seq, nk, seq)
    return ops.permute(out, (1, 3, 0, 2, 4))


def pair_products(ops, queries, keys, q_index, k_index):
    """``out[n] = queries[q_index[n]] @ keys[k_index[n]]^T`` [len(q_index), batch, seq, seq] for
    stacks of sides [nq, batch, seq, d] and [nk, batch, seq, d]: the whole grid in one
    :func:`block_product` when it is at most twice as many products as the pairs (terms that
    share their sides, as an expansion's do), else each pair's sides gathered and multiplied.

    >>> import numpy as np
    >>> from tensoralgebra.numeric.bind import Bindings
    >>> q, k = np.arange(12.0).reshape(3, 1, 2, 2), np.ones((2, 1, 2, 2))
    >>> out = pair_products(Bindings.ops_for(q), q, k, [2, 0], [1, 1])
    >>> out.shape, bool((out[0] == q[2] @ k[1].swapaxes(-1, -2)).all())
    ((2, 1, 2, 2), True)
    """
    if len(queries) * len(keys) <= 2 * len(q_index):
        return block_product(ops, queries, keys)[q_index, k_index]
    return queries[q_index] @ keys[k_index].swapaxes(-1, -2)
