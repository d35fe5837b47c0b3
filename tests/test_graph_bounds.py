"""The graph module refuses bad input clearly, quotes everything in DOT, and stays bounded."""

import copy
import json
import time

import matplotlib
import networkx as nx
import pytest

import tensoralgebra as ta
from tensoralgebra import ExpansionLimitError, TensorAlgebraError

SMALL = ta.Architecture(heads=(2, 2))
BIG = ta.Architecture(heads=(200,) * 10)


def small():
    return ta.graph.build(SMALL)


def document():
    return ta.graph.to_json(small())


def edited(change):
    data = copy.deepcopy(document())
    change(data)
    return data


def _set(data, path, value):
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


# --- bad input: (call, error type, message fragment) ----------------------------------------

BAD = [
    # from_json: not a document, missing parts, a mismatching architecture, malformed records
    (lambda: ta.graph.from_json({}), TensorAlgebraError, "this JSON has no dict 'graph'"),
    (lambda: ta.graph.from_json([]), TensorAlgebraError, "expected node-link JSON (a dict)"),
    (
        lambda: ta.graph.from_json({"graph": {}, "nodes": [], "edges": []}),
        TensorAlgebraError,
        "no architecture",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: d.pop("edges"))),
        TensorAlgebraError,
        "no list 'edges'",
    ),
    (
        lambda: ta.graph.from_json(
            edited(lambda d: _set(d, ["graph", "architecture", "heads"], [2, 3]))
        ),
        TensorAlgebraError,
        "do not match its architecture Architecture(heads=(2, 3)): node 'L1H2'",
    ),
    (
        lambda: ta.graph.from_json(
            edited(lambda d: _set(d, ["graph", "architecture", "heads"], [2]))
        ),
        TensorAlgebraError,
        "it has no node 'L1H0'",
    ),
    (
        lambda: ta.graph.from_json(
            edited(lambda d: _set(d, ["graph", "architecture", "heads"], [2, -1]))
        ),
        TensorAlgebraError,
        "heads[1] -1 is out of range",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: _set(d, ["nodes", 1, "layer"], 5))),
        TensorAlgebraError,
        "node 'L0H0' has layer=5, not 0",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: _set(d, ["nodes", 1], "L0H0"))),
        TensorAlgebraError,
        "node record 1 is 'L0H0', not an object",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: d["nodes"].append(d["nodes"][1]))),
        TensorAlgebraError,
        "node 'L0H0' appears twice",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: _set(d, ["edges", 0, "source"], None))),
        TensorAlgebraError,
        "edge record 0 has no str 'source'",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: _set(d, ["edges", 0, "target"], "L9H9"))),
        TensorAlgebraError,
        "edge record 0 joins 'L9H9', which is not a node",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: _set(d, ["edges", 0, "key"], "W"))),
        TensorAlgebraError,
        "edge record 0 has channel 'Q' and key 'W'",
    ),
    (
        lambda: ta.graph.from_json(
            edited(
                lambda d: d["edges"].append(
                    {"source": "L1H0", "target": "L0H0", "key": "V", "channel": "V"}
                )
            )
        ),
        TensorAlgebraError,
        "L0H0 cannot read L1H0 with V",
    ),
    (
        lambda: ta.graph.from_json(
            edited(
                lambda d: d["edges"].append(
                    {"source": "token", "target": "unembed", "key": "Q", "channel": "Q"}
                )
            )
        ),
        TensorAlgebraError,
        "unembed cannot read token with Q",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: d["edges"].append(d["edges"][0]))),
        TensorAlgebraError,
        "the edge token -> L0H0 (Q) appears twice",
    ),
    (
        lambda: ta.graph.from_json(edited(lambda d: _set(d, ["graph", "per"], "neuron"))),
        TensorAlgebraError,
        "per='neuron'",
    ),
    # write: missing folder, a folder, unknown formats, not a path
    (
        lambda: ta.graph.write(small(), "missing/folder/x.dot"),
        TensorAlgebraError,
        "the folder 'missing/folder' does not exist",
    ),
    (
        lambda: ta.graph.write(small(), "missing/folder/x.svg"),
        TensorAlgebraError,
        "the folder 'missing/folder' does not exist",
    ),
    (
        lambda: ta.graph.write(small(), "graph.txt"),
        TensorAlgebraError,
        "cannot write a graph to 'graph.txt': the extension must be one of",
    ),
    (lambda: ta.graph.write(small(), None), TensorAlgebraError, "expected a file path"),
    (lambda: ta.graph.draw(small(), "x.gif"), TensorAlgebraError, "extension must be one of"),
    (lambda: ta.graph.write(nx.MultiDiGraph(), "g.dot"), TensorAlgebraError, "no architecture"),
    # queries: heads, kinds, channels, orders, limits
    (lambda: ta.graph.paths_through(small(), "L2H0"), TensorAlgebraError, "layer 2 does not exist"),
    (
        lambda: ta.graph.paths_through(small(), (1, 3)),
        TensorAlgebraError,
        "head 3 does not exist: layer 1 has heads",
    ),
    (
        lambda: ta.graph.paths_through(small(), "unembed"),
        TensorAlgebraError,
        "'unembed' is not a head",
    ),
    (lambda: ta.graph.paths_through(small(), (True, 0)), TensorAlgebraError, "is not a head"),
    (
        lambda: ta.graph.terms_into(small(), "L1H0", "V"),
        TensorAlgebraError,
        "kind is 'V': expected one of 'none', 'Q', 'K', 'QK'",
    ),
    (lambda: ta.graph.terms_into(small(), "L1H0", ["K"]), TensorAlgebraError, "kind is ['K']"),
    (
        lambda: ta.graph.terms_into(small(), "L1H0", through="L7H0"),
        TensorAlgebraError,
        "layer 7 does not exist",
    ),
    (lambda: ta.graph.count_terms_into(SMALL, "L1H0", "KQ"), TensorAlgebraError, "kind is 'KQ'"),
    (
        lambda: ta.graph.count_score_paths(small(), 1, 0, kind="KQ"),
        TensorAlgebraError,
        "kind is 'KQ'",
    ),
    (
        lambda: ta.graph.score_paths(small(), 1, 0, max_order=2),
        TensorAlgebraError,
        "max_order 2 is out of range: each side of a layer-1 head's score terms",
    ),
    (
        lambda: ta.graph.score_paths(small(), 1, 0, max_order=0.5),
        TensorAlgebraError,
        "max_order is 0.5: expected an integer",
    ),
    (
        lambda: ta.graph.count_logit_paths(small(), order=3),
        TensorAlgebraError,
        "order 3 is out of range",
    ),
    (lambda: ta.graph.order_subgraph(small(), -1), TensorAlgebraError, "k -1 is out of range"),
    (lambda: ta.graph.logit_paths(small(), limit=0), TensorAlgebraError, "limit is 0"),
    (
        lambda: ta.graph.draw(small(), channels=("Q", "W")),
        TensorAlgebraError,
        "channel is 'W': expected one of 'Q', 'K', 'V', 'out'",
    ),
    (
        lambda: ta.graph.term_edges("L0H0"),
        TensorAlgebraError,
        "a term is a LogitPath or a ScorePath",
    ),
    (
        lambda: ta.graph.terms_into("graph", "L1H0"),
        TensorAlgebraError,
        "expected a graph from ta.graph.build or an Architecture",
    ),
    (
        lambda: ta.graph.terms_into(ta.Architecture.schematic(2), "L1H0"),
        TensorAlgebraError,
        "symbolic head sets",
    ),
    (
        lambda: ta.graph.terms_into(ta.graph.build(SMALL, per="layer"), "L1H0"),
        TensorAlgebraError,
        "this graph has one node per layer",
    ),
    (
        lambda: ta.graph.paths_through(small().subgraph(["token", "L0H0"]), "L0H0"),
        TensorAlgebraError,
        "lacks nodes",
    ),
    # build: budgets
    (
        lambda: ta.graph.build(BIG),
        ExpansionLimitError,
        "has 5,408,001 edges, over the limit of 100,000: its head-to-head",
    ),
    (lambda: ta.graph.build(SMALL, per="neuron"), TensorAlgebraError, "per is 'neuron'"),
    (lambda: ta.graph.build(SMALL, max_edges=0), TensorAlgebraError, "max_edges is 0"),
    (
        lambda: ta.graph.build(ta.Architecture(heads=(1,) * 1000)),
        ExpansionLimitError,
        "1,502,501 edges",
    ),
    # listings too long to make
    (
        lambda: ta.graph.logit_paths(ta.graph.build(ta.Architecture(heads=(12,) * 12))),
        ExpansionLimitError,
        "23,298,085,122,481 logit terms of order ≤ 12",
    ),
    (lambda: ta.graph.terms_into(BIG, "L9H0"), ExpansionLimitError, "score terms (sides of"),
    (
        lambda: ta.graph.paths_through(BIG, "L0H0"),
        ExpansionLimitError,
        "logit terms of order ≤ 10 pass through L0H0",
    ),
    # term norms read the idealised model's streams: a model with LayerNorm is refused
    (lambda: _norms_of_a_real_model(), TensorAlgebraError, "term norms are not yet supported"),
]


