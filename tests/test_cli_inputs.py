"""The ``tensoralgebra`` command's driver: every bad input is one line and exit status 2, each
command is registered the same way, heavy dependencies wait until a command runs, and output
survives a closed pipe and a terminal that cannot encode the notation."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tensoralgebra as ta
from tensoralgebra.cli import COMMANDS, build_parser, main, message
from tensoralgebra.cli.output import SHORT_DIGITS, ascii_spelling, brief, exact_digits
from tensoralgebra.errors import ExpansionLimitError

ROOT = Path(__file__).resolve().parents[1]
MISSING = "/nonexistent-folder/x"

# (argv, a fragment of the one-line message)
BAD = [
    # the command itself
    ([], "COMMAND"),
    (["frobnicate"], "'frobnicate'"),
    (["expand"], "--heads --layers"),
    (["count", "--heads", "1", "--layers", "1"], "--layers: not allowed with argument --heads"),
    # --heads spellings
    (["expand", "--heads", "2,-1"], "heads[1] -1 is out of range"),
    (["expand", "--heads", "-1"], "heads[0] -1 is out of range"),
    (["count", "--heads", "3x-2"], "-2 is out of range"),
    (["count", "--heads", "-2x3"], "asks for -2 layers"),
    (["expand", "--heads", "2,x"], "'x'"),
    (["expand", "--heads", "2.5"], "'2.5'"),
    (["expand", "--heads", "2,,2"], "'' is neither a head count nor NxH"),
    (["expand", "--heads", "x3"], "'x3'"),
    (["expand", "--heads", "0x"], "'0x'"),
    (["expand", "--heads", "2x3x4"], "'2x3x4'"),
    (["expand", "--heads", "two"], "'two'"),
    # sizes: refused by the parser's bounds before anything is built
    (["expand", "--heads", "1000000000x1"], "1000000000 layers, more than the 1000000"),
    (["count", "--heads", "600000x1,600000x1"], "1200000 layers, more than the 1000000"),
    (["count", "--heads", "2x10000000"], "10000000 heads in a layer, more than the 1000000"),
    (["count", "--layers", "2000000"], "--layers 2000000: more than the 1000000 layers"),
    (["count", "--layers", "-1"], "--layers -1"),
    (["count", "--layers", "two"], "'two'"),
    # listings over the limit, with a --max-order that fits
    (["expand", "--heads", "8x8"], "--max-order 3 lists 30529"),
    (["scores", "--heads", "12x12", "--layer", "11"], "--max-order 1 lists 17689"),
    (["paths", "--heads", "8x8"], "use --max-order 3"),
    # orders, positional, formats
    (["expand", "--heads", "2", "--positional", "rotary"], "'rotary'"),
    (["expand", "--heads", "2,2", "--max-order", "3"], "--max-order 3 is out of range"),
    (["expand", "--heads", "2,2", "--max-order", "-1"], "--max-order -1 is out of range"),
    (["expand", "--heads", "2,2", "--max-order", "one"], "'one'"),
    (["count", "--heads", "2,2", "--order", "5"], "--order 5 is out of range"),
    (["count", "--heads", "2", "--format", "xml"], "'xml'"),
    (["derive", "--heads", "2", "--format", "json"], "'json'"),
    # verify's sizes and seed
    (
        ["verify", "--heads", "1", "--seed", "-1"],
        "--seed -1 is out of range: expected 0..4294967295",
    ),
    (["verify", "--heads", "1", "--seed", "4294967296"], "--seed 4294967296 is out of range"),
    (["verify", "--heads", "1", "--d-vocab", "1000000000000"], "--d-vocab is 1000000000000"),
    (
        ["verify", "--heads", "1", "--d-vocab", "1000000", "--d-model", "4096"],
        "over the memory budget of 1,073,741,824 bytes: use --d-",
    ),
    (["verify", "--heads", "1", "--d-head", "0"], "--d-head is 0: expected a positive integer"),
    (["verify", "--heads", "1", "--n-ctx", "-3"], "--n-ctx is -3"),
    (["verify", "--layers", "2"], "verify needs concrete head counts"),
    # output files: a missing folder, a folder, a full device, the wrong type
    (["derive", "--heads", "1,1", "--out", f"{MISSING}.tex"], "'/nonexistent-folder' does not"),
    (["derive", "--heads", "1,1", "--pdf", f"{MISSING}.pdf"], "'/nonexistent-folder' does not"),
    (["derive", "--heads", "1,1", "--out", "/"], "--out '/' is a folder"),
    (["derive", "--heads", "1,1", "--pdf", "/"], "--pdf '/' is a folder"),
    (["derive", "--heads", "1,1", "--out", "/dev/full"], "cannot write: No space left"),
    (["derive", "--heads", "1,1", "--pdf", "out.txt"], "'out.txt': the extension must be .pdf"),
    (["derive", "--heads", "1,1", "--out", "out.pdf"], "writes LaTeX or Markdown: use --pdf"),
    (["graph", "--heads", "1", "--out", f"{MISSING}.svg"], "'/nonexistent-folder' does not"),
    (["graph", "--heads", "1", "--out", "g.txt"], "the extension must be one of .svg, .png"),
    (["demo", "--out", f"{MISSING}.tex"], "'/nonexistent-folder' does not"),
    (["demo", "--out", "demo.pdf"], "the extension must be .tex"),
    (["prove", "--examples", "0"], "--examples is 0"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD, ids=[" ".join(a) or "-" for a, _ in BAD])
def test_bad_input_is_one_line_and_status_2(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)  # relative output files stay here, should any be written
    start = time.perf_counter()
    code = main(argv)
    out, err = capsys.readouterr()
    assert time.perf_counter() - start < 20
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("tensoralgebra")
    assert fragment in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            ExpansionLimitError("too many", option="max_order", value=1),
            "too many: use --max-order 1",
        ),
        (ExpansionLimitError("too deep", option="n_layers", value=3), "too deep: use --layers 3"),
        (ExpansionLimitError("big", option="d_vocab", value=50), "big: use --d-vocab 50"),
        (
            ExpansionLimitError("huge", option="max_terms", value=10),
            "huge: list fewer terms with --max-order, or count them all with 'tensoralgebra count'",
        ),
        (ExpansionLimitError("plain"), "plain"),
    ],
)
def test_limit_errors_name_flags_not_parameters(capsys, monkeypatch, error, line):
    def refuse(*args, **kwargs):
        raise error

    assert message(error) == line
    monkeypatch.setattr(ta, "count_logit_paths", refuse)
    assert main(["count", "--heads", "2,2"]) == 2
    assert capsys.readouterr().err == f"tensoralgebra count: error: {line}\n"


def test_every_command_is_a_module_registered_the_same_way():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert list(subparsers.choices) == [n.replace("_", "-") for n in COMMANDS]
    for name in COMMANDS:
        module = importlib.import_module(f"tensoralgebra.cli.{name}")
        assert callable(module.register) and callable(module.run)
        command = subparsers.choices[name.replace("_", "-")]  # module top_paths: top-paths
        assert command.get_default("run") is module.run
        assert command.description and command.epilog
        # No command reaches into another command's module.
        source = Path(module.__file__).read_text()
        others = [n for n in COMMANDS if n != name]
        assert not any(f"tensoralgebra.cli.{n} " in source for n in others)
        assert not any(f"tensoralgebra.cli import {n}" in source for n in others)


def test_importing_the_command_defers_heavy_dependencies():
    code = (
        "import sys; from tensoralgebra.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'sympy', 'networkx', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _python_m(*args: str, encoding: str = "utf-8", **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    env.pop("PYTHONUTF8", None)
    command = [sys.executable, "-m", "tensoralgebra", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, **kwargs)


def test_a_closed_pipe_ends_the_listing_quietly():
    process = _python_m("expand", "--heads", "5x5", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b"# Architecture")
    process.stdout.close()  # like `| head -1`: the reader leaves, the writer gets EPIPE
    err = process.stderr.read()
    process.wait(timeout=120)
    assert process.returncode == 141  # as Unix tools: 128 + SIGPIPE
    assert err == b""


# Every command that prints the notation, with a fragment of its ASCII spelling.
NOTATION = [
    (["expand", "--heads", "2,2"], "A^{L1H1} A^{L0H1} (x) W_U W_OV^{L1H1} W_OV^{L0H1} W_E"),
    (["expand", "--layers", "2"], "sum_{h in H0} A^{h} (x) W_U W_OV^{h} W_E"),
    (["count", "--layers", "2"], "grouped sum terms"),
    (["count", "--heads", "40x40"], "total               ~ 3.25e+64"),
    (["scores", "--heads", "2,2", "--layer", "1"], "Id (x) Id (x) W_E^T W_QK^{L1H0} W_E"),
    (["paths", "--heads", "2,2", "--through", "L0H1"], "L0H1->L1H0"),
    (["paths", "--heads", "2,2", "--into", "L1H0"], "[tok->tok]"),
    (["verify", "--heads", "1", "--max-order", "0"], "order<=0"),
    (["derive", "--layers", "2", "--format", "markdown"], "\\otimes"),
    (["expand", "--help"], "Id (x) W_pos"),
    (["expand", "--heads", "2,2", "--format", "json"], '"Id \\u2297 W_U W_E"'),
    (["demo", "--out", "{tmp}/demo.tex"], "(H_1, H_2)"),
]


@pytest.mark.parametrize(("argv", "fragment"), NOTATION, ids=[" ".join(a) for a, _ in NOTATION])
def test_output_an_ascii_terminal_can_print(tmp_path, argv, fragment):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    process = _python_m(*argv, encoding="ascii", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode("ascii", "replace")
    assert err == b""
    text = out.decode("ascii")  # every byte is ASCII
    assert fragment in text


def test_an_ascii_terminal_reads_errors_too():
    process = _python_m(
        "scores", "--heads", "12x12", "--layer", "11", encoding="ascii", stderr=subprocess.PIPE
    )
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.decode("ascii").count("\n") == 1 and "~ 3.21e+24 score terms" in err.decode()


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("Σ_{h∈H0} A^{h} ⊗ W", "sum_{h in H0} A^{h} (x) W"),
        ("L0H1→L1H0", "L0H1->L1H0"),
        ("Rᵀ·M·R", "R^T*M*R"),
        ("H₁₂ ≤ 3 ≈ 2", "H_12 <= 3 ~ 2"),
        ("☃", "\\u2603"),
    ],
)
def test_ascii_spelling(text, spelled):
    assert ascii_spelling(text) == spelled


def test_counts_beyond_pythons_digit_limit(capsys):
    # 1000 layers of 10^6 heads: counts of about 6000 digits, over Python's 4300 for int -> str.
    start = time.perf_counter()
    code = main(["count", "--heads", "1000x1000000"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert time.perf_counter() - start < 20
    total = out.splitlines()[-2]
    assert total.split() == ["total", "≈", "1.00e+6000", "(6001", "digits)"]
    assert out.splitlines()[-1].startswith(f"# counts of over {SHORT_DIGITS} digits are rounded")
    code = main(["count", "--heads", "1000x1000000", "--order", "1000", "--exact"])
    assert code == 0 and capsys.readouterr().out.splitlines()[-1].endswith("0" * 6000)
    assert main(["count", "--heads", "1000x1000000", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == "≈ 1.00e+6000 (6001 digits)"
    assert main(["count", "--heads", "1000x1000000", "--format", "json", "--exact"]) == 0
    with exact_digits():
        assert json.loads(capsys.readouterr().out)["count"] == (10**6 + 1) ** 1000


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (123456789, "123456789"), (10**9, "≈ 1.00e+9"), (999_500_000_000, "≈ 1.00e+12")],
)
def test_brief(n, text):
    assert brief(n) == text
    assert brief(10**SHORT_DIGITS) == f"≈ 1.00e+{SHORT_DIGITS} ({SHORT_DIGITS + 1} digits)"


@pytest.mark.parametrize(
    ("argv", "last_orders"),
    [
        (["count", "--heads", "10000x1000"], None),
        (["count", "--layers", "100000"], "# orders 16575..100000 not listed"),
        (["count", "--layers", "100000", "--format", "json"], None),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_counts_of_huge_models_answer_in_seconds(capsys, argv, last_orders):
    # The per-order table of 100 000 schematic layers would take over a GiB: the orders that fit
    # are listed, the total is exact, and the note says what was left out.
    start = time.perf_counter()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert time.perf_counter() - start < 10
    if last_orders is not None:
        assert any(line.startswith(last_orders) for line in out.splitlines())
    if "json" in argv:
        assert json.loads(out)["count"].startswith("≈ ")
