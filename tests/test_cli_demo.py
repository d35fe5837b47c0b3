"""``tensoralgebra demo``: a short guided tour whose every stated agreement is computed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tensoralgebra as ta
from tensoralgebra.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARCH = ta.Architecture(heads=(2, 2))


@pytest.fixture
def tour(capsys, tmp_path):
    """Run the demo with its LaTeX in ``tmp_path``: (status, lines, the .tex path)."""

    def run() -> tuple[int, list[str], Path]:
        tex = tmp_path / "demo.tex"
        code = main(["demo", "--out", str(tex)])
        out, err = capsys.readouterr()
        assert err == ""
        return code, out.splitlines(), tex

    return run


def test_the_tour_is_short_numbered_and_agrees(tour):
    code, lines, _ = tour()
    assert code == 0
    assert len(lines) <= 64 and max(map(len, lines)) <= 100
    titles = [line for line in lines if line[:1].isdigit()]
    assert [t.split(".")[0] for t in titles] == [str(i) for i in range(1, 9)]
    text = "\n".join(lines)
    for words in ("The model", "factored", "rule by rule", "three ways", "scores of L1H0"):
        assert words in text
    assert "FAILED" not in text
    assert lines[-1] == f"All {sum(' [ok] ' in line for line in lines)} checks agree."


def test_the_tour_explains_its_names_rules_and_checks(tour):
    _, lines, _ = tour()
    text = "\n".join(lines)
    # 0-based code names against the paper's 1-based sets, said once.
    assert "count from 0" in text and "count from 1 (H₁, H₂)" in text
    # The rule counts, in words.
    assert (
        "distribute_product, once: multiplies out the product of sums (1·3·3·1 = 9 products)"
        in text
    )
    assert "mixed_product, 9 times: (a ⊗ b)·(c ⊗ d) = ac ⊗ bd, once per product" in text
    # Every term, beside its path.
    for path in ta.logit_paths(ARCH):
        assert any(str(path.expr) in line and line.endswith(str(path)) for line in lines)
    # The numeric checks say what they compare.
    assert "Σ of the 9 terms above == the logits" in text
    assert "each term == the forward pass kept to its path alone" in text
    assert "each of the 4 heads' score terms == its scores" in text
    for kind, n in (("none", 1), ("Q", 2), ("K", 2), ("QK", 4)):
        assert f"[ok] {kind:<4} {n} term" in text


def test_the_latex_goes_to_the_file_it_names(tour):
    _, lines, tex = tour()
    assert f"   written to {tex}" in lines
    assert tex.read_text() == ta.derive_logits(ta.Architecture.schematic(2)).to_document()
    assert not any("\\begin" in line or "\\otimes" in line for line in lines)


def test_counts_that_disagree_fail_by_name(tour, monkeypatch):
    real = ta.count_logit_paths
    monkeypatch.setattr(ta, "count_logit_paths", lambda arch, order=None: real(arch, order) + 1)
    code, lines, _ = tour()
    assert code == 1
    assert "   FAILED order 0 (direct): 2 terms each way (1, 1, 2)" in lines
    assert lines[-1].startswith("4 of 18 checks FAILED: order 0 (direct)")


def test_paths_that_disagree_fail_by_name(tour, monkeypatch):
    real = ta.logit_paths
    monkeypatch.setattr(ta, "logit_paths", lambda arch, max_order=None: list(real(arch))[:-1])
    code, lines, _ = tour()
    assert code == 1 and "FAILED" in lines[-1] and "order 2 (virtual)" in lines[-1]


def test_a_wrong_expansion_fails_the_numeric_check(tour, monkeypatch):
    real = ta.expand
    monkeypatch.setattr(ta, "expand", lambda expr, **kw: ta.terms(real(expr, **kw))[0])
    code, lines, _ = tour()
    assert code == 1 and "Σ of the 1 terms above == the logits" in lines[-1]


def test_python_m_tensoralgebra_demo(tmp_path):
    env = {**os.environ, "PYTHONUTF8": "1", "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "tensoralgebra", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout.splitlines()[-1].endswith("checks agree.")
    assert (tmp_path / "tensoralgebra-demo.tex").is_file()


def test_the_trained_model_shows_the_induction_circuit(tour):
    _, lines, _ = tour()
    text = "\n".join(lines)
    assert "7. A trained model: two-layer-induction, shipped with the package" in text
    assert "checks of ta.verify on the trained model" in text
    assert "[ok] L0H0 is the previous-token head: score 0.61" in text
    assert "[ok] L1H0 is the induction head: score 0.93" in text
    assert "[ok] the largest K-composition: L0H0 → L1H0, the induction circuit" in text


def test_an_untrained_model_fails_the_trained_checks_by_name(tour, monkeypatch):
    random = ta.AttentionOnlyTransformer(
        ta.Weights.random(ARCH, d_model=64, d_head=16, d_vocab=64, n_ctx=32, seed=3)
    )
    monkeypatch.setattr(ta.models, "load", lambda name: random)
    code, lines, _ = tour()
    assert code == 1
    failed = lines[-1]
    assert "previous-token head" in failed and "induction head" in failed
    assert "learns in context" in failed