def _norms_of_a_real_model():
    arch = ta.Architecture((1, 1), normalization="LN", biases=True)
    weights = ta.Weights.random(arch, d_model=4, d_head=2, d_vocab=5, n_ctx=3)
    trace = ta.AttentionOnlyTransformer(weights).run([[1, 2, 3]])
    return ta.graph.term_norms(ta.graph.build(ta.Architecture((1, 1))), weights, trace)


@pytest.mark.parametrize(("call", "error", "fragment"), BAD, ids=[f for *_, f in BAD])
def test_bad_input_is_refused_by_name(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)


def test_limit_errors_name_a_max_order_that_fits():
    with pytest.raises(ExpansionLimitError) as caught:
        ta.graph.terms_into(BIG, "L9H0", "K")
    err = caught.value
    assert err.option == "max_order"
    assert (
        0 < ta.graph.count_terms_into(BIG, "L9H0", "K", max_order=err.value) <= ta.graph.MAX_LISTED
    )
    assert (
        ta.graph.count_terms_into(BIG, "L9H0", "K", max_order=err.value + 1) > ta.graph.MAX_LISTED
    )
    with pytest.raises(ExpansionLimitError) as caught:
        ta.graph.build(BIG)
    assert (caught.value.option, caught.value.value) == ("per", "layer")
    assert ta.graph.build(BIG, per="layer").number_of_edges() == ta.graph.count_edges(BIG, "layer")
    with pytest.raises(ExpansionLimitError) as caught:
        ta.graph.build(ta.Architecture(heads=(1,) * 1000))
    assert caught.value.option is None  # even one node per layer would not fit


