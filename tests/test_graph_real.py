"""The graph of real architectures (docs/conventions.md §7): the layers' constants, the
unembedding bias, the heads' own query and key constants and shortformer positions as source
nodes; every listing and count through the graph equals the enumeration and the closed forms."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.graph import keys

KINDS = st.tuples(
    st.sampled_from([None, "standard", "shortformer"]),
    st.sampled_from([None, "LN", "LNPre"]),
    st.booleans(),
)
SCORE_KINDS = (None, "none", "Q", "K", "QK")


@st.composite
def architectures(draw):
    positional, normalization, biases = draw(KINDS)
    heads = draw(st.lists(st.integers(0, 2), max_size=3))
    return ta.Architecture(heads, positional, normalization=normalization, biases=biases)


def all_heads(arch):
    return [(layer, h) for layer in range(arch.n_layers) for h in range(arch.heads[layer])]


@given(architectures())
def test_logit_terms_are_the_enumeration(arch):
    G = ta.graph.build(arch)
    for source in (G, arch):
        for top in range(arch.n_layers + 1):
            expected = list(ta.logit_paths(arch, max_order=top))
            assert list(ta.graph.logit_paths(source, top)) == expected
            assert ta.graph.count_logit_paths(source, top) == ta.count_logit_paths(arch, top)
        assert ta.graph.count_logit_paths(source) == ta.count_logit_paths(arch)


@given(architectures())
def test_score_terms_are_the_enumeration(arch):
    G = ta.graph.build(arch)
    for layer, h in all_heads(arch):
        expected = list(ta.score_paths(arch, layer, h))
        for source in (G, arch):
            assert list(ta.graph.score_paths(source, layer, h)) == expected
            for kind in SCORE_KINDS:
                of_kind = [t for t in expected if kind in (None, t.kind)]
                assert list(ta.graph.terms_into(source, (layer, h), kind)) == of_kind
                assert ta.graph.count_terms_into(source, (layer, h), kind) == len(of_kind)
                count = ta.count_score_paths(arch, layer, h, kind=kind)
                assert ta.graph.count_score_paths(source, layer, h, kind=kind) == count
        # every term's edges are edges of the graph
        assert all(G.has_edge(*edge) for t in expected for edge in ta.graph.term_edges(t))


@given(architectures())
def test_terms_through_a_head_are_the_enumeration(arch):
    G = ta.graph.build(arch)
    logits = list(ta.logit_paths(arch))
    assert all(G.has_edge(*edge) for p in logits for edge in ta.graph.term_edges(p))
    for via in all_heads(arch):
        through = [p for p in logits if via in p.heads]
        for source in (G, arch):
            assert ta.graph.paths_through(source, via) == through
            assert ta.graph.count_paths_through(source, via) == len(through)
        for layer, h in all_heads(arch):
            if layer <= via[0]:
                continue
            scores = list(ta.score_paths(arch, layer, h))
            fed = [t for t in scores if via in t.query.heads + t.key.heads]
            for source in (G, arch):
                assert list(ta.graph.terms_into(source, (layer, h), through=via)) == fed
                assert ta.graph.count_terms_into(source, (layer, h), through=via) == len(fed)


@given(architectures())
def test_edges_files_and_layer_graphs(arch):
    G = ta.graph.build(arch)
    L = ta.graph.build(arch, per="layer")
    assert G.number_of_edges() == ta.graph.count_edges(arch)
    assert L.number_of_edges() == ta.graph.count_edges(arch, per="layer")
    by_layer = ta.graph.by_layer(G)
    assert list(by_layer.nodes(data=True)) == list(L.nodes(data=True))
    assert list(by_layer.edges(keys=True, data=True)) == list(L.edges(keys=True, data=True))
    for graph in (G, L):
        back = ta.graph.from_json(json.loads(json.dumps(ta.graph.to_json(graph))))
        assert back.graph[keys.ARCHITECTURE] == arch
        assert list(back.nodes(data=True)) == list(graph.nodes(data=True))
        assert list(back.edges(keys=True, data=True)) == list(graph.edges(keys=True, data=True))
        dot = ta.graph.to_dot(graph)
        assert all(f"{ta.graph.quote(n)} [" in dot for n in graph)


def test_source_nodes_and_their_entry_layers():
    arch = ta.Architecture((2, 2), "shortformer", normalization="LN", biases=True)
    G = ta.graph.build(arch)
    sources = {
        n: (d[keys.LAYER], d[keys.ENTERS]) for n, d in G.nodes(data=True) if d["role"] == "source"
    }
    assert sources == {
        "token": (-1, 0),
        "position": (-1, 0),
        "query bias": (-1, 0),
        "key bias": (-1, 0),
        "bias L0": (0, 1),
        "bias L1": (1, 2),
        "unembedding bias": (1, 2),
    }
    reads = {n: sorted({(v, c) for _, v, c in G.out_edges(n, keys=True)}) for n in sources}
    assert reads["position"] == [(f"L{m}H{h}", c) for m in (0, 1) for h in (0, 1) for c in "KQ"]
    assert reads["query bias"] == [(f"L{m}H{h}", "Q") for m in (0, 1) for h in (0, 1)]
    assert reads["bias L0"] == sorted(
        [(f"L1H{h}", c) for h in (0, 1) for c in "QKV"] + [("unembed", "out")]
    )
    assert reads["bias L1"] == reads["unembedding bias"] == [("unembed", "out")]
    # The idealised model's graph is as it was.
    assert list(ta.graph.build(ta.Architecture((2, 2)))) == [
        "token",
        "L0H0",
        "L0H1",
        "L1H0",
        "L1H1",
        "unembed",
    ]


def test_drawing_shows_the_new_sources(tmp_path):
    arch = ta.Architecture((2, 2), "shortformer", normalization="LN", biases=True)
    G = ta.graph.build(arch)
    fig = ta.graph.draw(G, tmp_path / "real.png")
    shown = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"bias L0", "bias L1", "logit bias", "query bias", "key bias", "pos (QK)"} <= shown
    assert (tmp_path / "real.png").stat().st_size > 0
    fig = ta.graph.draw(ta.graph.build(arch, per="layer"))
    assert "bias L0" in {t.get_text() for ax in fig.axes for t in ax.texts}


def _json_with(arch, change):
    data = ta.graph.to_json(ta.graph.build(arch))
    change(data)
    return data


REAL = ta.Architecture((1, 1), "shortformer", normalization="LN", biases=True)


def _add_edge(u, v, c):
    return lambda data: data["edges"].append({"source": u, "target": v, "key": c, "channel": c})


def _drop_biases(data):
    data["graph"]["architecture"]["biases"] = False


def _label(data):
    next(n for n in data["nodes"] if n["id"] == "bias L0")["enters"] = 0


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_add_edge("position", "L1H0", "V"), "the source 'position' is read with Q, K only"),
        (_add_edge("query bias", "L1H0", "K"), "the source 'query bias' is read with Q only"),
        (_add_edge("unembedding bias", "L1H0", "Q"), "L1H0 cannot read unembedding bias"),
        (_add_edge("bias L0", "L0H0", "V"), "L0H0 cannot read bias L0 with V"),
        (_add_edge("position", "unembed", "out"), "'position' is read with Q, K only"),
        (_drop_biases, "it has no node 'query bias'"),
        (_label, "node 'bias L0' has enters=0, not 1"),
    ],
)
def test_from_json_refuses(change, fragment):
    with pytest.raises(TensorAlgebraError) as error:
        ta.graph.from_json(_json_with(REAL, change))
    assert fragment in str(error.value)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["paths", "--heads", "1,1", "--biases", "--format", "json"], 8),
        (
            [
                "paths",
                "--heads",
                "1,1",
                "--biases",
                "--positional",
                "shortformer",
                "--into",
                "L1H0",
                "--format",
                "json",
            ],
            25,  # 5 sides each: tokens, positions, bias L0, the own constant, via L0H0
        ),
        (
            [
                "paths",
                "--heads",
                "1,1",
                "--normalization",
                "LNPre",
                "--through",
                "L0H0",
                "--format",
                "json",
            ],
            2,
        ),
    ],
)
def test_cli_paths(argv, expected, capsys):
    from tensoralgebra.cli import main

    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["count"] == expected


def test_cli_graph(tmp_path, capsys):
    from tensoralgebra.cli import main

    out = tmp_path / "g.json"
    argv = ["graph", "--heads", "2,2", "--biases", "--normalization", "LN"]
    assert main([*argv, "--positional", "shortformer", "--out", str(out)]) == 0
    G = ta.graph.from_json(json.loads(out.read_text()))
    assert G.graph[keys.ARCHITECTURE] == REAL.__class__(
        (2, 2), "shortformer", normalization="LN", biases=True
    )
    assert "wrote" in capsys.readouterr().out


@given(architectures())
def test_orders_and_carried_terms(arch):
    G = ta.graph.build(arch)
    for k in range(arch.n_layers + 1):
        terms = list(ta.logit_paths(arch, max_order=k))
        for layer, h in all_heads(arch):
            top = min(k, layer)
            scores = list(ta.score_paths(arch, layer, h, max_order=top))
            assert list(ta.graph.score_paths(G, layer, h, top)) == scores
            assert list(ta.graph.terms_into(arch, (layer, h), max_order=top)) == scores
            terms += scores
        carried = {edge for t in terms for edge in ta.graph.term_edges(t)}
        assert set(ta.graph.order_subgraph(G, k).edges(keys=True)) == carried
    everything = list(ta.logit_paths(arch))
    everything += [t for at in all_heads(arch) for t in ta.score_paths(arch, *at)]
    assert list(ta.graph.carried_terms(G)) == everything
