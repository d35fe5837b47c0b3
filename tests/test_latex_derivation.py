"""Derivations: golden files in the paper's notation, the chain of steps, grouping, limits,
rendering (fragment, document, Markdown, PDF) and the ``derive`` command. Every document rendered
here is compiled with the TeX engine (tests marked ``tex``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tex_support import compiles

import tensoralgebra as ta
from tensoralgebra import cli_derive
from tensoralgebra.cli import main
from tensoralgebra.latex import MAX_DERIVATION_TERMS, TeXError
from tensoralgebra.latex import render as render_module

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
S = ta.Architecture.schematic

# The golden derivations: file, derivation, and the paper's equation (MATH.md §3, §4) that its
# last line must be, symbol for symbol.
PAPER = {
    "logits_0_layers.tex": (lambda: ta.derive_logits(S(0)), r"\mathrm{Id} \otimes W_U W_E"),
    "logits_1_layer.tex": (
        lambda: ta.derive_logits(S(1)),
        r"\mathrm{Id} \otimes W_U W_E + \sum_{h \in H_1} A^{h} \otimes (W_U W_{OV}^{h} W_E)",
    ),
    "logits_2_layers.tex": (
        lambda: ta.derive_logits(S(2)),
        r"\mathrm{Id} \otimes W_U W_E"
        r" + \sum_{h \in H_1 \cup H_2} A^{h} \otimes (W_U W_{OV}^{h} W_E)"
        r" + \sum_{h_2 \in H_2} \sum_{h_1 \in H_1} (A^{h_2} A^{h_1}) \otimes"
        r" (W_U W_{OV}^{h_2} W_{OV}^{h_1} W_E)",
    ),
    "scores_layer_2.tex": (
        lambda: ta.derive_scores(S(2), layer=1),
        r"\mathrm{Id} \otimes \mathrm{Id} \otimes (W_E^{T} W_{QK}^{h} W_E)"
        r" + \sum_{h_q \in H_1} A^{h_q} \otimes \mathrm{Id} \otimes"
        r" (W_E^{T} W_{OV}^{h_q\,T} W_{QK}^{h} W_E)"
        r" + \sum_{h_k \in H_1} \mathrm{Id} \otimes A^{h_k} \otimes"
        r" (W_E^{T} W_{QK}^{h} W_{OV}^{h_k} W_E)"
        r" + \sum_{h_q \in H_1} \sum_{h_k \in H_1} A^{h_q} \otimes A^{h_k} \otimes"
        r" (W_E^{T} W_{OV}^{h_q\,T} W_{QK}^{h} W_{OV}^{h_k} W_E)",
    ),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_golden_derivations_match_the_files_and_the_paper(name):
    make, paper = PAPER[name]
    derivation = make()
    assert derivation.to_latex() + "\n" == (GOLDEN / name).read_text()
    assert ta.to_latex(derivation.result) == paper
    # The last line of the file is the paper's equation with its groups labelled.
    last = derivation.to_latex().split(r"(grouping)}} &= ")[1].split(r"\end{align*}")[0]
    unlabelled = re.sub(r"\\underbrace\{|\}_\{\\text\{[^}]*\}\}|\s*\\\\\n&\\quad", "", last)
    assert unlabelled.strip() == paper


@pytest.mark.tex
@pytest.mark.parametrize("name", sorted(PAPER))
def test_golden_derivations_compile(name, tmp_path):
    compiles(PAPER[name][0]().to_document(), tmp_path / "d.pdf")


def test_steps_are_the_recorded_expansion_then_the_grouping():
    arch = S(2)
    derivation = ta.derive_logits(arch)
    recorded = ta.expansion_steps(ta.logits(arch))
    assert [s.expr for s in derivation.steps[:-1]] == [s.expr for s in recorded]
    assert derivation.steps[-2].passes == ("name heads",)  # nothing left to reorder
    assert [s.justification for s in derivation.steps] == [
        "",
        "distributivity",
        "mixed product",
        "renaming",
        "grouping",
    ]
    assert "mixed_product" in derivation.steps[2].rules
    assert derivation.steps[-1].rules == ("merge_head_sets",)
    assert ta.equivalent(derivation.result, ta.expand(ta.logits(arch)))


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4])
def test_schematic_logits_merge_single_heads_into_one_sum(n_layers):
    derivation = ta.derive_logits(S(n_layers))
    assert len(ta.terms(derivation.steps[-2].expr)) == 2**n_layers  # before grouping
    groups = derivation.steps[-1].groups
    assert len(groups) == n_layers + 1
    assert len(groups[1].terms) == 1
    sets = " \\cup ".join(f"H_{layer}" for layer in range(1, n_layers + 1))
    assert ta.to_latex(groups[1].terms[0]).startswith(rf"\sum_{{h \in {sets}}} A^{{h}}")
    assert len(ta.terms(derivation.result)) == 2**n_layers - n_layers + 1
    assert ta.equivalent(derivation.result, ta.expand(ta.logits(S(n_layers))))


def test_group_labels():
    assert [g.label for g in ta.derive_logits(S(3)).steps[-1].groups] == [
        "direct path",
        "individual heads",
        "virtual heads of order 2",
        "virtual heads of order 3",
    ]
    positional = ta.derive_logits(ta.Architecture((1,), positional="standard"))
    assert [g.label for g in positional.steps[-1].groups] == ["direct paths", "individual heads"]
    scores = ta.derive_scores(S(3), layer=2)
    assert [g.label for g in scores.steps[-1].groups] == [
        "no composition",
        "Q-composition",
        "K-composition",
        "Q- and K-composition",
    ]
    assert ta.equivalent(scores.result, ta.expand(ta.scores(S(3), layer=2)))


def test_concrete_architectures_give_every_term():
    arch = ta.Architecture(heads=(2, 2))
    derivation = ta.derive_logits(arch)
    assert ta.terms(derivation.result) == tuple(p.expr for p in ta.logit_paths(arch))
    latex = derivation.to_latex()
    assert r"(A^{\mathrm{L1H1}} A^{\mathrm{L0H1}})" in latex
    scores = ta.derive_scores(arch, layer=1, head=1)
    assert scores.lhs == r"C_{QK}^{\mathrm{L1H1}}"
    assert len(ta.terms(scores.result)) == ta.count_score_paths(arch, 1, 1)
    kinds = [ta.score_kind(*p.order) for p in ta.score_paths(arch, 1, 1)]
    sizes = [len(g.terms) for g in scores.steps[-1].groups]
    assert sizes == [kinds.count(k) for k in ("none", "Q", "K", "QK")]


def test_too_many_terms_are_refused_with_pointers():
    big = ta.Architecture(heads=(4, 4, 4))
    assert ta.count_logit_paths(big) > MAX_DERIVATION_TERMS
    with pytest.raises(ta.TensorAlgebraError) as error:
        ta.derive_logits(big)
    message = str(error.value)
    assert "125 terms" in message and "Architecture.schematic(3)" in message
    assert "max_order=2" in message and "--max-order 2" in message
    with pytest.raises(ta.TensorAlgebraError, match="schematic"):
        ta.derive_scores(ta.Architecture(heads=(8, 8, 1)), layer=2)
    with pytest.raises(ta.TensorAlgebraError, match="too large to build"):
        ta.derive_logits(ta.Architecture(heads=(8,) * 6), max_order=1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ta.derive_logits("2,2"), "needs an Architecture"),
        (lambda: ta.derive_logits(S(2), max_order=3), "max_order 3"),
        (lambda: ta.derive_scores(S(2), layer=2), "layer 2 does not exist"),
        (lambda: ta.derive_scores(ta.Architecture((1, 1)), 1, head=4), "head 4 does not exist"),
        (lambda: ta.derive_scores(S(2), 1, max_order=2), "max_order 2"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ta.TensorAlgebraError, match=match):
        call()


@pytest.mark.tex
def test_max_order_elides_higher_orders(tmp_path):
    derivation = ta.derive_logits(ta.Architecture(heads=(4, 4, 4)), max_order=1)
    latex = derivation.to_latex()
    assert r"+ \cdots" in latex and r"\text{112 more terms, order} > 1" in latex
    assert r"\mathrm{L2H3}" in latex and r"A^{\mathrm{L1H0}} A^{\mathrm{L0H0}}" not in latex
    assert "(112 of them)" in derivation.to_document()
    compiles(derivation.to_document(), tmp_path / "d.pdf")


@pytest.mark.tex
@pytest.mark.parametrize(
    "make",
    [
        lambda: ta.derive_logits(S(4)),
        lambda: ta.derive_scores(S(4), layer=3),
        lambda: ta.derive_logits(S(3, positional="standard")),
        lambda: ta.derive_logits(ta.Architecture(heads=(3, 3, 3))),
        lambda: ta.derive_scores(ta.Architecture(heads=(1, 2, 3)), layer=2, head=2),
    ],
    ids=["logits-4", "scores-4", "positional-3", "concrete-3x3", "concrete-scores"],
)
def test_deep_and_concrete_derivations_fit_the_page(make, tmp_path):
    derivation = make()
    document = derivation.to_document()
    assert "landscape" not in document
    compiles(document, tmp_path / "d.pdf")


@pytest.mark.tex
def test_markdown_and_notebook_output(tmp_path):
    derivation = ta.derive_logits(S(2))
    md = derivation.to_markdown()
    assert md.startswith("**The logits of a 2-layer attention-only transformer**\n\n$$\n")
    assert "\\begin{aligned}\nT &= " in md and "\\end{aligned}\n$$" in md
    assert derivation._repr_latex_().startswith("$$\n\\begin{aligned}")
    math = derivation._repr_latex_().strip("$")
    doc = "\\documentclass{article}\\usepackage[a4paper,margin=2cm]{geometry}"
    doc += "\\usepackage{amsmath,amssymb}\\begin{document}"
    compiles(doc + f"\\[{math}\\]\\end{{document}}", tmp_path / "md.pdf")


def test_missing_tex_engine_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    with pytest.raises(TeXError, match=r"looked for pdflatex, lualatex, xelatex.*install-tex"):
        ta.derive_logits(S(1)).to_pdf(tmp_path / "d.pdf")
    assert main(["derive", "--layers", "1", "--pdf", str(tmp_path / "d.pdf")]) == 2


@pytest.mark.tex
def test_a_document_that_does_not_compile_is_an_error(tmp_path):
    from tex_support import require_tex

    with pytest.raises(TeXError, match="failed to compile"):
        render_module.compile_tex(r"\begin{document}\undefined", tmp_path / "x.pdf", require_tex())


# --- the derive command -----------------------------------------------------------------------


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.tex
def test_cli_prints_fragments_and_markdown(capsys, tmp_path):
    code, out, err = run(capsys, "derive", "--layers", "2")
    assert (code, err) == (0, "")
    assert out == ta.derive_logits(S(2)).to_latex() + "\n"
    code, out, _ = run(
        capsys, "derive", "--heads", "2,2", "--scores", "1", "0", "--format", "markdown"
    )
    assert code == 0 and out == ta.derive_scores(ta.Architecture((2, 2)), 1, 0).to_markdown() + "\n"
    code, out, _ = run(
        capsys, "derive", "--layers", "2", "--scores", "1", "h", "--positional", "standard"
    )
    assert code == 0 and r"W_{pos}" in out
    tex, pdf = tmp_path / "d.tex", tmp_path / "d.pdf"
    code, out, _ = run(capsys, "derive", "--heads", "1,1", "--out", str(tex), "--pdf", str(pdf))
    assert code == 0 and out.splitlines() == [f"wrote {pdf}", f"wrote {tex}"]
    assert tex.read_text().startswith("\\documentclass") and pdf.read_bytes()[:4] == b"%PDF"
    compiles(tex.read_text(), tmp_path / "again.pdf")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--heads", "4,4,4"], "125 terms.*--layers 3.*--max-order 2"),
        (["--heads", "2,2", "--scores", "1", "5"], "head 5 does not exist"),
        (["--heads", "2,2", "--scores", "x", "0"], "layer 'x' is not an integer"),
        (["--layers", "2", "--max-order", "3"], "max_order 3"),
        (["--heads", "2,2", "--format", "pdf"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(capsys, argv, match):
    code, out, err = run(capsys, "derive", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and re.search(match, err)


@pytest.mark.tex
def test_demo_section_is_the_two_layer_derivation(tmp_path):
    lines = cli_derive.demo_section()
    assert "\n".join(lines).endswith(ta.derive_logits(S(2)).to_latex())
    compiles(ta.derive_logits(S(2)).to_document(), tmp_path / "demo.pdf")


def test_docs_show_the_rendered_derivations():
    page = (ROOT / "docs" / "latex.md").read_text()
    for derivation in (ta.derive_logits(S(2)), ta.derive_scores(S(2), layer=1)):
        assert derivation._repr_latex_() in page
