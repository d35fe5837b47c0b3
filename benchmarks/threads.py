"""Thread pools for the benchmarks, chosen before numpy or torch is imported.

On a small shared machine the default BLAS and torch pools oversubscribe the cores and make
small products erratic; every benchmark runs with a stated number of threads (``--threads N``,
default 1) in every pool, and prints it beside its figures. Import this module first.
"""

from __future__ import annotations

import argparse
import os

_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def choose(description: str) -> int:
    """Parse ``--threads`` and size every pool to it; returns the number."""
    return options(description).threads


def options(description: str, configure=None) -> argparse.Namespace:
    """Parse ``--threads`` and the script's own options (``configure(parser)`` adds them), and
    size every pool to ``--threads``; returns the parsed options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=1, help="threads per pool (default 1)")
    if configure is not None:
        configure(parser)
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: expected 1 or more")
    for name in _POOLS:
        os.environ[name] = str(args.threads)
    return args


def stated(n: int) -> str:
    """The thread counts in force, for the report: the pools as set, and torch's own."""
    import torch

    torch.set_num_threads(n)
    return f"threads: {n} per BLAS/OpenMP pool, torch {torch.get_num_threads()}"
