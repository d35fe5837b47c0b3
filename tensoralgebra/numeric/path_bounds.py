"""The bounds that order :func:`~tensoralgebra.numeric.path_search.top_paths` and make its
certificate: what every completion of a path prefix can contribute to a target, at most.

With the patterns of one forward pass frozen, a target ``g`` [d_vocab] reads at query position
``i`` the contribution ``c_p = g · (W_U r_p[i]) = u · r_p[i]`` (``u = W_U^T g`` [d_model]) of
path ``p``, whose stream ``r_p`` [seq, d_model] gains one head as ``r_{(p,h)} = A^h r_p
W_OV^{hT}`` (docs/conventions.md §2–3).

For a stream ``r`` let ``n[j] = ||r[j]||_2`` (its row norms, [seq]). A head maps row norms to at
most ``||W_OV^h||_2 A^h n`` (entrywise: the triangle inequality, and ``A^h ≥ 0``), so the row
norms of every choice a layer offers (skip, or one of its heads) sum to at most ``F_l n`` with
``F_l = Id + Σ_h ||W_OV^h||_2 A^h``. Write ``t = (m, h)`` for a head, ``α_t = A^t[i, :]``,
``v_t = W_OV^{tT} u`` (what the target reads through ``t``) and ``b_{t't} = ||W_OV^{t'T} v_t||``
(what it reads through ``t'`` then ``t``). A completion of a prefix ``p`` (further heads in
layers ``l..L-1``) is one of three kinds:

* no further head: ``|u · r_p[i]| ≤ ||u|| n_p[i]`` (Cauchy–Schwarz);
* exactly one, ``t``: ``u · r[i] = Σ_k α_t[k] r_p[k] · v_t``, so ``|c| ≤ ||v_t|| α_t · n_p``;
* two or more, the last two ``t'`` then ``t``, with the stream ``r''`` before ``t'`` a
  completion of ``p`` through layers ``l..m'-1``: ``u · r[i] = Σ_{k,j} α_t[k] A^{t'}[k, j]
  r''[j] · (W_OV^{t'T} v_t)``, so ``|c| ≤ b_{t't} (α_t A^{t'}) · n''``.

**The sum.** Summed over ``t``, the third kind is ``w_{t'} · n''`` with ``w_{t'} = β_{t'}
A^{t'}``, ``β_{t'} = Σ_{t later} b_{t't} α_t``, and the row norms ``n''`` of all such ``r''``
sum to at most ``F_{m'-1} ⋯ F_l n_p``. Hence ``Σ_c |c| ≤ T_l · n_p`` with

    T_l = ||u|| e_i + D_l + H_l,   D_l = Σ_{t in layers ≥ l} ||v_t|| α_t,
    H_l = Σ_{t' in layer l} β_{t'} A^{t'} + H_{l+1} F_l,   H_L = 0,

a non-negative vector over positions. Against the bound by operator norms alone (``H`` replaced
by ``G_l = Σ_h ||v_{l,h}|| α_{l,h} + G_{l+1} F_l``, which prices every head but the last at
``||W_OV||_2``), the last *two* heads are read exactly in the target's direction: ``b_{t't} ≤
||W_OV^{t'}||_2 ||v_t||``, and for a head of rank d_head in d_model dimensions the ratio is about
``sqrt(d_head / d_model)``. Since ``A^h`` is row-stochastic, ``T_l · n_p`` is at most
``||u||_2 Π_{m ≥ l} (1 + Σ_h ||W_OV^{m,h}||_2) max_j n_p[j]``.

**The largest.** The same three kinds bound the largest single ``|c|`` by ``V_l · n_p``, the
entrywise maximum of the kinds' vectors (a maximum of ``w · n`` over non-negative ``w`` is at
most ``(max w) · n``):

    V_l = max(||u|| e_i, max_{t in layers ≥ l} ||v_t|| α_t, R_l),
    R_l = max(R_{l+1}, max_{t' in layer l} s_{t'}, max_h ||W_OV^{l,h}||_2 R_{l+1} A^{l,h}),
    s_{t'} = (max_{t later} b_{t't} α_t) A^{t'},   R_L = 0,

where ``R_l`` bounds the completions of two or more heads: the second-to-last in layer ``l``
(``s``), or layer ``l`` skipped, or one of its heads taken before both.

**A child** ``p + t`` (``t = (m, h)``) waits in the search's frontier with bounds computed from
its parent's row norms before its own stream is, by the same kinds for the child (itself; one
more head, read exactly through ``t``; two or more, the child's row norms being at most
``||W_OV^t||_2 A^t n_p``): the sum ``K_t · n_p`` and the largest ``KV_t · n_p`` with

    K_t = ||v_t|| α_t + (β_t + ||W_OV^t||_2 H_{m+1}) A^t,
    KV_t = max(||v_t|| α_t, s_t, ||W_OV^t||_2 R_{m+1} A^t).

Nothing here needs a pattern to be row-stochastic, only non-negative: the score search
(:mod:`~tensoralgebra.numeric.score_sides`) uses the same bounds with the patterns times the
frozen LayerNorm scales, ``W_V W̃_m`` for ``W_V``, and a read ``u`` of the other side's vector.
Every bound is widened by a rounding margin (:func:`margin`) so that it holds for the computed
values too. Everything is float64 on the model's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PathBounds:
    """``T``, ``V`` [L+1, rows] (row ``l``: the sum and the largest over completions with
    further heads in layers ``l..L-1``), ``K``, ``KV`` [heads, rows] (a child's sum and largest,
    from its parent's row norms), ``K_rest``, ``KV_rest`` (the same without the child's own
    path: for a caller who knows it exactly), and the rounding ``margin`` they include."""

    T: torch.Tensor
    V: torch.Tensor
    K: torch.Tensor
    KV: torch.Tensor
    margin: float
    K_rest: torch.Tensor
    KV_rest: torch.Tensor


def path_bounds(
    u, W_V, W_O, patterns, rows: int, dtype: torch.dtype, *, position=None, ov=None
) -> PathBounds:
    """The bounds of the module docstring for the target read ``u`` [d_model] at row
    ``i = position`` (default ``rows - 1``) of ``patterns`` (per layer [n_heads, rows, rows],
    non-negative), the heads' ``W_V`` [n_heads, d_head, d_model] and ``W_O`` [n_heads, d_model,
    d_head] per layer, for streams of ``dtype``. ``ov``: the heads' ``||W_O W_V||_2`` per layer
    ([n_heads] each), when known (they do not depend on ``u``)."""
    u = u.double()
    f64 = dict(dtype=torch.float64, device=u.device)
    L = len(W_V)
    i = rows - 1 if position is None else position
    W_V = [w.double() for w in W_V]
    W_O = [w.double() for w in W_O]
    A = [p.double() for p in patterns]
    if ov is None:
        ov = [
            torch.tensor([ov_norm(o, v) for o, v in zip(W_O[m], W_V[m])], **f64) for m in range(L)
        ]
    reads = [torch.einsum("m,hmd,hdn->hn", u, W_O[m], W_V[m]) for m in range(L)]  # v_t
    direct = [
        torch.linalg.vector_norm(reads[m], dim=-1)[:, None] * A[m][:, i] for m in range(L)
    ]  # ||v_t|| α_t: [n_heads, rows]
    margin_ = margin(dtype, L, max(rows, u.shape[0]))
    last = margin_ * float(torch.linalg.vector_norm(u)) * _unit(rows, i, f64)
    zero = torch.zeros(rows, **f64)
    D, H, R, Dmax = zero, zero, zero, zero
    T, V, K, KV, K_rest, KV_rest = [last], [last], [], [], [], []
    for layer in reversed(range(L)):
        later_v = torch.cat([zero[:0].reshape(0, u.shape[0]), *reads[layer + 1 :]])
        later_alpha = torch.cat([zero[:0].reshape(0, rows), *(a[:, i] for a in A[layer + 1 :])])
        b = second_reads(W_O[layer], W_V[layer], later_v)  # [n_heads, later]
        weighted = b[:, :, None] * later_alpha[None]  # b_{t't} α_t: [n_heads, later, rows]
        beta = weighted.sum(1)
        s = torch.einsum("hj,hjk->hk", _max(weighted, 1, rows), A[layer])
        through_R = ov[layer][:, None] * torch.einsum("j,hjk->hk", R, A[layer])
        ahead = beta + ov[layer][:, None] * H  # one more head read exactly, then the rest
        rest = torch.einsum("hj,hjk->hk", ahead, A[layer])
        K.insert(0, margin_ * (direct[layer] + rest))
        KV.insert(0, margin_ * torch.maximum(torch.maximum(direct[layer], s), through_R))
        K_rest.insert(0, margin_ * rest)
        KV_rest.insert(0, margin_ * torch.maximum(s, through_R))
        F = torch.eye(rows, **f64) + torch.einsum("h,hjk->jk", ov[layer], A[layer])
        H = torch.einsum("hj,hjk->k", beta, A[layer]) + H @ F
        D = D + direct[layer].sum(0)
        R = torch.maximum(R, torch.maximum(_max(s, 0, rows), _max(through_R, 0, rows)))
        Dmax = torch.maximum(Dmax, _max(direct[layer], 0, rows))
        T.insert(0, last + margin_ * (D + H))
        V.insert(0, torch.maximum(last, margin_ * torch.maximum(Dmax, R)))
    empty = torch.zeros((0, rows), **f64)
    K, KV, K_rest, KV_rest = (torch.cat(xs) if xs else empty for xs in (K, KV, K_rest, KV_rest))
    return PathBounds(torch.stack(T), torch.stack(V), K, KV, margin_, K_rest, KV_rest)


def second_reads(W_O: torch.Tensor, W_V: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``b_{t't} = ||W_OV^{t'T} v_t||`` [n_heads, later] for this layer's heads ``t'`` (``W_O``
    [n_heads, d_model, d_head], ``W_V`` [n_heads, d_head, d_model]) and the reads ``v``
    [later, d_model] of later heads, without forming any d_model² matrix."""
    X = torch.einsum("hmd,tm->htd", W_O, v)  # W_O^{t'T} v_t: [n_heads, later, d_head]
    gram = W_V @ W_V.transpose(-1, -2)  # ||W_V^T x||² = x (W_V W_V^T) x
    return torch.einsum("htd,hde,hte->ht", X, gram, X).clamp(min=0).sqrt()


