"""``ta.top_score_paths``: the top k equal the enumerated top k (idealised and real
architectures), values are exact, the certificate bounds the rest; the device option; bad input
is refused (API and command line)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.cli import main
from tensoralgebra.numeric.bind import Bindings
from tensoralgebra.numeric.score_search import ScoreSearch, score_sort_key
from tensoralgebra.numeric.score_sides import root_sides


def model_of(arch, seed=0, dtype="float64", **sizes):
    sizes = {"d_model": 8, "d_head": 3, "d_vocab": 11, "n_ctx": 8, **sizes}
    return ta.AttentionOnlyTransformer(ta.Weights.random(arch, **sizes, seed=seed, dtype=dtype))


def enumerated(model, tokens, layer, head, query, key, batch=0):
    """Every score term's value at (query, key), by ta.evaluate of its expression."""
    trace = model.run(tokens)
    return {
        p: float(ta.evaluate(p.expr, model, trace)[batch, query, key])
        for p in ta.score_paths(model.architecture, layer, head)
    }


REAL = [
    {},
    {"positional": "standard"},
    {"normalization": "LN", "biases": True},
    {"normalization": "LNPre", "positional": "shortformer"},
    {"normalization": "LN", "biases": True, "positional": "shortformer"},
    {"biases": True},
]

cases = st.tuples(
    st.lists(st.integers(1, 3), min_size=1, max_size=3),  # heads per layer
    st.sampled_from(range(len(REAL))),
    st.integers(0, 2**16),  # seed
    st.integers(1, 6),  # k
    st.integers(1, 6),  # seq
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(case=cases)
def test_top_k_equal_the_enumerated_top_k_and_the_certificate_bounds_the_rest(case):
    heads, kind, seed, k, seq = case
    arch = ta.Architecture(tuple(heads), **REAL[kind])
    model = model_of(arch, seed)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 11, size=(2, seq))
    layer, batch = int(rng.integers(0, len(heads))), int(rng.integers(0, 2))
    head, query = int(rng.integers(0, heads[layer])), int(rng.integers(0, seq))
    key = int(rng.integers(0, query + 1))
    top = ta.top_score_paths(model, tokens, layer, head, k, query=query, key=key, batch=batch)
    values = enumerated(model, tokens, layer, head, query, key, batch)
    scale = max(1.0, max(abs(v) for v in values.values()))
    for path, c in zip(top.paths, top.contributions):
        assert abs(c - values[path]) <= 1e-10 * scale
    assert abs(top.total - sum(values.values())) <= 1e-10 * scale
    ranked = sorted(values.items(), key=lambda pv: (-abs(pv[1]), score_sort_key(pv[0], arch)))
    assert top.exact
    want = [abs(v) for _, v in ranked[:k]]
    np.testing.assert_allclose([abs(c) for c in top.contributions], want, atol=1e-10 * scale)
    gap = abs(ranked[k - 1][1]) - abs(ranked[k][1]) if len(ranked) > k else np.inf
    if gap > 1e-9 * scale:
        assert set(top.paths) == {p for p, _ in ranked[:k]}
    rest = sum(abs(v) for p, v in values.items() if p not in top.paths)
    assert rest <= top.certificate * (1 + 1e-12) + 1e-12


def test_a_small_budget_is_best_effort_with_an_honest_certificate():
    arch = ta.Architecture((3, 3, 3), normalization="LN", biases=True)
    model = model_of(arch, seed=3)
    tokens = [[1, 2, 3, 4, 5, 6]]
    top = ta.top_score_paths(model, tokens, 2, 1, k=5, key=2, max_expansions=4)
    assert top.expansions == 4 and not top.exact and top.frontier > 0
    values = enumerated(model, tokens, 2, 1, 5, 2)
    assert sum(abs(v) for p, v in values.items() if p not in top.paths) <= top.certificate
    assert "best effort" in top.table() and top.to_dict()["exact"] is False


def test_the_default_key_is_the_one_the_head_attends_to_most():
    model = model_of(ta.Architecture((2, 2)), seed=5)
    tokens = [[4, 1, 7, 2, 9]]
    top = ta.top_score_paths(model, tokens, 1, 1, k=2)
    pattern = model.run(tokens).pattern(1, 1)[0, 4]
    assert (top.query, top.key) == (4, int(np.argmax(pattern)))


