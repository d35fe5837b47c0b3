"""Speed of term evaluation: shared-prefix stacks against numpy GEMM and a per-term loop.

For (L, H) = (3, 8), d_model 64, d_head 8, seq 32, batch 1:

- score terms of a third-layer head (layer 2, head 0): 81 query paths × 81 key paths = 6561
  terms, evaluated by ``tensoralgebra.numeric.stacks.score_terms`` (one batched product of the
  query-side and key-side stacks). Achieved FLOP/s counts the stacks' matrix products and the
  final product; it is compared with numpy's GEMM FLOP/s on a 1024³ product in the same run;
- the same terms one by one with ``ta.evaluate`` on each term's expression (timed on an evenly
  spaced sample and scaled to all terms): the naive loop the stacks replace;
- the logit terms (729) likewise, stacks against a per-term loop;
- ``ta.verify`` with every term checked at (L, H) = (3, 4), (4, 4) and (5, 4), d_model 32,
  d_head 8, d_vocab 50, seq 16, batch 2 (what ``tensoralgebra verify --heads 5x4 --d-model 32
  --d-head 8 --d-vocab 50 --n-ctx 16`` runs), against the floor for "every term computed":
  every logit term and every head's every score term evaluated once with the stacks. Each is
  run ``RUNS`` times in turn and the least time kept, in CPU time of the process (the goal's
  figure: a shared machine's neighbours are not in it) and in wall time. The ratio of the two,
  the same without the symbolic checks (``expansion_limit=0, expr_limit=0``: no ``ta.expand``
  of up to 4,096 terms per quantity, no printed expressions evaluated symbol by symbol, whose
  cost per term is Python's), and the process's peak resident memory during one more verify
  (sampled from ``/proc/self/statm``).

Run: ``python benchmarks/verify.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import threads  # first: sizes the thread pools before numpy and torch load


def _configure(parser) -> None:
    parser.add_argument(
        "--large",
        action="store_true",
        help="also 6 layers of 4 heads, and the shapes of a 4-layer model of 6 and of 8 heads",
    )
    parser.add_argument(
        "--case", choices=("6x4", "4x6", "4x8"), help="one --large case, in this process (a child)"
    )


ARGS = threads.options(__doc__.splitlines()[0], _configure)
THREADS, LARGE, CASE = ARGS.threads, ARGS.large, ARGS.case

import threading

import numpy as np

import tensoralgebra as ta
from tensoralgebra.numeric import budget, stacks
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.evaluation import Evaluator
from tensoralgebra.symbols import W_QK

L, H, D_MODEL, D_HEAD, SEQ, D_VOCAB = 3, 8, 64, 8, 32, 512
LAYER, HEAD, REPEATS, SAMPLE = 2, 0, 5, 200


def best(fn, repeats=REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def gemm_flops() -> float:
    a, b = np.random.default_rng(0).standard_normal((2, 1024, 1024))
    return 2 * 1024**3 / best(lambda: a @ b)


def main() -> None:
    print(threads.stated(THREADS))
    stacks_against_loops()  # its model, traces and terms are freed before verify is timed
    for heads in ((4,) * 3, (4,) * 4, (4,) * 5):
        verify_against_floor(heads)
    if LARGE:
        for case in LARGE_CASES:
            large_in_child(case)


def stacks_against_loops() -> None:
    arch = ta.Architecture(heads=(H,) * L)
    weights = ta.Weights.random(arch, d_model=D_MODEL, d_head=D_HEAD, d_vocab=D_VOCAB, n_ctx=SEQ)
    model = ta.AttentionOnlyTransformer(weights)
    tokens = np.random.default_rng(1).integers(0, D_VOCAB, size=(1, SEQ))
    trace = model.run(tokens)
    b = Bindings(model, trace)

    def scores():
        return [v for _, _, v in stacks.score_terms(b, LAYER, HEAD)]

    n_paths = (1 + H) ** LAYER
    n_terms = n_paths**2
    [block] = scores()
    assert block.shape[:2] == (n_paths, n_paths)
    assert np.allclose(block.sum((0, 1)), trace.head_scores(LAYER, HEAD), rtol=1e-10, atol=1e-9)
    # FLOPs: the stacks (per extension: pattern product and W_OV product), the W_QK product,
    # and the final product; the stacks are built twice (query and key side).
    extend = sum(
        H**k * (2 * SEQ * SEQ * D_MODEL + 2 * SEQ * D_MODEL * D_MODEL) for k in range(1, LAYER + 1)
    )
    flops = 2 * extend * LAYER + 2 * n_paths * SEQ * D_MODEL**2 + 2 * n_terms * SEQ * SEQ * D_MODEL
    ours = best(scores)
    peak = gemm_flops()
    official = list(ta.score_paths(arch, LAYER, HEAD))
    sample = official[:: max(1, len(official) // SAMPLE)]
    evaluator = Evaluator(b)
    loop = best(lambda: [evaluator.value(t.expr) for t in sample], 2) * len(official) / len(sample)
    print(f"score terms of L{LAYER}H{HEAD}, (L, H) = ({L}, {H}), d_model {D_MODEL}, seq {SEQ}:")
    print(f"  {n_terms} terms in {ours * 1e3:.1f} ms: {flops / ours / 1e9:.1f} GFLOP/s")
    print(f"  numpy GEMM (1024³): {peak / 1e9:.1f} GFLOP/s -> fraction {flops / ours / peak:.0%}")
    print(f"  per-term loop (ta.evaluate): {loop * 1e3:.0f} ms -> speed-up {loop / ours:.0f}×")

    def logits():
        return [v for _, v in stacks.logit_terms(b)]

    ours = best(logits)
    paths = list(ta.logit_paths(arch))
    sample = paths[:: max(1, len(paths) // SAMPLE)]
    loop = best(lambda: [evaluator.value(p.expr) for p in sample], 2) * len(paths) / len(sample)
    print(f"logit terms ({len(paths)}), d_vocab {D_VOCAB}:")
    print(
        f"  stacks {ours * 1e3:.1f} ms, per-term loop {loop * 1e3:.0f} ms "
        f"-> speed-up {loop / ours:.0f}×"
    )


SCALE = {"d_model": 32, "d_head": 8, "d_vocab": 50, "n_ctx": 16}


def every_term_once(model, tokens) -> int:
    """Every logit term and every head's every score term evaluated once with the stacks (the
    sides of a layer's heads built once, their products in blocks of 128 × 128 sides so memory
    stays small): the floor for a check of every term. Returns how many terms."""
    trace = model.run(tokens)
    b = Bindings(model, trace)
    n = sum(len(paths) for paths, _ in stacks.logit_terms(b))
    arch = model.architecture
    for layer in range(arch.n_layers):
        sides = [stack for _, stack in stacks.regroup(b, stacks.path_streams(b, layer))]
        stack = np.concatenate(sides)
        for head in range(arch.heads[layer]):
            query = stack @ b.matrix(W_QK((layer, head)))
            for i in range(0, len(stack), 128):
                for j in range(0, len(stack), 128):
                    stacks.block_product(b.ops, query[i : i + 128], stack[j : j + 128])
            n += len(stack) ** 2
    return n


class PeakRSS:
    """The process's largest resident set size while the block runs, sampled every 5 ms."""

    def __enter__(self):
        self.start = self.peak = _rss()
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


