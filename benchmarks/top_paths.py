"""Time to the top 20 logit paths, with a certificate, at GPT-2-small shapes.

12 layers × 12 heads, d_model 768, d_head 64, d_vocab 50,257, a sequence of 64 random tokens,
random weights (``ta.Weights.random``: read matrices of variance 1/d_model, write matrices
1/d_head), float32; the target is one token's logit at the last position. There are
2 · 13^12 ≈ 4.7·10^13 paths; the search computes at most ``max_expansions`` path streams. The
goal is an answer in under 60 s. The weights take about 420 MB, within the default memory
budget. Run: ``python benchmarks/top_paths.py --threads 1`` (and ``--threads 2``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import threads  # first: sizes the thread pools before numpy and torch load

THREADS = threads.choose(__doc__.splitlines()[0])

import numpy as np

import tensoralgebra as ta

L, H, D_MODEL, D_HEAD, D_VOCAB, SEQ, K, TARGET = 12, 12, 768, 64, 50_257, 64, 20, 3


def main() -> None:
    print(threads.stated(THREADS))
    start = time.perf_counter()
    arch = ta.Architecture(heads=(H,) * L)
    weights = ta.Weights.random(
        arch, d_model=D_MODEL, d_head=D_HEAD, d_vocab=D_VOCAB, n_ctx=SEQ, dtype="float32"
    )
    model = ta.AttentionOnlyTransformer(weights)
    tokens = np.random.default_rng(1).integers(0, D_VOCAB, size=(1, SEQ))
    print(
        f"model built in {time.perf_counter() - start:.1f} s: {arch!r}, d_model {D_MODEL}, "
        f"d_head {D_HEAD}, d_vocab {D_VOCAB:,}, seq {SEQ}, float32; "
        f"{ta.format_count(ta.count_logit_paths(arch))} logit paths per source"
    )
    start = time.perf_counter()
    top = ta.top_paths(model, tokens, k=K, target=TARGET)
    elapsed = time.perf_counter() - start
    print(top.table())
    print(
        f"top {K} with a certificate in {elapsed:.1f} s "
        f"({top.expansions / elapsed:.0f} expansions/s; goal < 60 s)"
    )


if __name__ == "__main__":
    main()