# --- JSON, DOT ----------------------------------------------------------------------------------


def test_json_keeps_pruned_and_layer_graphs():
    G = ta.graph.prune(small(), "missing", 0.0)
    G.remove_edge("L0H0", "L1H0", "V")
    back = ta.graph.from_json(json.loads(json.dumps(ta.graph.to_json(G))))
    assert sorted(back.edges(keys=True)) == sorted(G.edges(keys=True))
    L = ta.graph.build(SMALL, per="layer")
    back = ta.graph.from_json(json.loads(json.dumps(ta.graph.to_json(L))))
    assert list(back.edges(keys=True, data=True)) == list(L.edges(keys=True, data=True))


HOSTILE = [
    'a" -> "b',
    "x\\",
    '\\"; evil -> node [color=red]; "',
    "line\nbreak -> other",
    "{ } [ ] ; , =",
    "back\\\\slash\\",
    'tail"',
]


def dot_tokens(text):
    """Tokens of DOT, by Graphviz's scanner rules: quoted strings (``\\"`` is a quote, a
    backslash pair is kept as a pair, backslash-newline is dropped), ``->``, punctuation, bare
    words; ``//`` comments skipped."""
    tokens, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith("//", i):
            i = text.index("\n", i) if "\n" in text[i:] else len(text)
        elif ch == '"':
            i, value = i + 1, []
            while text[i] != '"':
                pair = text[i : i + 2]
                if pair in ('\\"', "\\\\"):
                    value.append('"' if pair == '\\"' else "\\\\")
                    i += 2
                elif pair == "\\\n":
                    i += 2
                else:
                    value.append(text[i])
                    i += 1
            tokens.append(("string", "".join(value).replace("\\\\", "\\")))
            i += 1
        elif text.startswith("->", i):
            tokens.append(("arrow", "->"))
            i += 2
        elif ch in "{}[];,=":
            tokens.append(("punct", ch))
            i += 1
        else:
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] in "_.#"):
                j += 1
            tokens.append(("word", text[i:j]))
            i = j
    return tokens


