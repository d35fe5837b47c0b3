"""The graph: its nodes and edges, traversal == enumeration, DP counts == closed forms, queries."""

import itertools
import math

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import TensorAlgebraError
from tensoralgebra.graph import keys

KINDS = ("none", "Q", "K", "QK")


@st.composite
def architectures(draw, max_layers=5, max_heads=2):
    heads = draw(st.lists(st.integers(0, max_heads), min_size=0, max_size=max_layers))
    positional = draw(st.sampled_from((None, "standard")))
    return ta.Architecture(heads=tuple(heads), positional=positional)


def all_heads(arch):
    return [(layer, h) for layer in range(arch.n_layers) for h in range(arch.heads[layer])]


# --- structure -------------------------------------------------------------------------------


def test_nodes_edges_and_attributes():
    arch = ta.Architecture(heads=(2, 1), positional="standard")
    G = ta.graph.build(arch)
    assert list(G) == ["token", "position", "L0H0", "L0H1", "L1H0", "unembed"]
    assert G.graph[keys.ARCHITECTURE] == arch
    assert G.nodes["position"] == {
        keys.ROLE: "source",
        keys.LAYER: -1,
        keys.HEAD: -1,
        keys.SOURCE: "position",
        keys.LABEL: "positions",
        keys.ENTERS: 0,
    }
    assert G.nodes["unembed"][keys.LAYER] == 2
    # Q, K, V from each of 2 sources into 2 first-layer heads, from 2 sources + 2 heads into L1H0,
    # and one out edge from each of the 5 writers.
    assert G.number_of_edges() == 3 * 2 * 2 + 3 * 4 + 5
    assert sorted(G["L0H1"]["L1H0"]) == ["K", "Q", "V"]
    assert not G.has_edge("L0H0", "L0H1")  # heads of one layer never compose
    for _, v, c, data in G.edges(keys=True, data=True):
        assert data == {keys.CHANNEL: c} and c in keys.CHANNELS
        assert (c == "out") == (v == "unembed")
    assert nx.is_directed_acyclic_graph(G)


def test_a_zero_layer_model_has_only_the_direct_edge():
    G = ta.graph.build(ta.Architecture(heads=()))
    assert list(G.edges(keys=True)) == [("token", "unembed", "out")]
    assert [str(p) for p in ta.graph.logit_paths(G)] == ["direct"]


def test_attribute_keys_are_declared_once():
    names = [k for k in dir(keys) if k.isupper() and isinstance(getattr(keys, k), str)]
    values = [getattr(keys, k) for k in names if k != "UNEMBED"]
    assert len(values) == len(set(values))


# --- traversal == enumeration, DP == closed form ---------------------------------------------


@settings(max_examples=40, deadline=None)
@given(arch=architectures())
def test_traversal_lists_exactly_the_enumerated_terms(arch):
    G = ta.graph.build(arch)
    assert list(ta.graph.logit_paths(G)) == list(ta.logit_paths(arch))
    for top in range(arch.n_layers + 1):
        assert list(ta.graph.logit_paths(G, top)) == list(ta.logit_paths(arch, top))
    for layer, head in all_heads(arch):
        assert list(ta.graph.score_paths(G, layer, head)) == list(ta.score_paths(arch, layer, head))


@settings(max_examples=40, deadline=None)
@given(arch=architectures(max_heads=3), data=st.data())
def test_truncated_score_terms_and_counts_by_kind(arch, data):
    G = ta.graph.build(arch)
    for k in range(arch.n_layers + 1):
        assert ta.graph.count_logit_paths(G, order=k) == ta.count_logit_paths(arch, order=k)
    assert ta.graph.count_logit_paths(G) == ta.count_logit_paths(arch)
    heads = all_heads(arch)
    if not heads:
        return
    layer, head = data.draw(st.sampled_from(heads), label="head")
    top = data.draw(st.integers(0, layer), label="max_order")
    if ta.count_score_paths(arch, layer, head, max_order=top) <= 5000:
        listed = list(ta.graph.score_paths(G, layer, head, top))
        assert listed == list(ta.score_paths(arch, layer, head, top))
    for kind in (None, *KINDS):
        want = ta.count_score_paths(arch, layer, head, kind=kind, max_order=top)
        assert ta.graph.count_score_paths(G, layer, head, kind=kind, max_order=top) == want


