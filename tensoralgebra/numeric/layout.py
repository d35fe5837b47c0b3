"""Weights in TransformerLens's row-vector layout, recognised to say so when they are refused.

TransformerLens multiplies row vectors from the right, so it stores the transpose of each matrix
this package takes (the paper's column-vector convention, docs/conventions.md §1):

=========  ==============================  ==============================
weight     this package                    TransformerLens
=========  ==============================  ==============================
``W_E``    [d_model, d_vocab]              [d_vocab, d_model]
``W_U``    [d_vocab, d_model]              [d_model, d_vocab]
``W_pos``  [d_model, n_ctx]                [n_ctx, d_model]
``W_Q``    [n_heads, d_head, d_model]      [n_heads, d_model, d_head]
``W_O``    [n_heads, d_model, d_head]      [n_heads, d_head, d_model]
=========  ==============================  ==============================

(``W_K`` and ``W_V`` as ``W_Q``.) Both layouts fit when every size is equal; then nothing tells
them apart, and the weights are read in this package's layout.

>>> import numpy as np
>>> z = np.zeros
>>> weights = dict(W_E=z((5, 8)), W_U=z((8, 5)), W_pos=None, W_Q=[z((1, 8, 2))],
...                W_K=[z((1, 8, 2))], W_V=[z((1, 8, 2))], W_O=[z((1, 2, 8))])
>>> whole_set_hint(weights)[:60]
"these weights look like TransformerLens's layout (W_E [d_voc"
>>> transposed_hint("W_O[0]", (1, 2, 8), (1, 8, 2))
"W_O[0] looks like TransformerLens's [n_heads, d_head, d_model] layout: transpose the last two axes"
"""

from __future__ import annotations

#: TransformerLens's layout of each weight, by name (the per-layer weights by their family).
TL_LAYOUT = {
    "W_E": "[d_vocab, d_model]",
    "W_U": "[d_model, d_vocab]",
    "W_pos": "[n_ctx, d_model]",
    "W_Q": "[n_heads, d_model, d_head]",
    "W_K": "[n_heads, d_model, d_head]",
    "W_V": "[n_heads, d_model, d_head]",
    "W_O": "[n_heads, d_head, d_model]",
}


def shape(value: object) -> tuple | None:
    """The shape of an array or tensor (``None`` for anything without one)."""
    found = getattr(value, "shape", None)
    return None if found is None else tuple(int(n) for n in found)


def transposed_hint(name: str, got: tuple, expected: tuple) -> str | None:
    """A hint when ``got`` is ``expected`` with its last two axes swapped."""
    if len(got) < 2 or got == expected or got[:-2] + got[-2:][::-1] != expected:
        return None
    family = name.split("[")[0]
    return (
        f"{name} looks like TransformerLens's {TL_LAYOUT[family]} layout: transpose the last two "
        "axes"
    )


def whole_set_hint(weights: dict) -> str | None:
    """A hint when every weight fits TransformerLens's layout, read off its ``W_E``
    [d_vocab, d_model] and first ``W_Q`` [n_heads, d_model, d_head]."""
    W_E = shape(weights["W_E"])
    layers = [weights[k] for k in ("W_Q", "W_K", "W_V", "W_O")]
    if W_E is None or len(W_E) != 2 or not all(isinstance(v, (list, tuple)) for v in layers):
        return None
    d_vocab, d_model = W_E
    first = shape(layers[0][0]) if layers[0] else None
    d_head = first[2] if first is not None and len(first) == 3 else None
    want = [(weights["W_U"], (d_model, d_vocab))]
    if weights.get("W_pos") is not None:
        pos = shape(weights["W_pos"])
        want.append((weights["W_pos"], (pos[0] if pos else -1, d_model)))
    for name, per_layer in zip(("W_Q", "W_K", "W_V", "W_O"), layers):
        for value in per_layer:
            got = shape(value)
            n_heads = got[0] if got else -1
            tail = (d_head, d_model) if name == "W_O" else (d_model, d_head)
            want.append((value, (n_heads, *tail)))
    if not all(shape(value) == expected for value, expected in want):
        return None
    listed = ", ".join(f"{k} {v}" for k, v in TL_LAYOUT.items() if k not in ("W_K", "W_V"))
    return (
        f"these weights look like TransformerLens's layout ({listed}; W_K and W_V as W_Q): this "
        "package takes the paper's column-vector layout, the transpose of each: transpose the "
        "last two axes of every weight"
    )
