"""Figures: attention patterns of chosen heads on a prompt, and the order-by-order ablation.

Each function returns its own ``matplotlib.figure.Figure`` (pyplot, the backend and
``rcParams`` are left as they were), shown inline by notebooks; ``path=`` also saves it
(PNG, SVG or PDF, chosen by the suffix).

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture(heads=(2,)), d_model=8, d_head=4, d_vocab=9, n_ctx=6)
>>> fig = plot_attention(ta.AttentionOnlyTransformer(w), [1, 2, 3, 1, 2, 3], heads=[(0, 0), (0, 1)])
>>> len(fig.axes)  # two patterns and a colour bar
3
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits.ablation import OrderAblation
from tensoralgebra.circuits.passes import check_dataset
from tensoralgebra.errors import TensorAlgebraError

#: The file kinds a figure is saved as.
SUFFIXES = (".png", ".svg", ".pdf")


def plot_attention(
    model: object,
    prompt: object,
    heads: object = None,
    *,
    decode: Callable[[int], str] | None = None,
    path: str | Path | None = None,
):
    """The patterns ``A^h`` [seq, seq] of ``heads`` (``(layer, head)`` pairs; default: every
    head) on one ``prompt`` [seq], side by side: row = query, column = key, shade = attention.
    ``decode(token) -> str`` labels the axes with the tokens (default: the token ids)."""
    from tensoralgebra.circuits.figures import CircuitFigure as Figure

    model, tokens = check_dataset(
        model,
        [list(np.asarray(prompt).ravel())] if np.ndim(prompt) == 1 else prompt,
        "plot_attention",
    )
    if tokens.shape[0] != 1:
        raise TensorAlgebraError(f"plot_attention draws one prompt, got {tokens.shape[0]}")
    chosen = _heads(model.architecture, heads)
    labels = _labels(tokens[0], decode)
    patterns = model.run(tokens).patterns
    side = 1.2 + 0.28 * len(labels)
    fig = Figure(figsize=(side * len(chosen) + 1.0, side + 0.6), layout="constrained")
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    for ax, (layer, head) in zip(axes, chosen):
        image = ax.imshow(patterns[layer][0, head], vmin=0, vmax=1, cmap="Blues")
        ax.set_title(f"L{layer}H{head}")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("key (attended to)")
    axes[0].set_ylabel("query")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="attention")
    return _saved(fig, path)


def plot_order_ablation(table: OrderAblation, *, path: str | Path | None = None):
    """Two bar charts of an :class:`OrderAblation`: the loss with paths of order ≤ k (the
    uniform prediction's ``log d_vocab`` dashed), and each order's and each layer's reduction."""
    from tensoralgebra.circuits.figures import CircuitFigure as Figure

    if not isinstance(table, OrderAblation):
        raise TensorAlgebraError(f"plot_order_ablation needs an OrderAblation, got {table!r}")
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    orders = [f"≤ {k}" for k in range(len(table.losses))]
    left.bar_label(left.bar(orders, table.losses, color="tab:blue"), fmt="%.3f", fontsize=8)
    left.axhline(table.uniform, color="grey", linestyle="--", label="uniform (log d_vocab)")
    left.set(xlabel="path order", ylabel="loss (nats)", title="loss with paths of order ≤ k")
    left.legend(loc="lower left", fontsize=8)
    names = ["direct"] + [f"order {k}" for k in range(1, len(table.losses))]
    values = [table.uniform - table.losses[0], *table.marginal]
    layers = [f"L{layer}" for layer in range(len(table.layer_reductions))]
    bars = right.bar(names + layers, values + list(table.layer_reductions))
    for bar, name in zip(bars, names + layers):
        bar.set_color("tab:green" if name in layers else "tab:orange")
    # A reduction that rounds to zero is printed as 0.000, not as a signed "-0.000".
    labels = [
        f"{v:+.3f}" if abs(v) >= 5e-4 else "0.000" for v in (*values, *table.layer_reductions)
    ]
    right.bar_label(bars, labels=labels, fontsize=7)
    right.axhline(0, color="black", linewidth=0.8)
    right.set(ylabel="loss reduction (nats)", title="reduction per order (orange), layer (green)")
    right.tick_params(axis="x", rotation=45)
    return _saved(fig, path)


def _heads(arch, heads) -> list[tuple[int, int]]:
    every = [(layer, h) for layer, n in enumerate(arch.heads) for h in range(n)]
    if heads is None:
        if not every:
            raise TensorAlgebraError(f"plot_attention: {arch!r} has no heads to draw")
        return every
    if isinstance(heads, (str, bytes)) or not hasattr(heads, "__iter__"):
        raise TensorAlgebraError(f"heads is {heads!r}: expected (layer, head) pairs")
    chosen = []
    for pair in heads:
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise TensorAlgebraError(f"heads holds {pair!r}: expected a (layer, head) pair")
        layer = validation.index(pair[0], "layer", arch.n_layers, context=f"the model has {arch!r}")
        head = validation.index(
            pair[1],
            "head",
            arch.heads[layer],
            context=f"layer {layer} has {arch.heads[layer]} heads",
        )
        chosen.append((layer, head))
    if not chosen:
        raise TensorAlgebraError("heads is empty: name at least one (layer, head) pair")
    return chosen


def _labels(tokens: np.ndarray, decode) -> list[str]:
    if decode is None:
        return [str(int(t)) for t in tokens]
    if not callable(decode):
        raise TensorAlgebraError(f"decode is {decode!r}: expected a function token -> str")
    return [f"{i}:{decode(int(t))!s}" for i, t in enumerate(tokens)]


def _saved(fig, path):
    if path is None:
        return fig
    import matplotlib

    out = Path(path)
    if out.suffix.lower() not in SUFFIXES:
        raise TensorAlgebraError(f"path {str(out)!r}: expected a file ending in {SUFFIXES}")
    metadata = {"Date": None} if out.suffix.lower() in (".svg", ".pdf") else {"Software": None}
    try:
        with matplotlib.rc_context({"svg.hashsalt": "tensoralgebra"}):
            fig.savefig(out, dpi=150, metadata=metadata)
    except OSError as error:
        raise TensorAlgebraError(
            f"cannot write a figure to {str(out)!r}: {error.strerror}"
        ) from None
    return fig
