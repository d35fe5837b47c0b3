"""The ``tensoralgebra`` command: demo, expand, count, and every way to call it wrongly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from math import comb
from pathlib import Path

import pytest

import tensoralgebra as ta
from tensoralgebra import cli
from tensoralgebra.cli import main, parse_heads
from tensoralgebra.expr.expand import MAX_TERMS

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert (code, err) == (0, "")
    return json.loads(out)


def expected_heads(path: ta.LogitPath) -> list:
    return [[layer, h if isinstance(h, int) else repr(h)] for layer, h in path.heads]


# (command-line architecture options, the Architecture they mean)
ARCHITECTURES = [
    (["--heads", "2,2"], ta.Architecture(heads=(2, 2))),
    (["--heads", ""], ta.Architecture(heads=())),
    (["--heads", "0"], ta.Architecture(heads=(0,))),
    (["--heads", "2,0,1"], ta.Architecture(heads=(2, 0, 1))),
    (["--heads", "3x4"], ta.Architecture(heads=(4, 4, 4))),
    (["--heads", "1,1", "--positional", "standard"], ta.Architecture((1, 1), "standard")),
    (["--heads", "2", "--positional", "none"], ta.Architecture(heads=(2,))),
    (["--layers", "0"], ta.Architecture.schematic(0)),
    (["--layers", "2"], ta.Architecture.schematic(2)),
    (["--layers", "3", "--positional", "standard"], ta.Architecture.schematic(3, "standard")),
]
ARCH_IDS = [" ".join(opts) or "none" for opts, _ in ARCHITECTURES]


# --- expand ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "arch"), ARCHITECTURES, ids=ARCH_IDS)
def test_expand_json_lists_every_path(capsys, options, arch):
    doc = run_json(capsys, "expand", *options)
    assert set(doc) == {"architecture", "max_order", "count", "terms"}
    assert doc["architecture"] == arch.to_dict()
    assert doc["max_order"] is None
    assert doc["count"] == len(doc["terms"]) == ta.count_logit_paths(arch)
    paths = list(ta.logit_paths(arch))
    assert doc["terms"] == [
        {
            "kind": p.kind,
            "order": p.order,
            "heads": expected_heads(p),
            "source": p.source,
            "expr": str(p.expr),
        }
        for p in paths
    ]
    # The listing is the expansion itself, term for term.
    assert [t["expr"] for t in doc["terms"]] == [
        str(t) for t in ta.terms(ta.expand(ta.logits(arch)))
    ]


def test_expand_json_heads_name_layer_and_head(capsys):
    concrete = run_json(capsys, "expand", "--heads", "2,2")["terms"]
    assert concrete[-1]["heads"] == [[0, 1], [1, 1]]
    assert concrete[-1]["kind"] == "virtual"
    schematic = run_json(capsys, "expand", "--layers", "2")["terms"]
    assert [t["heads"] for t in schematic] == [[], [[0, "h"]], [[1, "h"]], [[0, "h_0"], [1, "h_1"]]]
    assert schematic[-1]["expr"].startswith("Σ_{h_1∈H1} Σ_{h_0∈H0} ")


@pytest.mark.parametrize(("options", "arch"), ARCHITECTURES, ids=ARCH_IDS)
def test_expand_text_is_one_term_per_line(capsys, options, arch):
    code, out, err = run(capsys, "expand", *options)
    assert (code, err) == (0, "")
    header, columns, *rows = out.splitlines()
    assert header.startswith("# ") and f"{ta.count_logit_paths(arch)} term" in header
    assert columns.split() == ["#", "kind", "order", "heads", "source", "term"]
    paths = list(ta.logit_paths(arch))
    assert len(rows) == len(paths)
    for row, path in zip(rows, paths):
        kind, order, heads, source, term = row.split(maxsplit=4)
        assert (kind, int(order), source, term) == (
            path.kind,
            path.order,
            path.source,
            str(path.expr),
        )
        assert heads == ("→".join(str(ta.LogitPath((h,))) for h in path.heads) or "-")


def test_expand_text_example(capsys):
    _, out, _ = run(capsys, "expand", "--heads", "2,2")
    assert (
        "virtual      2  L0H1→L1H0  token     A^{L1H0} A^{L0H1} ⊗ W_U W_OV^{L1H0} W_OV^{L0H1} W_E"
        in out.splitlines()
    )


@pytest.mark.parametrize(
    ("options", "arch"),
    [
        (["--heads", "2,3,1"], ta.Architecture(heads=(2, 3, 1))),
        (["--heads", "2,0,2", "--positional", "standard"], ta.Architecture((2, 0, 2), "standard")),
        (["--layers", "3"], ta.Architecture.schematic(3)),
    ],
)
def test_max_order_keeps_low_orders(capsys, options, arch):
    for top in range(arch.n_layers + 1):
        doc = run_json(capsys, "expand", *options, "--max-order", str(top))
        expected = sum(ta.count_logit_paths(arch, order=k) for k in range(top + 1))
        assert doc["max_order"] == top
        assert doc["count"] == len(doc["terms"]) == expected
        assert [t["expr"] for t in doc["terms"]] == [
            str(p.expr) for p in ta.logit_paths(arch, max_order=top)
        ]
        present = {k for k in range(top + 1) if ta.count_logit_paths(arch, order=k)}
        assert {t["order"] for t in doc["terms"]} == present
        code, out, _ = run(capsys, "expand", *options, "--max-order", str(top))
        assert code == 0 and len(out.splitlines()) == 2 + expected


def test_expand_refuses_listings_over_the_limit(capsys):
    code, out, err = run(capsys, "expand", "--heads", "96x96")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "'96x96'" in err and str(MAX_TERMS) in err
    assert "--max-order 1 lists 9217" in err and "tensoralgebra count" in err
    code, _, err = run(capsys, "expand", "--layers", "17")
    assert code == 2 and "131072 terms" in err


def test_the_limit_is_inclusive(capsys, monkeypatch):
    monkeypatch.setattr(cli, "MAX_TERMS", 9)
    assert run(capsys, "expand", "--heads", "2,2")[0] == 0
    monkeypatch.setattr(cli, "MAX_TERMS", 8)
    code, _, err = run(capsys, "expand", "--heads", "2,2")
    assert code == 2 and "has 9 terms, more than the 8" in err and "--max-order 1 lists 5" in err
    assert run(capsys, "expand", "--heads", "2,2", "--max-order", "1")[0] == 0


# --- count -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "arch"), ARCHITECTURES, ids=ARCH_IDS)
def test_count_json_is_the_closed_form(capsys, options, arch):
    doc = run_json(capsys, "count", *options)
    assert set(doc) == {"architecture", "order", "count", "by_order"}
    assert doc["architecture"] == arch.to_dict()
    assert doc["order"] is None
    assert doc["count"] == ta.count_logit_paths(arch) == len(list(ta.logit_paths(arch)))
    assert doc["by_order"] == [
        {"order": k, "kind": ta.path_kind(k), "count": ta.count_logit_paths(arch, order=k)}
        for k in range(arch.n_layers + 1)
    ]
    assert sum(row["count"] for row in doc["by_order"]) == doc["count"]


def test_count_one_order(capsys):
    doc = run_json(capsys, "count", "--heads", "2,3,1", "--order", "2")
    assert (doc["order"], doc["count"]) == (2, 2 * 3 + 2 * 1 + 3 * 1)
    assert doc["by_order"] == [{"order": 2, "kind": "virtual", "count": 11}]
    code, out, _ = run(capsys, "count", "--heads", "2,3,1", "--order", "2")
    assert code == 0 and out.splitlines()[1:] == ["order 2   virtual   11"]


def test_count_text(capsys):
    code, out, err = run(capsys, "count", "--heads", "2,2")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "# Architecture(heads=(2, 2)): logit terms in closed form",
        "order 0   direct    1",
        "order 1   head      4",
        "order 2   virtual   4",
        "total               9",
    ]
    _, out, _ = run(capsys, "count", "--layers", "2")
    assert "grouped Σ terms" in out.splitlines()[0]


def test_count_96_layers_of_96_heads(capsys):
    doc = run_json(capsys, "count", "--heads", "96x96")
    assert doc["architecture"]["heads"] == [96] * 96
    assert doc["count"] == 97**96
    assert len(doc["by_order"]) == 97
    assert doc["by_order"][2]["count"] == comb(96, 2) * 96**2
    assert doc["by_order"][96]["count"] == 96**96
    code, out, _ = run(capsys, "count", "--heads", "96x96")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 1 + 97 + 1
    assert lines[0].startswith("# Architecture(heads=(96,) * 96)")
    assert lines[-1].split()[-1] == str(97**96) and "≈ 5.37e+190" in lines[-1]


# --- --heads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "heads"),
    [
        ("2,2", (2, 2)),
        ("", ()),
        ("  ", ()),
        ("0", (0,)),
        ("3x4", (4, 4, 4)),
        ("3X4", (4, 4, 4)),
        ("1, 2x3", (1, 3, 3)),
        ("0x5", ()),
        ("2x0,1", (0, 0, 1)),
        ("96x96", (96,) * 96),
    ],
)
def test_parse_heads(spec, heads):
    assert parse_heads(spec) == heads


def test_heads_nxh_on_the_command_line(capsys):
    assert run_json(capsys, "count", "--heads", "3x4")["architecture"]["heads"] == [4, 4, 4]
    assert run_json(capsys, "expand", "--heads", "1,2x3")["count"] == 2 * 4 * 4


# --- bad input -------------------------------------------------------------------------------

BAD = [
    (["expand", "--heads", "2,-1"], "heads[1] -1 is out of range"),
    (["expand", "--heads", "-1"], "heads[0] -1 is out of range"),
    (["count", "--heads", "3x-2"], "-2 is out of range"),
    (["expand", "--heads", "2,x"], "'x'"),
    (["expand", "--heads", "2.5"], "'2.5'"),
    (["expand", "--heads", "2,,2"], "''"),
    (["expand", "--heads", "x3"], "'x3'"),
    (["expand", "--heads", "2x3x4"], "'2x3x4'"),
    (["count", "--heads", "-2x3"], "-2"),
    (["count", "--layers", "-1"], "--layers -1"),
    (["count", "--layers", "two"], "'two'"),
    (["expand", "--heads", "2", "--positional", "rotary"], "'rotary'"),
    (["expand", "--heads", "2,2", "--max-order", "3"], "--max-order 3"),
    (["expand", "--heads", "2,2", "--max-order", "-1"], "--max-order -1"),
    (["expand", "--heads", "", "--max-order", "1"], "--max-order 1"),
    (["expand", "--heads", "2,2", "--max-order", "one"], "'one'"),
    (["count", "--heads", "2,2", "--order", "5"], "--order 5"),
    (["count", "--layers", "2", "--order", "3"], "--order 3"),
    (["count", "--heads", "2", "--format", "xml"], "'xml'"),
    (["expand"], "--heads --layers"),
    (["count", "--heads", "1", "--layers", "1"], "--layers: not allowed with argument --heads"),
    ([], "COMMAND"),
    (["frobnicate"], "'frobnicate'"),
]


@pytest.mark.parametrize(("argv", "named"), BAD, ids=[" ".join(a) or "nothing" for a, _ in BAD])
def test_bad_input_is_one_line_naming_the_value(capsys, argv, named):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("tensoralgebra")
    assert named in err
    assert "Traceback" not in err


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(c in out for c in ("demo", "expand", "count"))
    code, out, _ = run(capsys, "expand", "--help")
    assert code == 0 and "NxH" in out and str(MAX_TERMS) in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and ta.__version__ in out


# --- demo ------------------------------------------------------------------------------------


def test_demo(capsys):
    code, out, err = run(capsys, "demo")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) <= 120  # a few screens: every section short
    assert max(map(len, lines)) <= 100
    assert "Architecture(heads=(2, 2))" in out
    assert str(ta.logits(ta.Architecture.schematic(2))) in out
    for step in ta.expansion_steps(ta.logits(ta.Architecture(heads=(2, 2))))[1:]:
        assert f"  {step.name}: " in out
    for path in ta.logit_paths(ta.Architecture(heads=(2, 2))):
        assert str(path.expr) in out
    for path in ta.logit_paths(ta.Architecture.schematic(2)):
        assert str(path.expr) in out
    assert "all                9 terms: expansion == paths == closed form" in out
    assert "order 2  virtual   4 terms: expansion == paths == closed form" in out
    assert "grouped  4 terms: expansion == paths == closed form" in out
    assert "FAILED" not in out
    assert lines[-1].startswith("All ") and lines[-1].endswith(" checks agree.")


def test_demo_fails_when_counts_disagree(capsys, monkeypatch):
    real = ta.count_logit_paths
    monkeypatch.setattr(ta, "count_logit_paths", lambda arch, order=None: real(arch, order) + 1)
    code, out, _ = run(capsys, "demo")
    assert code == 1
    assert "FAILED" in out and "expansion 9, paths 9, closed form 10" in out


def test_demo_fails_when_paths_disagree(capsys, monkeypatch):
    real = ta.logit_paths
    monkeypatch.setattr(ta, "logit_paths", lambda arch, max_order=None: list(real(arch))[:-1])
    code, out, _ = run(capsys, "demo")
    assert code == 1
    assert "term by term: the expansion's terms are not the paths' terms, in order" in out
    assert out.splitlines()[-1].endswith("checks FAILED.")


def _python_m(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUTF8": "1"}
    command = [sys.executable, "-m", "tensoralgebra", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, text=True, **kwargs)


def test_python_m_tensoralgebra_demo():
    process = _python_m("demo", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert err == ""
    assert "9 terms: expansion == paths == closed form" in out


def test_a_closed_pipe_ends_the_listing_quietly():
    process = _python_m("expand", "--heads", "5x5", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith("# Architecture")
    process.stdout.close()  # like `| head -1`: the reader leaves, the writer gets EPIPE
    err = process.stderr.read()
    process.wait(timeout=120)
    assert process.returncode == 1
    assert err == ""


# --- verify ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        ["--heads", "2,2"],
        ["--heads", "1,0,1", "--positional", "standard", "--dtype", "float32"],
        ["--heads", "", "--d-vocab", "5", "--n-ctx", "3"],
        ["--heads", "2,2", "--max-order", "1", "--d-head", "1"],
    ],
)
def test_verify_reports_every_check_ok(capsys, options):
    code, out, err = run(capsys, "verify", *options)
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1].startswith("all ") and out.splitlines()[-1].endswith("checks ok")
    doc = run_json(capsys, "verify", *options)
    assert doc["ok"] is True and all(check["ok"] for check in doc["checks"])


def test_verify_exits_1_when_a_check_fails(capsys, monkeypatch):
    from tensoralgebra.numeric import report

    monkeypatch.setitem(report.TOLERANCE, "float64", 0.0)  # nothing agrees to zero error
    code, out, _ = run(capsys, "verify", "--heads", "1,1")
    assert code == 1 and "FAILED" in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--layers", "2"], "verify needs concrete head counts"),
        (["--heads", "2", "--d-head", "0"], "d_head must be a positive integer, got 0"),
        (["--heads", "2", "--max-order", "2"], "--max-order 2 is out of range"),
    ],
)
def test_verify_bad_input_exits_2(capsys, options, message):
    code, out, err = run(capsys, "verify", *options)
    assert code == 2 and out == "" and message in err


def test_demo_verifies_its_expansion_numerically(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "Random float64 model: Σ of the 9 terms == its logits" in out
    assert "4 heads' score terms too" in out


def test_demo_shows_the_second_layer_score_expansion(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "Attention scores of L1H0" in out
    assert "QK   4 terms: expansion == paths == closed form" in out