@pytest.mark.parametrize(
    "arch",
    [
        ta.Architecture(heads=(12,) * 12),
        ta.Architecture(heads=(6, 0, 9) * 8, positional="standard"),
    ],
    ids=["12x12", "(6,0,9)x8 with positions"],
)
def test_counts_by_dynamic_programming_where_enumeration_is_impossible(arch):
    G = ta.graph.build(arch)
    assert ta.count_logit_paths(arch) > 10**12
    assert ta.graph.count_logit_paths(G) == ta.count_logit_paths(arch)
    for k in (0, 1, 2, arch.n_layers // 2, arch.n_layers):
        assert ta.graph.count_logit_paths(G, order=k) == ta.count_logit_paths(arch, order=k)
    layer = arch.n_layers - 1
    for kind in (None, *KINDS):
        for top in (None, 1, layer // 2):
            want = ta.count_score_paths(arch, layer, 0, kind=kind, max_order=top)
            assert ta.graph.count_score_paths(G, layer, 0, kind=kind, max_order=top) == want


def test_term_edges_follow_the_channels():
    arch = ta.Architecture(heads=(1, 1, 1), positional="standard")
    path = ta.LogitPath(((0, 0), (2, 0)), "position")
    assert ta.graph.term_edges(path) == [
        ("position", "L0H0", "V"),
        ("L0H0", "L2H0", "V"),
        ("L2H0", "unembed", "out"),
    ]
    term = next(t for t in ta.score_paths(arch, 2, 0) if t.order == (0, 1))
    assert ta.graph.term_edges(term) == [
        ("token", "L2H0", "Q"),
        ("token", "L0H0", "V"),
        ("L0H0", "L2H0", "K"),
    ]
    G = ta.graph.build(arch)
    assert all(G.has_edge(*e) for t in ta.graph.carried_terms(G) for e in ta.graph.term_edges(t))


# --- queries -----------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(arch=architectures(max_layers=4), data=st.data())
def test_queries_equal_filters_of_the_enumeration(arch, data):
    G = ta.graph.build(arch)
    heads = all_heads(arch)
    if not heads:
        return
    head = data.draw(st.sampled_from(heads), label="head")
    top = data.draw(st.none() | st.integers(0, arch.n_layers), label="max_order")
    through = [p for p in ta.logit_paths(arch, top) if head in p.heads]
    assert ta.graph.paths_through(G, head, top) == through
    into = data.draw(st.sampled_from(heads), label="into")
    kind = data.draw(st.sampled_from((None, *KINDS)), label="kind")
    want = [t for t in ta.score_paths(arch, *into) if kind in (None, t.kind)]
    assert list(ta.graph.terms_into(G, into, kind)) == want
    via = [t for t in want if head in t.query.heads or head in t.key.heads]
    assert list(ta.graph.terms_into(G, ta.Head(*into), kind, through=head)) == via


def brute_force_order_subgraph(G, k):
    edges = set()
    for term in ta.graph.carried_terms(G, max_order=k):
        edges.update(ta.graph.term_edges(term))
    return edges


@settings(max_examples=40, deadline=None)
@given(arch=architectures(max_layers=4), data=st.data())
def test_order_subgraph_keeps_the_edges_of_low_order_terms(arch, data):
    G = ta.graph.build(arch)
    every = list(G.edges(keys=True))
    # Also on pruned graphs: drop some edges, then ask again.
    dropped = data.draw(st.lists(st.sampled_from(every), max_size=len(every) // 2), label="drop")
    G.remove_edges_from(set(dropped))
    for k in range(arch.n_layers + 1):
        sub = ta.graph.order_subgraph(G, k)
        assert set(sub.edges(keys=True)) == brute_force_order_subgraph(G, k)
        assert list(sub) == list(G)


def test_order_subgraph_of_the_complete_graph():
    G = ta.graph.build(ta.Architecture(heads=(2, 2)))
    order0 = ta.graph.order_subgraph(G, 0)
    assert {c for *_, c in order0.edges(keys=True)} == {"Q", "K", "out"}
    assert all(u == "token" for u, *_ in order0.edges(keys=True))
    order1 = ta.graph.order_subgraph(G, 1)
    missing = set(G.edges(keys=True)) - set(order1.edges(keys=True))
    assert missing == {(a, b, "V") for a in ("L0H0", "L0H1") for b in ("L1H0", "L1H1")}


def test_k_composition_candidates_and_pruning():
    G = ta.graph.build(ta.Architecture(heads=(2, 1)))
    assert ta.graph.k_composition_candidates(G) == [("L0H0", "L1H0"), ("L0H1", "L1H0")]
    for (u, v, c), w in zip(G.edges(keys=True), itertools.count()):
        if u.startswith("L") and v.startswith("L"):
            G.edges[u, v, c]["w"] = 0.1 * w
    assert ta.graph.k_composition_candidates(G, key="w") == [("L0H1", "L1H0"), ("L0H0", "L1H0")]
    kept = ta.graph.prune(G, "w", G.edges["L0H1", "L1H0", "K"]["w"])
    assert ta.graph.k_composition_candidates(kept) == [("L0H1", "L1H0")]
    assert kept.has_edge("token", "L0H0", "Q")  # no weight: kept
    kept.remove_edge("L1H0", "unembed", "out")
    assert ta.graph.k_composition_candidates(kept) == []


# --- bad input ---------------------------------------------------------------------------------


def test_graphs_need_concrete_architectures():
    with pytest.raises(TensorAlgebraError, match="symbolic head sets"):
        ta.graph.build(ta.Architecture.schematic(2))
    with pytest.raises(TensorAlgebraError, match="build needs an Architecture"):
        ta.graph.build((2, 2))
    with pytest.raises(TensorAlgebraError, match="has no architecture"):
        ta.graph.logit_paths(nx.MultiDiGraph())


def test_importing_the_package_does_not_import_networkx():
    import subprocess
    import sys

    code = (
        "import sys, tensoralgebra; print('networkx' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert math.isfinite(0)
