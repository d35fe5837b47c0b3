"""Time to the top 20 logit paths, with a certificate, at GPT-2-small shapes.

12 layers × 12 heads, d_model 768, d_head 64, d_vocab 50,257, a sequence of 64 random tokens,
random weights at GPT-2's initial scales (``ta.Weights.random(..., init="gpt2")``: standard
deviation 0.02, ``0.02 / sqrt(24)`` for ``W_O``, 0.01 for ``W_pos``; ``--init fan-in`` for the
package's default scales, read matrices of variance 1/d_model and write matrices 1/d_head),
float32; the target is one token's logit at the last position. There are 2 · 13^12 ≈ 4.7·10^13
paths; the search computes at most ``max_expansions`` path streams. The goal is an answer in
under 60 s. The weights take about 420 MB, within the default memory budget. Run:
``python benchmarks/top_paths.py --threads 1`` (and ``--threads 2``, ``--init fan-in``).

It then prints how the certificate comes about: the bound ``T_0 · n`` of the root with the
operator norms alone (``||W_OV||_2`` for every head but the last) and with the last two heads
read in the target's direction (this search's), the ratio of the two, and the factor
``1 + Σ_h ||W_OV||_2`` each open layer multiplies a sum bound by (the floor of a bound by
norms). Last, the top 20 score terms of head L11H0 at the last query and its most attended
key (``ta.top_score_paths``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import threads  # first: sizes the thread pools before numpy and torch load


def _configure(parser) -> None:
    parser.add_argument(
        "--init", choices=("gpt2", "fan-in"), default="gpt2", help="initial scales (gpt2)"
    )


ARGS = threads.options(__doc__.splitlines()[0], _configure)
THREADS = ARGS.threads

import numpy as np

import tensoralgebra as ta

L, H, D_MODEL, D_HEAD, D_VOCAB, SEQ, K, TARGET = 12, 12, 768, 64, 50_257, 64, 20, 3


def main() -> None:
    print(threads.stated(THREADS))
    start = time.perf_counter()
    arch = ta.Architecture(heads=(H,) * L)
    weights = ta.Weights.random(
        arch,
        d_model=D_MODEL,
        d_head=D_HEAD,
        d_vocab=D_VOCAB,
        n_ctx=SEQ,
        dtype="float32",
        init=ARGS.init,
    )
    model = ta.AttentionOnlyTransformer(weights)
    del weights  # the model holds its own parameters
    tokens = np.random.default_rng(1).integers(0, D_VOCAB, size=(1, SEQ))
    print(
        f"model built in {time.perf_counter() - start:.1f} s: {arch!r}, d_model {D_MODEL}, "
        f"d_head {D_HEAD}, d_vocab {D_VOCAB:,}, seq {SEQ}, float32, init {ARGS.init}; "
        f"{ta.format_count(ta.count_logit_paths(arch))} logit paths per source"
    )
    start = time.perf_counter()
    top = ta.top_paths(model, tokens, k=K, target=TARGET)
    elapsed = time.perf_counter() - start
    print(top.table())
    print(
        f"top {K} with a certificate in {elapsed:.1f} s "
        f"({top.expansions / elapsed:.0f} expansions/s; goal < 60 s); "
        + ("exact" if top.exact else "best effort")
    )
    why(model, tokens)
    start = time.perf_counter()
    scores = ta.top_score_paths(model, tokens, L - 1, 0, k=K)
    elapsed = time.perf_counter() - start
    print(scores.table())
    print(f"top {K} score terms with a certificate in {elapsed:.1f} s")


def why(model, tokens) -> None:
    """The root's bound with operator norms only and with this search's bound, and the factor
    per open layer that a bound by norms cannot avoid."""
    import torch

    from tensoralgebra.numeric.path_search import Search, target_vector

    trace = model.run(tokens)
    search = Search(model, trace, target_vector(TARGET, D_VOCAB))
    with torch.no_grad():
        stream = model.W_E.T[torch.from_numpy(tokens[0])]
        tight, _ = search.bounds(stream, 0)
        search.T = operator_norm_bounds(search)
        loose, _ = search.bounds(stream, 0)
    per_head = [
        float(torch.linalg.matrix_norm(layer.W_O[h].double() @ layer.W_V[h].double(), 2))
        for layer in model.layers[:1]
        for h in range(H)
    ]
    print(
        f"bound on every token path (T_0 · n): {loose:.3g} by operator norms, {tight:.3g} with "
        f"the last two heads in the target's direction ({loose / tight:.2f}× tighter); the "
        f"exact sum of |contributions| is at least |total| = {abs(top_total(trace)):.3g}"
    )
    print(
        f"each open layer multiplies a sum bound by norms by up to 1 + Σ_h ||W_OV||_2 = "
        f"{1 + sum(per_head):.3g} (layer 0), over 12 open layers: the certificate bounds the "
        "sum over ~10^13 paths left out, far above any one of them"
    )


def top_total(trace) -> float:
    return float(trace.logits[0, -1, TARGET])


def operator_norm_bounds(search):
    """``T_l`` with ``G_l = Σ_h ||v_{l,h}|| α + G_{l+1} F_l``: every head but the last priced at
    ``||W_OV||_2`` (the bound before the target's direction went two heads deep)."""
    import torch

    from tensoralgebra.numeric.path_bounds import ov_norm

    u, i = search.u.double(), search.rows - 1
    T = [search.T[-1]]
    G = torch.zeros_like(T[0])
    for m in reversed(range(L)):
        W_O, W_V = search.W_O[m].double(), search.W_V[m].double()
        A = search.patterns[m].double()
        reads = torch.linalg.vector_norm(torch.einsum("m,hmd,hdn->hn", u, W_O, W_V), dim=-1)
        ov = torch.tensor([ov_norm(W_O[h], W_V[h]) for h in range(H)], dtype=torch.float64)
        F = torch.eye(len(G), dtype=torch.float64) + torch.einsum("h,hjk->jk", ov, A)
        G = reads @ A[:, i, :] + G @ F
        T.insert(0, T[-1] + search.margin * G)
    return torch.stack(T)


if __name__ == "__main__":
    main()
