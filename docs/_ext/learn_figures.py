"""Figures of the learn pages (docs/learn/) that the package's own plots do not draw.

Each function computes from a shipped model and returns a matplotlib ``Figure`` (made without
pyplot), which the pages' ``ta-figure`` directives save into the built site.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from tensoralgebra.circuits.detectors import repeated_random_tokens
from tensoralgebra.circuits.passes import next_token_losses
from tensoralgebra.training.evidence import direct_path_log_probs


def bigram_scatter(model, table, *, frequent: int = 64, min_count: int = 20) -> Figure:
    """The direct path's log P(j | i) against the counted bigram table's, over the pairs
    (i, j) with i among the ``frequent`` most frequent tokens, seen ``min_count`` times (the
    pairs of ``tensoralgebra.training.evidence.bigram_fit``)."""
    predicted = direct_path_log_probs(model.weights)
    rows = np.argsort(table.counts.sum(axis=1))[::-1][:frequent]
    seen = table.counts[rows] >= min_count
    x, y = table.log_probs[rows][seen], predicted[rows][seen]
    fig = Figure(figsize=(5.2, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.scatter(x, y, s=4, alpha=0.4, color="tab:blue", linewidths=0)
    low, high = min(x.min(), y.min()), max(x.max(), y.max())
    ax.plot([low, high], [low, high], color="0.4", linewidth=1, linestyle="--", label="y = x")
    ax.set_xlabel("log P(j | i) counted in the training files")
    ax.set_ylabel("log P(j | i) of the direct path $W_U W_E$")
    ax.set_title(f"{seen.sum():,} pairs (i, j), r = {np.corrcoef(x, y)[0, 1]:.3f}")
    ax.legend(loc="upper left")
    return fig


def repeat_losses(model, *, half: int | None = None, batch: int = 64, seed: int = 7) -> Figure:
    """The loss at every position of ``batch`` sequences of ``half`` random tokens repeated once
    (half the context by default): high on the first half, low on the repeat once induction
    heads copy."""
    w = model.weights
    half = w.n_ctx // 2 if half is None else half
    tokens = repeated_random_tokens(w.d_vocab, half, batch, seed=seed)
    losses = next_token_losses(model.run(tokens).logits, tokens).mean(axis=0)
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.plot(np.arange(1, 2 * half), losses, marker="o", markersize=3)
    ax.axvline(half - 0.5, color="0.5", linestyle=":", label="the repeat starts")
    ax.axhline(np.log(w.d_vocab), color="0.5", linestyle="--", label="uniform, log d_vocab")
    ax.set_xlabel("position of the predicted token")
    ax.set_ylabel("loss (nats)")
    ax.legend()
    return fig


def counts_by_order(counts: dict[str, list[int]]) -> Figure:
    """Bars of path counts by order (log scale), one group per architecture:
    ``{label: [count of order 0, 1, ...]}``."""
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(counts)
    for i, (label, by_order) in enumerate(counts.items()):
        orders = np.arange(len(by_order))
        ax.bar(orders + i * width, by_order, width, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("order (heads on the path)")
    ax.set_ylabel("logit paths per source")
    ax.legend()
    return fig
