"""The graph in files and on the command line: DOT, GraphML, JSON, drawings, `paths`, `graph`."""

import json

import networkx as nx
import pytest

import tensoralgebra as ta
from tensoralgebra.cli import main

ARCH = ta.Architecture(heads=(2, 2), positional="standard")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_round_trip_and_graphml(tmp_path):
    G = ta.graph.build(ARCH)
    back = ta.graph.from_json(json.loads(json.dumps(ta.graph.to_json(G))))
    assert back.graph["architecture"] == ARCH
    assert list(back.nodes(data=True)) == list(G.nodes(data=True))
    assert list(back.edges(keys=True, data=True)) == list(G.edges(keys=True, data=True))
    assert list(ta.graph.logit_paths(back)) == list(ta.logit_paths(ARCH))
    path = ta.graph.write(G, tmp_path / "g.graphml")
    read = nx.read_graphml(path, force_multigraph=True)
    assert sorted(read.nodes) == sorted(G.nodes)
    assert sorted(read.edges(keys=True)) == sorted(G.edges(keys=True))
    assert json.loads(read.graph["architecture"]) == ARCH.to_dict()
    with pytest.raises(ta.TensorAlgebraError, match="no architecture"):
        ta.graph.from_json(
            {"directed": True, "multigraph": True, "graph": {}, "nodes": [], "edges": []}
        )


def test_dot_lists_every_node_and_edge_with_its_style():
    G = ta.graph.build(ARCH)
    dot = ta.graph.to_dot(G)
    assert dot.startswith("// Architecture(heads=(2, 2), positional='standard')\ndigraph")
    assert dot.count(" -> ") == G.number_of_edges()
    assert '"L0H0" -> "L1H1" [channel="K", label="K", color="#c8322a", style=dotted];' in dot
    assert '{ rank=same; "L0H0"; "L0H1"; }' in dot


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_drawings_are_written(tmp_path, suffix):
    G = ta.graph.build(ta.Architecture(heads=(1, 1)))
    path = ta.graph.write(G, tmp_path / f"g{suffix}")
    assert path.stat().st_size > 1000
    fig = ta.graph.draw(G, weight="missing", panels=True, channels=("V", "out"))
    assert len([ax for ax in fig.axes if ax.patches]) == 2


def test_positions_run_left_to_right():
    G = ta.graph.build(ta.Architecture(heads=(4, 4, 4, 4)))
    place = ta.graph.positions(G)
    xs = {n: x for n, (x, _) in place.items()}
    assert xs["token"] < xs["L0H0"] < xs["L1H3"] < xs["L3H0"] < xs["unembed"]
    assert len(set(place.values())) == len(place)


def test_paths_command_lists_the_traversal(capsys):
    code, out, err = run(capsys, "paths", "--heads", "2,2", "--through", "L0H1")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "# Architecture(heads=(2, 2)): 3 logit terms through L0H1"
    assert [line.split()[2] for line in lines[2:]] == ["L0H1", "L0H1→L1H0", "L0H1→L1H1"]
    code, out, _ = run(capsys, "paths", "--heads", "2,2", "--format", "json")
    doc = json.loads(out)
    assert doc["count"] == 9 and [t["expr"] for t in doc["terms"]] == [
        str(p.expr) for p in ta.logit_paths(ta.Architecture((2, 2)))
    ]


def test_paths_command_lists_terms_of_a_kind_into_a_head(capsys):
    argv = ("paths", "--heads", "2,2", "--positional", "standard", "--kind", "K", "--into", "L1H0")
    code, out, err = run(capsys, *argv, "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    want = [t for t in ta.score_paths(ARCH, 1, 0) if t.kind == "K"]
    assert doc["count"] == len(want) == ta.count_score_paths(ARCH, 1, 0, kind="K")
    assert [t["expr"] for t in doc["terms"]] == [str(t.expr) for t in want]
    assert doc["terms"][0]["key"] == {"heads": [[0, 0]], "source": "token"}
    code, out, _ = run(capsys, *argv)
    assert code == 0 and out.splitlines()[0].endswith(": 8 K score terms of L1H0")


def test_graph_command_writes_every_format(capsys, tmp_path):
    for suffix in (".svg", ".dot", ".graphml", ".json"):
        out_file = tmp_path / f"g{suffix}"
        code, out, err = run(capsys, "graph", "--heads", "2,2", "--out", str(out_file))
        assert (code, err) == (0, "") and out_file.exists()
        assert out == f"wrote {out_file}: 6 nodes, 29 edges (Q 8, K 8, V 8, out 5)\n"
    code, out, _ = run(
        capsys, "graph", "--heads", "1", "--out", str(tmp_path / "g.json"), "--format", "json"
    )
    assert json.loads(out)["edges"] == {"Q": 1, "K": 1, "V": 1, "out": 2}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["paths", "--heads", "2,2", "--into", "L5H0"], "layer 5 does not exist"),
        (["paths", "--heads", "2,2", "--into", "L1H2"], "head 2 does not exist"),
        (["paths", "--heads", "2,2", "--through", "X"], "'X' is not a head"),
        (["paths", "--heads", "2,2", "--kind", "V", "--into", "L1H0"], "--kind 'V' is not a"),
        (["paths", "--heads", "2,2", "--kind", "K"], "--kind K: name the head"),
        (["paths", "--heads", "2,2", "--max-order", "3"], "--max-order 3 is out of range"),
        (["paths", "--heads", "12x12"], "more than the 100000 that paths lists"),
        (["paths", "--layers", "2"], "--layers 2: the graph needs concrete head counts"),
        (["graph", "--heads", "2,2", "--out", "g.txt"], "the extension must be one of"),
        (["graph", "--heads", "2,2", "--out", "/no/such/dir/g.svg"], "No such file"),
        (["graph", "--heads", "2,2"], "--out"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1