def statements(text):
    """The node statements ``("node", name, attrs)`` and edge statements ``("edge", u, v,
    attrs)`` of a DOT text as :func:`~tensoralgebra.graph.to_dot` writes it."""
    tokens = dot_tokens(text)
    assert tokens[:3] == [("word", "digraph"), ("word", "transformer"), ("punct", "{")]
    found, i = [], 3
    while tokens[i] != ("punct", "}"):
        kind, value = tokens[i]
        if (kind, value) == ("punct", "{"):  # a rank block: names only
            i = tokens.index(("punct", "}"), i) + 1
        elif kind == "word":  # rankdir=LR; node [...];
            i = tokens.index(("punct", ";"), i) + 1
        elif tokens[i + 1] == ("arrow", "->"):
            assert tokens[i + 2][0] == "string"
            v = tokens[i + 2][1]
            attrs, i = _attrs(tokens, i + 3)
            found.append(("edge", value, v, attrs))
        else:
            attrs, i = _attrs(tokens, i + 1)
            found.append(("node", value, attrs))
        if tokens[i] == ("punct", ";"):
            i += 1
    assert i == len(tokens) - 1, "text after the graph's closing brace"
    return found


def _attrs(tokens, i):
    """``{key: value}`` of an attribute list starting at ``tokens[i] == "["``; the index after
    its closing ``]``."""
    assert tokens[i] == ("punct", "[")
    attrs, i = {}, i + 1
    while tokens[i] != ("punct", "]"):
        key, eq, value = tokens[i], tokens[i + 1], tokens[i + 2]
        assert key[0] == "string" and eq == ("punct", "=") and value[0] == "string", tokens[
            i : i + 3
        ]
        attrs[key[1]] = value[1]
        i += 3
        if tokens[i] == ("punct", ","):
            i += 1
    return attrs, i + 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_dot_quotes_names_keys_and_values(hostile):
    G = nx.relabel_nodes(ta.graph.build(ta.Architecture(heads=(1, 1))), {"L0H0": hostile})
    G.nodes[hostile][hostile] = hostile
    G.edges[hostile, "L1H0", "K"][hostile] = hostile
    G.edges["token", "unembed", "out"]["note"] = hostile
    found = statements(ta.graph.to_dot(G))
    nodes = {name: attrs for kind, name, *attrs in found if kind == "node" for attrs in attrs}
    edges = [(u, v, a["channel"], a) for kind, u, v, a in (f for f in found if f[0] == "edge")]
    assert list(nodes) == list(G.nodes)
    assert nodes[hostile][hostile] == hostile
    assert [e[:3] for e in edges] == list(G.edges(keys=True))
    for u, v, c, attrs in edges:
        for key, value in G.edges[u, v, c].items():
            assert attrs[key] == str(value)


def test_the_dot_tokenizer_sees_an_injection_in_unquoted_text():
    # The check itself can fail: an unescaped quote ends the string and injects an edge.
    text = 'digraph transformer {\n  "a" [x="1"];\n  "a" [y="v"; "a" -> "b"; "c"];\n}'
    with pytest.raises(AssertionError):
        statements(text)


# --- bounded at any size ----------------------------------------------------------------------


