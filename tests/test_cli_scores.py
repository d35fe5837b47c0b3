"""``tensoralgebra scores``: listing one head's score terms."""

import json

import pytest

import tensoralgebra as ta
from tensoralgebra.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_text_listing_of_a_second_layer_head(capsys):
    status, out, _ = run(capsys, "scores", "--heads", "2,2", "--layer", "1", "--head", "1")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "# Architecture(heads=(2, 2)), head L1H1: 9 score terms"
    assert lines[2].split()[:2] == ["none", "0,0"]
    assert "Id ⊗ A^{L0H1} ⊗ W_E^T W_QK^{L1H1} W_OV^{L0H1} W_E" in out
    assert [line.split()[0] for line in lines[2:]] == ["none"] + ["Q"] * 2 + ["K"] * 2 + ["QK"] * 4


@pytest.mark.parametrize(
    ("argv", "arch", "layer", "head"),
    [
        (["--heads", "2,1,2", "--layer", "2", "--head", "1"], ta.Architecture((2, 1, 2)), 2, 1),
        (["--heads", "1,1", "--layer", "1", "--positional", "standard"], None, 1, 0),
        (["--layers", "3", "--layer", "2"], ta.Architecture.schematic(3), 2, None),
        (["--heads", "3x2", "--layer", "2", "--max-order", "1"], ta.Architecture((2, 2, 2)), 2, 0),
    ],
)
def test_json_matches_the_library(capsys, argv, arch, layer, head):
    status, out, _ = run(capsys, "scores", *argv, "--format", "json")
    assert status == 0
    data = json.loads(out)
    arch = arch or ta.Architecture((1, 1), positional="standard")
    max_order = data["max_order"]
    paths = list(ta.score_paths(arch, layer, head, max_order))
    assert data["count"] == len(data["terms"]) == len(paths)
    assert data["count"] == ta.count_score_paths(arch, layer, head, max_order=max_order)
    assert sum(data["by_kind"].values()) == data["count"]
    for record, path in zip(data["terms"], paths):
        assert record["kind"] == path.kind and record["order"] == list(path.order)
        assert record["query"]["source"] == path.query.source
        assert len(record["key"]["heads"]) == len(path.key.heads)
        assert record["expr"] == str(path.expr)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--heads", "2,2", "--layer", "2"], "layer 2 does not exist"),
        (["--heads", "2,2", "--layer", "1", "--head", "2"], "head 2 does not exist"),
        (["--heads", "2,0", "--layer", "1"], "layer 1 has no heads"),
        (["--heads", "2,2", "--layer", "1", "--max-order", "2"], "max_order 2 is out of range"),
        (["--layers", "2", "--layer", "1", "--head", "1"], "--head 1: the heads of a schematic"),
        (["--heads", "2,2"], "the following arguments are required: --layer"),
        (["--heads", "12x12", "--layer", "11"], "lower --max-order (--max-order 1 lists 17689)"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    status, out, err = run(capsys, "scores", *argv)
    assert status == 2 and not out
    assert message in err and len(err.strip().splitlines()) == 1