#: Runs of each timed case (floor, verify, verify without the symbolic checks), in turn; the
#: least of each is reported: on a shared machine the others measure the neighbours too.
RUNS = 5


def _timed(fn) -> tuple[float, float]:
    """``(wall seconds, CPU seconds of this process)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def verify_against_floor(heads) -> None:
    arch = ta.Architecture(heads=heads)
    model = ta.AttentionOnlyTransformer(ta.Weights.random(arch, **SCALE, seed=0))
    tokens = np.random.default_rng(0).integers(0, SCALE["d_vocab"], size=(2, SCALE["n_ctx"]))
    n = every_term_once(model, tokens)
    report = ta.verify(model, tokens)
    assert report.ok, report.table()
    floor, ours, streamed = [], [], []
    for _ in range(RUNS):
        floor.append(_timed(lambda: every_term_once(model, tokens)))
        ours.append(_timed(lambda: ta.verify(model, tokens)))
        streamed.append(_timed(lambda: ta.verify(model, tokens, expansion_limit=0, expr_limit=0)))
    (floor_wall, floor_cpu), (ours_wall, ours_cpu), (_, streamed_cpu) = (
        tuple(map(min, zip(*runs))) for runs in (floor, ours, streamed)
    )
    with PeakRSS() as rss:  # a run of its own: the sampler's thread is not in the times above
        ta.verify(model, tokens)
    checked = sum(c.checked or 0 for c in report.checks)
    every = all(c.checked == c.terms for c in report.checks if c.checked is not None)
    symbolic = ours_cpu - streamed_cpu
    # Below 4 layers the stacks take milliseconds, and the symbolic checks' cost (at most
    # expansion_limit and expr_limit terms a quantity) is what the ratio shows.
    goal = "goal ≤ 5×" if len(heads) >= 4 else "no goal: the symbolic checks' cost per quantity"
    name = "x".join(map(str, (len(heads), heads[0])))
    print(f"verify {name}, d_model 32, d_head 8, d_vocab 50, seq 16, batch 2 (least of {RUNS}):")
    print(f"  every term once with the stacks ({n:,} terms): CPU {floor_cpu:.3f} s")
    print(
        f"  verify, {checked:,} terms checked one by one ({'all' if every else 'a sample'}): "
        f"CPU {ours_cpu:.3f} s -> ratio {ours_cpu / floor_cpu:.1f}× ({goal}); "
        f"wall {ours_wall:.3f} s against {floor_wall:.3f} s -> {ours_wall / floor_wall:.1f}×"
    )
    print(
        f"  of which the streamed checks (sums, every term against its restricted pass; "
        f"expansion_limit=0, expr_limit=0): CPU {streamed_cpu:.3f} s -> ratio "
        f"{streamed_cpu / floor_cpu:.1f}×"
    )
    print(
        f"  and the symbolic checks (ta.expand's terms and the printed expressions, evaluated "
        f"symbol by symbol): CPU {symbolic:.3f} s -> {symbolic / floor_cpu:.1f}×"
    )
    sizes = {**SCALE, "batch": 2, "seq": SCALE["n_ctx"], "itemsize": 8, "max_bytes": 2**30}
    sizes["on_host"] = True
    estimate = sum(budget.verify_parts(arch, None, True, sizes).values())
    print(
        f"  memory: peak RSS {rss.peak / 2**30:.2f} GiB (goal ≤ 1 GB = 0.93 GiB); estimate "
        f"{estimate / 2**30:.3f} GiB, grown during verify {(rss.peak - rss.start) / 2**30:.3f} GiB"
    )


LARGE_SIZES = {"d_model": 512, "d_head": 64, "d_vocab": 48262, "n_ctx": 1024}
#: The ``--large`` cases, each in a fresh process: layers, heads per layer, sizes and dtype (tokens
#: [2, 64] in all): six layers of four heads at the small cases' widths, and the shapes of a
#: 4-layer model of 6 and of 8 heads (attn-only-4l's).
LARGE_CASES = {
    "6x4": (6, 4, {**SCALE, "n_ctx": 64}, "float64"),
    "4x6": (4, 6, LARGE_SIZES, "float32"),
    "4x8": (4, 8, LARGE_SIZES, "float32"),
}


def large_in_child(case: str) -> None:
    """``--case case`` in a fresh process, so that its peak resident set is its own."""
    import subprocess

    argv = [sys.executable, __file__, "--threads", str(THREADS), "--case", case]
    subprocess.run(argv, check=True)


def large_case(case: str) -> None:
    """``ta.verify`` of one of :data:`LARGE_CASES` (random weights, tokens [2, 64], the default
    budgets): time, the process's peak resident set (Python and torch included) and the
    estimate ``verify`` checks its budget with, part by part, against what it grew."""
    import resource

    layers, heads, shapes, dtype = LARGE_CASES[case]
    arch = ta.Architecture(heads=(heads,) * layers)
    start = time.perf_counter()
    weights = ta.Weights.random(arch, **shapes, dtype=dtype, seed=0)
    model = ta.AttentionOnlyTransformer(weights)
    del weights  # as the command line does: the model holds its own parameters
    drawn = time.perf_counter() - start
    tokens = np.random.default_rng(0).integers(0, shapes["d_vocab"], size=(2, 64))
    sizes = {**shapes, "batch": 2, "seq": 64, "itemsize": np.dtype(dtype).itemsize}
    sizes |= {"max_bytes": 2**30, "on_host": True}
    parts = budget.verify_parts(arch, None, True, sizes)
    with PeakRSS() as rss:
        start = time.perf_counter()
        report = ta.verify(model, tokens)
        ours = time.perf_counter() - start
    assert report.ok, report.table()
    top = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    last = next(c for c in report.checks if c.name == f"scores L{layers - 1}H{heads - 1}")
    shown = ", ".join(f"{k} {v:,}" for k, v in shapes.items())
    print(f"verify {case}, {shown}, seq 64, batch 2, {dtype}, default budgets:")
    print(f"  random weights and model {drawn:.1f} s; verify {ours:.0f} s, ok")
    print(f"  last-layer head: {last.checked_how}")
    print(
        f"  peak RSS of the process {top / 2**30:.2f} GiB = {top / 1e9:.2f} GB (goal ≤ 1 GB; "
        f"before verify {rss.start / 2**30:.2f} GiB)"
    )
    shown = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in parts.items())
    print(
        f"  memory estimate {sum(parts.values()) / 2**30:.3f} GiB ({shown} MiB); grown during "
        f"verify {(rss.peak - rss.start) / 2**30:.3f} GiB"
    )


if __name__ == "__main__":
    if CASE is None:
        main()
    else:
        print(threads.stated(THREADS))
        large_case(CASE)