def test_a_large_model_answers_from_its_architecture_at_once():
    start = time.perf_counter()
    terms = list(ta.graph.terms_into(BIG, "L1H0", "K"))
    assert len(terms) == ta.count_score_paths(BIG, 1, 0, kind="K") == 200
    assert terms == [t for t in ta.score_paths(BIG, 1, 0) if t.kind == "K"]
    through = list(ta.graph.terms_into(BIG, "L2H0", "QK", through="L0H5", max_order=1))
    assert (
        len(through)
        == ta.graph.count_terms_into(BIG, "L2H0", "QK", through="L0H5", max_order=1)
        == 2 * 400 - 1
    )
    assert ta.graph.count_paths_through(BIG, "L0H0") == 201**9
    assert len(ta.graph.paths_through(BIG, "L8H3", max_order=2)) == 1 + 200 + 8 * 200
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("kind", [None, "none", "Q", "K", "QK"])
def test_through_and_kind_agree_with_filtering_the_enumeration(kind):
    arch = ta.Architecture(heads=(2, 1, 2), positional="standard")
    G = ta.graph.build(arch)
    for source in (G, arch):
        for via in ("L0H1", "L1H0"):
            want = [
                t
                for t in ta.score_paths(arch, 2, 1)
                if kind in (None, t.kind)
                and (ta.graph.keys.parse_head(via) in t.query.heads + t.key.heads)
            ]
            got = list(ta.graph.terms_into(source, "L2H1", kind, through=via))
            assert got == want
            assert ta.graph.count_terms_into(source, "L2H1", kind, through=via) == len(want)


def test_layer_graphs_aggregate_the_head_graph():
    arch = ta.Architecture(heads=(2, 0, 3), positional="standard")
    L = ta.graph.build(arch, per="layer")
    assert list(L) == ["token", "position", "L0", "L2", "unembed"]
    assert L.number_of_edges() == ta.graph.count_edges(arch, "layer")
    assert ta.graph.build(arch).number_of_edges() == ta.graph.count_edges(arch)
    merged = ta.graph.by_layer(ta.graph.build(arch))
    assert list(merged.edges(keys=True, data=True)) == list(L.edges(keys=True, data=True))
    assert L.edges["L0", "L2", "V"]["n_edges"] == 6


# --- drawing: no global state, large models reduced and said so ------------------------------


def test_drawing_leaves_the_backend_and_rcparams_alone(tmp_path):
    backend, before = matplotlib.get_backend(), dict(matplotlib.rcParams)
    G = small()
    for suffix in (".svg", ".png"):
        ta.graph.write(G, tmp_path / f"g{suffix}")
    ta.graph.draw(G, weight="missing")
    assert matplotlib.get_backend() == backend
    assert dict(matplotlib.rcParams) == before
    svg = (tmp_path / "g.svg").read_text()
    again = tmp_path / "again.svg"
    ta.graph.write(G, again)
    assert again.read_text() == svg  # reproducible: the salt is set per call


def test_large_drawings_are_reduced_and_say_so():
    G = ta.graph.build(ta.Architecture(heads=(12,) * 12))
    start = time.perf_counter()
    fig = ta.graph.draw(G)
    assert time.perf_counter() - start < 20
    notes = [t.get_text() for t in fig.texts]
    assert any("144 heads drawn as one block per layer" in n for n in notes)
    for u, v, c in G.edges(keys=True):
        if c in "QKV" and u.startswith("L"):
            G.edges[u, v, c]["composition"] = (hash((u, v, c)) % 1000) / 1000
    fig = ta.graph.draw(G, weight="composition")
    notes = [t.get_text() for t in fig.texts]
    assert any("the 60 heaviest of" in n for n in notes)
    assert any(ax.get_ylabel() == "composition score" for ax in fig.axes)  # the colour bar


def test_panels_leave_out_the_unembedding_where_nothing_reaches_it():
    G = ta.graph.build(ta.Architecture(heads=(4, 4, 4, 4)))
    fig = ta.graph.draw(G, panels=True)
    labels = [[t.get_text() for t in ax.texts] for ax in fig.axes[:4]]
    assert ["unembed" in found for found in labels] == [False, False, False, True]