def margin(dtype: torch.dtype, n_layers: int, width: int) -> float:
    """Bounds are multiplied by this: each computed stream entry and norm may be off by about
    ``width · eps`` relatively per layer, so the computed values could exceed the exact bound."""
    return 1.0 + 8.0 * (n_layers + 2) * width * torch.finfo(dtype).eps


def ov_norm(W_O: torch.Tensor, W_V: torch.Tensor) -> float:
    """``||W_O W_V||_2`` [d_model, d_head] × [d_head, d_model] without forming the d_model²
    product: with ``W_V^T = Q R`` (Q orthonormal columns), ``||W_O W_V|| = ||W_O R^T||``."""
    _, R = torch.linalg.qr(W_V.T)
    return float(torch.linalg.matrix_norm(W_O @ R.T, ord=2))


def _max(x: torch.Tensor, dim: int, rows: int) -> torch.Tensor:
    """The entrywise maximum over ``dim`` of non-negative vectors, 0 over none."""
    if x.shape[dim] == 0:
        shape = list(x.shape)
        del shape[dim]
        return torch.zeros(shape, dtype=x.dtype, device=x.device)
    return x.amax(dim)


def _unit(rows: int, i: int, f64: dict) -> torch.Tensor:
    e = torch.zeros(rows, **f64)
    e[i] = 1.0
    return e