def test_float32_models_agree_with_float64_evaluation():
    arch = ta.Architecture((2, 2, 2), normalization="LN", biases=True)
    model = model_of(arch, seed=2, dtype="float32")
    tokens = [[1, 5, 3, 8, 2]]
    top = ta.top_score_paths(model, tokens, 2, 0, k=4, key=1)
    values = enumerated(model_of(arch, seed=2), tokens, 2, 0, 4, 1)
    scale = max(abs(v) for v in values.values())
    for path, c in zip(top.paths, top.contributions):
        assert abs(c - values[path]) <= 1e-4 * scale
    assert sum(abs(v) for p, v in values.items() if p not in top.paths) <= top.certificate
    small = model_of(ta.Architecture((2, 2)), seed=2, dtype="float32")
    logit = ta.top_paths(small, tokens, 3, target=4)
    assert logit.exact and all(isinstance(c, float) for c in logit.contributions)


def test_models_bindings_and_searches_compute_on_the_device_asked():
    weights = ta.Weights.random(ta.Architecture((2, 2)), d_model=8, d_head=3, d_vocab=11, n_ctx=8)
    model = ta.AttentionOnlyTransformer(weights, device="cpu")
    assert model.device == torch.device("cpu") and model.to("cpu") is model
    b = Bindings(model, model.run([[1, 2, 3]]), "torch")
    assert b.device == torch.device("cpu") and b.patterns(1).device.type == "cpu"
    assert Bindings(model, model.run([[1, 2, 3]])).device is None  # numpy: the host
    top = ta.top_score_paths(model, [[1, 2, 3]], 1, 0, k=2)
    assert top.exact


DEVICES = [
    ("tpu", "device is 'tpu': not a torch device; available: cpu"),
    ("cuda:7", "device is 'cuda:7': not available here; available: cpu"),
    (3, "device is 3: expected a device name"),
]
if not torch.cuda.is_available():
    DEVICES.append(("cuda", "device is 'cuda': not available here; available: cpu"))


