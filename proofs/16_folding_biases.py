r"""Biases fold into the weights through a constant dimension of the residual stream.

Theorem. An attention-only transformer with biases (embedding b_E, per head b_Q, b_K, b_V, per
layer b_O, unembedding b_U) computes the same logits as a bias-free one whose residual stream has
one more coordinate, constant 1: W x + b = [W  b] [x; 1] for every map, and the heads write 0 to
the constant coordinate, so it stays 1. The value bias needs no coordinate of its own: a pattern's
rows sum to 1, so A (R W_V^T + 1 b_V^T) W_O^T = A R W_OV^T + 1 (W_O b_V)^T. With the biases
folded the expansions of the other proofs apply unchanged.

Proof. The facts check the two identities exactly with SymPy (the second with the last column of
A written as 1 minus the others, so that A 1 = 1) and the whole statement with the torch model:
a numpy forward pass with biases against the package's bias-free model on the folded weights
(the output bias enters through one extra head dimension that reads the constant coordinate).
"""

import numpy as np
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.proof import Theorem, main

THEOREM = Theorem(
    "Folding biases into the weights",
    "Biases are weights on a constant coordinate: a model with biases equals a bias-free model "
    "on a residual stream of width d_model + 1 whose last coordinate is always 1.",
    r"W x + b = \begin{bmatrix} W & b \end{bmatrix} \begin{bmatrix} x \\ 1 \end{bmatrix}, \qquad "
    r"A (R W_V^T + \mathbf{1} b_V^T) W_O^T = A R W_{OV}^T + \mathbf{1} (W_O b_V)^T",
)


def symbolic_matrix(name: str, rows: int, cols: int) -> sympy.Matrix:
    """A [rows, cols] matrix whose entries are the independent symbols name_{i,j}."""
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}{j}"))


@THEOREM.fact("exact")
def affine_map_is_linear_on_the_constant_coordinate():
    """[W b][x; 1] = W x + b on symbolic entries"""
    W, b, x = symbolic_matrix("w", 3, 2), symbolic_matrix("b", 3, 1), symbolic_matrix("x", 2, 1)
    folded = sympy.Matrix.hstack(W, b) * sympy.Matrix.vstack(x, sympy.ones(1, 1))
    assert (folded - (W * x + b)).expand() == sympy.zeros(3, 1)


@THEOREM.fact("exact")
def value_bias_passes_through_the_pattern():
    """A (R W_V^T + 1 b_V^T) W_O^T = A R W_OV^T + 1 (W_O b_V)^T when A's rows sum to 1"""
    n, d_model, d_head = 3, 2, 2
    A = symbolic_matrix("a", n, n - 1)
    A = sympy.Matrix.hstack(A, sympy.ones(n, 1) - A * sympy.ones(n - 1, 1))  # rows sum to 1
    R = symbolic_matrix("r", n, d_model)
    W_V, W_O = symbolic_matrix("v", d_head, d_model), symbolic_matrix("o", d_model, d_head)
    b_V, ones = symbolic_matrix("b", d_head, 1), sympy.ones(n, 1)
    lhs = A * (R * W_V.T + ones * b_V.T) * W_O.T
    rhs = A * R * (W_O * W_V).T + ones * (W_O * b_V).T
    assert (lhs - rhs).expand() == sympy.zeros(n, d_model)


def biased_forward(p: dict, tokens: np.ndarray) -> np.ndarray:
    """A conventional forward pass with biases, in numpy: logits [seq, d_vocab]."""
    x = p["W_E"].T[tokens] + p["b_E"]
    seq = len(tokens)
    causal = np.tril(np.ones((seq, seq), dtype=bool))
    for layer in p["layers"]:
        out = np.zeros_like(x) + layer["b_O"]
        for W_Q, W_K, W_V, W_O, b_Q, b_K, b_V in zip(*(layer[k] for k in HEAD_KEYS)):
            q, k, v = x @ W_Q.T + b_Q, x @ W_K.T + b_K, x @ W_V.T + b_V
            scores = np.where(causal, q @ k.T / np.sqrt(W_Q.shape[0]), -np.inf)
            pattern = np.exp(scores - scores.max(-1, keepdims=True))
            pattern /= pattern.sum(-1, keepdims=True)
            out = out + pattern @ v @ W_O.T
        x = x + out
    return x @ p["W_U"].T + p["b_U"]