@pytest.mark.parametrize(("device", "fragment"), DEVICES, ids=[str(d) for d, _ in DEVICES])
def test_a_device_that_does_not_exist_is_refused(device, fragment):
    weights = ta.Weights.random(ta.Architecture((1,)), d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    with pytest.raises(ta.TensorAlgebraError) as error:
        ta.AttentionOnlyTransformer(weights, device=device)
    assert fragment in str(error.value)
    model = ta.AttentionOnlyTransformer(weights)
    for call in (
        lambda: model.to(device),
        lambda: Bindings(model, model.run([[1, 2]]), "torch", device=device),
    ):
        with pytest.raises(ta.TensorAlgebraError) as error:
            call()
        assert fragment in str(error.value)


BAD = [
    (dict(k=0), "k is 0"),
    (dict(k=1.5), "k is 1.5"),
    (dict(layer=2), "layer 2 does not exist: the model has layers 0..1"),
    (dict(layer=-1), "layer -1 does not exist"),
    (dict(head=2), "head 2 does not exist: layer 1 has heads 0..1"),
    (dict(query=4), "query 4 does not exist: the tokens have positions 0..3"),
    (dict(query=-1), "query -1 does not exist"),
    (dict(query=2, key=3), "key 3 does not exist: a query at 2 reads keys 0..2"),
    (dict(key=-1), "key -1 does not exist"),
    (dict(batch=1), "batch 1 does not exist"),
    (dict(max_expansions=0), "max_expansions is 0"),
    (dict(max_bytes=0), "max_bytes is 0"),
    (dict(max_bytes=10_000), "over the memory budget of 10,000 bytes"),
    (dict(model="model"), "top_score_paths needs an AttentionOnlyTransformer"),
    (dict(tokens=[[1, 2, 11]]), "11"),
]


@pytest.mark.parametrize(("change", "fragment"), BAD, ids=[f for _, f in BAD])
def test_bad_input_is_refused(change, fragment):
    call = {"model": model_of(ta.Architecture((2, 2))), "tokens": [[1, 2, 3, 4]], "layer": 1}
    call = {**call, "head": 0, "k": 3, **change}
    with pytest.raises(ta.TensorAlgebraError) as error:
        ta.top_score_paths(call.pop("model"), call.pop("tokens"), **call)
    assert fragment in str(error.value)


CLI_BAD = [
    (["--scores", "2", "0"], "layer 2 does not exist: the model has layers 0..1"),
    (["--scores", "1", "5"], "head 5 does not exist: layer 1 has heads 0..1"),
    (["--scores", "1", "0", "--query", "16"], "query 16 does not exist"),
    (["--scores", "1", "0", "--query", "3", "--key", "4"], "key 4 does not exist"),
    (["--scores", "1", "0", "-k", "0"], "-k is 0"),
    (["--scores", "1", "0", "--target", "3"], "--target is for logit paths"),
    (["--scores", "1", "0", "--position", "3"], "--position is for logit paths"),
    (["--target", "3", "--query", "3"], "--query needs --scores LAYER HEAD"),
    ([], "top-paths needs --target"),
    (["--target", "3", "--device", "tpu"], "--device is 'tpu': not a torch device"),
    (["--target", "3", "--device", "cuda:7"], "--device is 'cuda:7': not available here"),
]


@pytest.mark.parametrize(("extra", "fragment"), CLI_BAD, ids=[f for _, f in CLI_BAD])
def test_bad_command_lines_exit_2_with_one_line(extra, fragment, capsys):
    assert main(["top-paths", "--heads", "2,2", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err


def test_the_command_prints_the_score_terms(capsys):
    argv = ["top-paths", "--heads", "2,2", "--scores", "1", "0", "--query", "5", "--key", "2"]
    assert main([*argv, "-k", "5", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "the top 5 score terms of L1H0 at query 5, key 2" in out
    assert "exact: the top 5 are certain" in out


@settings(max_examples=40, deadline=None, derandomize=True)
@given(case=cases, gains=st.lists(st.sampled_from([0.1, 1.0, 4.0]), min_size=3, max_size=3))
def test_each_side_bound_is_at_least_the_sum_and_the_largest_of_its_completions(case, gains):
    """Every open side prefix, split down to its leaves (its completions, vectors exact): the sum
    bounds hold for the sum of their norms and the largest bounds for the largest, in the
    d_head space (``||q||``) and the model space (what the head reads). Each layer's W_O is
    scaled by its gain, so that any kind of completion can be the largest."""
    heads, kind, seed, _, seq = case
    query = int(np.random.default_rng(seed).integers(0, seq))
    _check_sides(ta.Architecture(tuple(heads), **REAL[kind]), gains, seed, query)


@pytest.mark.parametrize("seed", range(8))
def test_side_bounds_hold_where_a_later_layer_dominates(seed):
    """Layer 0's heads small and layer 1's large: the largest completion of a prefix open from
    layer 0 often skips it."""
    _check_sides(ta.Architecture((2, 2, 1)), (0.1, 4.0, 1.0), seed, 4)


@pytest.mark.parametrize("seed", range(4))
def test_side_bounds_hold_where_layernorm_scales_up(seed):
    """Small embeddings under LayerNorm: the frozen scales 1/σ are large, and every bound must
    carry them."""
    arch = ta.Architecture((2, 2, 1), normalization="LN", biases=True)
    _check_sides(arch, (0.05, 0.05, 1.0), seed, 4, embedding=0.05)


def _check_sides(arch, gains, seed, query, embedding=1.0):
    """Both sides' bounds of the last layer's head 0 at (query, query // 2), every prefix; and
    the key side's bounds read in the direction of a few query sides' vectors."""
    weights = ta.Weights.random(arch, d_model=8, d_head=3, d_vocab=11, n_ctx=8, seed=seed)
    weights = dataclasses.replace(
        weights,
        W_O=tuple(g * w for g, w in zip(gains, weights.W_O)),
        W_E=embedding * weights.W_E,
        b_O=None if weights.b_O is None else tuple(embedding * b for b in weights.b_O),
    )
    model = ta.AttentionOnlyTransformer(weights)
    tokens = np.random.default_rng(seed).integers(0, 11, size=(1, query + 1))
    layer = arch.n_layers - 1
    search = ScoreSearch(model, model.run(tokens), layer, 0, query, query // 2)
    query_role, key_role = search.roles
    leaves = [leaf for root in root_sides(query_role) for leaf in _check_node(root)]
    for root in root_sides(key_role):
        _check_node(root)
    for leaf in leaves[:: max(1, len(leaves) // 4)]:
        leaf.table = key_role.directed(leaf.vector)
        for root in root_sides(key_role):
            _check_node(root, leaf)


def _check_node(node, other=None) -> list:
    """The leaves under ``node``, after checking its bounds against them: the norms of their
    vectors and reads, or, given a leaf ``other`` of the other side with its directed table,
    their ``|other.vector · vector|`` against the bounds :meth:`SideNode.directed` gives."""
    if node.is_leaf:
        return [node]
    leaf, *children = node.split()
    leaves = [leaf] + [x for child in children for x in _check_node(child, other)]
    if other is not None:
        sizes = [abs(float(other.vector @ x.vector)) for x in leaves]
        total, largest = node.directed(other)
        assert sum(sizes) <= total * (1 + 1e-12) + 1e-300
        assert max(sizes) <= largest * (1 + 1e-12) + 1e-300
        return leaves
    for space in (0, 1):
        sizes = [x.bound[space] for x in leaves]
        assert sum(sizes) <= node.bound[space] * (1 + 1e-12)
        assert max(sizes) <= node.largest[space] * (1 + 1e-12)
    return leaves