HEAD_KEYS = ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V")


def fold(p: dict, n_ctx: int) -> ta.Weights:
    """Bias-free weights on a stream of width d_model + 1 (last coordinate constant) and heads of
    width d_head + 1 (the extra one carries the output bias, through head 0)."""
    d_model = p["W_E"].shape[0]
    one = np.zeros(d_model + 1)
    one[-1] = 1.0
    W_E = np.vstack([p["W_E"] + p["b_E"][:, None], np.ones((1, p["W_E"].shape[1]))])
    W_U = np.hstack([p["W_U"], p["b_U"][:, None]])
    stacks = {k: [] for k in ("W_Q", "W_K", "W_V", "W_O")}
    for layer in p["layers"]:
        d_head = layer["W_Q"].shape[1]
        # One more head dimension changes the model's 1/sqrt(d_head): scale the queries back.
        rescale = np.sqrt((d_head + 1) / d_head)
        q, k, v, o = [], [], [], []
        for h, (W_Q, W_K, W_V, W_O, b_Q, b_K, b_V) in enumerate(
            zip(*(layer[key] for key in HEAD_KEYS))
        ):
            q.append(
                np.vstack([np.hstack([W_Q, b_Q[:, None]]) * rescale, np.zeros((1, d_model + 1))])
            )
            k.append(np.vstack([np.hstack([W_K, b_K[:, None]]), np.zeros((1, d_model + 1))]))
            v.append(np.vstack([np.hstack([W_V, b_V[:, None]]), one * (h == 0)]))
            extra = np.append(layer["b_O"], 0.0)[:, None] * (h == 0)
            o.append(np.hstack([np.vstack([W_O, np.zeros((1, d_head))]), extra]))
        for key, value in zip(("W_Q", "W_K", "W_V", "W_O"), (q, k, v, o)):
            stacks[key].append(np.array(value))
    return ta.Weights(W_E=W_E, W_U=W_U, n_ctx=n_ctx, **stacks)


def random_biased(rng, heads, d_model, d_head, d_vocab) -> dict:
    """Random weights and biases of a model with ``heads[l]`` heads in layer ``l``."""
    normal = rng.normal
    layers = []
    for n in heads:
        layer = {k: normal(size=(n, d_head, d_model)) / np.sqrt(d_model) for k in HEAD_KEYS[:3]}
        layer["W_O"] = normal(size=(n, d_model, d_head)) / np.sqrt(d_head)
        layer |= {k: normal(size=(n, d_head)) for k in HEAD_KEYS[4:]}
        layer["b_O"] = normal(size=d_model)
        layers.append(layer)
    return {
        "W_E": normal(size=(d_model, d_vocab)),
        "W_U": normal(size=(d_vocab, d_model)),
        "b_E": normal(size=d_model),
        "b_U": normal(size=d_vocab),
        "layers": layers,
    }


@THEOREM.fact("model")
@settings(max_examples=20)
@given(
    heads=st.lists(st.integers(1, 2), min_size=1, max_size=2),
    d_model=st.integers(2, 5),
    d_head=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def torch_model_on_folded_weights(heads, d_model, d_head, seed):
    """The bias-free torch model on the folded weights gives the biased model's logits"""
    rng = np.random.default_rng(seed)
    p = random_biased(rng, heads, d_model, d_head, d_vocab=6)
    tokens = rng.integers(0, 6, size=5)
    model = ta.AttentionOnlyTransformer(fold(p, n_ctx=5))
    trace = model.run(tokens[None])
    np.testing.assert_allclose(trace.logits[0], biased_forward(p, tokens), rtol=1e-10, atol=1e-10)
    # The constant coordinate stays 1 through every layer.
    for stream in trace.residual:
        np.testing.assert_allclose(stream[0, :, -1], 1.0, rtol=0, atol=1e-12)


def test_theorem():
    THEOREM.check().raise_for_failures()


if __name__ == "__main__":
    raise SystemExit(main(__file__))
