"""Derivations: golden files in the paper's notation, the chain of steps, grouping, limits,
rendering (fragment, document, Markdown, PDF) and the ``derive`` command. Every document rendered
here is compiled with the TeX engine (tests marked ``tex``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tex_support import compiles

import tensoralgebra as ta
from tensoralgebra.cli import main
from tensoralgebra.latex import TeXError
from tensoralgebra.latex import render as render_module

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
S = ta.Architecture.schematic

# The golden derivations: file, derivation, and the paper's equation (docs/conventions.md §3,
# §4) that its last line must be, symbol for symbol.
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


# --- sizes: refused from counts, with advice that fits -----------------------------------------

A = ta.Architecture
# Requests just over a limit: (what, architecture, layer, head, max_order, option, value, reason).
OVER = [
    ("logits", S(9), None, 0, None, "n_layers", 8, "kB of LaTeX"),
    ("logits", S(10), None, 0, None, "n_layers", 8, "needs its whole expansion"),
    ("logits", S(12), None, 0, None, "n_layers", 8, "4,096 terms"),
    ("logits", S(18), None, 0, None, "n_layers", 8, "262,144 terms"),
    ("logits", S(10), None, 0, 1, "n_layers", 9, "needs its whole expansion"),
    ("logits", S(8, positional="standard"), None, 0, None, "n_layers", 7, "kB of LaTeX"),
    ("logits", A((4, 4, 4)), None, 0, None, "max_order", 2, "125 terms, more than the 64"),
    ("logits", A((2,) * 7), None, 0, None, "max_order", 1, "2,187 terms"),
    ("logits", A((6,) * 8), None, 0, None, "n_layers", 8, "5,764,801 terms"),
    ("logits", A((6,) * 8), None, 0, 1, "n_layers", 8, "needs its whole expansion"),
    ("scores", S(6), 5, "h", None, "layer", 4, "needs its whole expansion"),
    ("scores", S(6), 5, "h", 1, "layer", 4, "needs its whole expansion"),
    ("scores", A((3, 3, 3)), 2, 0, None, "max_order", 1, "256 terms"),
    ("scores", A((12, 12, 12)), 2, 3, None, "layer", 0, "28,561 terms"),
]


def derive(what, arch, layer, head, max_order):
    if what == "logits":
        return ta.derive_logits(arch, max_order=max_order)
    return ta.derive_scores(arch, layer, head, max_order=max_order)


def follow(request, option, value):
    """The request changed as the advice says."""
    what, arch, layer, head, max_order = request
    if option == "max_order":
        max_order = value
    elif option == "n_layers":
        arch = S(value, positional=arch.positional)
    else:
        layer = value
    return what, arch, layer, head, max_order


@pytest.mark.parametrize("case", OVER, ids=lambda c: f"{c[0]}-{c[1]!r}-{c[4]}")
def test_sizes_over_the_limit_are_refused_with_advice_that_fits(case):
    *request, option, value, reason = case
    with pytest.raises(ta.ExpansionLimitError) as error:
        derive(*request)
    assert (error.value.option, error.value.value) == (option, value)
    assert reason in error.value.reason and f"{option}={value!r} fits" in str(error.value)
    followed = follow(request, option, value)
    assert followed != tuple(request)  # never the input again
    derivation = derive(*followed)
    assert len(derivation.steps) >= 2


@pytest.mark.tex
@pytest.mark.parametrize("case", OVER[::3], ids=lambda c: f"{c[0]}-{c[1]!r}-{c[4]}")
def test_following_the_advice_compiles(case, tmp_path):
    *request, option, value, _ = case
    compiles(derive(*follow(request, option, value)).to_document(), tmp_path / "d.pdf")


@pytest.mark.parametrize(
    "request_",
    [
        ("logits", S(8), None, 0, None),
        ("logits", S(6, positional="standard"), None, 0, None),
        ("logits", A((1,) * 6), None, 0, None),
        ("logits", A((4, 4, 4)), None, 0, 2),
        ("scores", S(5), 4, "h", None),
        ("scores", A((2, 2, 2)), 2, 1, 1),
        ("scores", A((1, 1, 1, 1)), 3, 0, None),
    ],
    ids=str,
)
def test_the_estimate_bounds_the_rendered_size(request_):
    from tensoralgebra.derivation.limits import Request, estimate

    what, arch, layer, head, max_order = request_
    derivation = derive(*request_)
    e = estimate(Request(what, arch, layer, head, max_order))
    assert len(derivation.to_document().encode()) <= e.bytes <= ta.derivation.MAX_DERIVATION_BYTES
    assert e.terms == len(ta.terms(derivation.steps[-2].expr)) or arch.is_schematic


@pytest.mark.parametrize(
    "call",
    [
        lambda: ta.derive_logits(S(100_000)),
        lambda: ta.derive_logits(A((1000,) * 1000), max_order=1),
        lambda: ta.derive_scores(S(100_000), 99_999, "h"),
        lambda: ta.derive_scores(A((10,) * 200), 199),
    ],
)
def test_huge_sizes_are_refused_at_once(call):
    import time

    started = time.perf_counter()
    with pytest.raises(ta.ExpansionLimitError):
        call()
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: ta.derive_logits("2,2"), ta.TensorAlgebraError, "needs an Architecture"),
        (lambda: ta.derive_logits(S(2), max_order=3), ta.TensorAlgebraError, "max_order 3 is out"),
        (lambda: ta.derive_logits(S(2), max_order=-1), ta.TensorAlgebraError, "max_order -1 is"),
        (lambda: ta.derive_logits(S(2), max_order=1.0), ta.TensorAlgebraError, "an integer"),
        (lambda: ta.derive_logits(S(2), max_order=True), ta.TensorAlgebraError, "not a bool"),
        (lambda: ta.derive_scores(S(2), layer=2), ta.TensorAlgebraError, "layer 2 does not"),
        (
            lambda: ta.derive_scores(A((1, 1)), 1, head=4),
            ta.TensorAlgebraError,
            "head 4 does not exist",
        ),
        (lambda: ta.derive_scores(S(2), 1, max_order=2), ta.TensorAlgebraError, "max_order 2"),
        (lambda: ta.derive_logits(S(9)), ta.ExpansionLimitError, "n_layers=8 fits"),
        (lambda: ta.derive_logits(A((4, 4, 4))), ta.ExpansionLimitError, "max_order=2 fits"),
    ],
)
def test_bad_input(call, error, fragment):
    with pytest.raises(error) as raised:
        call()
    assert fragment in str(raised.value)


def test_numpy_integers_are_accepted():
    import numpy as np

    d = ta.derive_scores(A((2, 2)), 1, 1, max_order=np.int64(1))
    assert d.max_order == 1 and type(d.max_order) is int
    assert ta.derive_logits(A((2, 2)), max_order=np.int64(0)).max_order == 0


# --- layout ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: ta.derive_scores(S(3), 2),
        lambda: ta.derive_logits(A((2, 2, 2))),
        lambda: ta.derive_scores(A((1, 2, 3)), 2, 2),
        lambda: ta.derive_logits(S(4)),
    ],
    ids=["scores-3", "concrete-2x2x2", "concrete-scores", "logits-4"],
)
def test_lines_break_only_between_top_level_factors(make):
    for line in render_module._lines(make()):
        assert line.count("(") == line.count(")"), line


@pytest.mark.parametrize("arch", [A((2, 2, 2)), A((1,) * 6), A((3, 3, 3)), S(5)], ids=repr)
def test_each_group_has_one_label(arch):
    derivation = ta.derive_logits(arch, max_order=2 if arch == A((3, 3, 3)) else None)
    latex = derivation.to_latex()
    for group in derivation.steps[-1].groups:
        if derivation.shown(group.terms):
            assert latex.count(rf"\text{{{group.label}}}") == 1, group.label


def test_lines_use_the_page_beside_the_justifications():
    derivation = ta.derive_scores(S(3), 2)
    assert render_module.line_width(derivation) > render_module.LINE_WIDTH
    # Two short score terms share a row now (they did not within the old fixed 34 em).
    assert any(
        line.count(r"\sum_{h_") >= 2 and line.startswith("+")
        for line in render_module._lines(derivation)
    )


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
        (["--heads", "4,4,4"], "125 terms.*max.order.2"),
        (["--heads", "2,2", "--scores", "1", "5"], "head 5 does not exist"),
        (["--heads", "2,2", "--scores", "x", "0"], "layer 'x' is not an integer"),
        (["--layers", "2", "--max-order", "3"], "max_order 3 is out of range"),
        (["--heads", "2,2", "--format", "pdf"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(capsys, argv, match):
    code, out, err = run(capsys, "derive", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and re.search(match, err)


def test_docs_show_the_rendered_derivations():
    page = (ROOT / "docs" / "latex.md").read_text()
    for derivation in (ta.derive_logits(S(2)), ta.derive_scores(S(2), layer=1)):
        assert derivation._repr_latex_() in page


# Real architectures (docs/conventions.md §7): the paper's style for the frozen LayerNorm and the
# constant sources, and the constant terms grouped apart from the paths of the tokens.
REAL = ta.Architecture((2,), normalization="LN", biases=True)


def test_real_architecture_golden_derivation():
    derivation = ta.derive_logits(REAL)
    assert derivation.to_latex() + "\n" == (GOLDEN / "logits_1_layer_ln_biases.tex").read_text()
    groups = derivation.steps[-1].groups
    assert [g.label for g in groups] == ["direct path", "individual heads", "constant sources"]
    assert [ta.to_latex(t) for t in groups[-1].terms] == [
        r"(N^{f} \mathbf{1}) \otimes (W_U \tilde{W}^{f} c^{1})",
        r"\mathbf{1} \otimes c_U",
    ]
    assert derivation.title.endswith("with LayerNorm and biases")


@pytest.mark.tex
def test_real_architecture_derivations_compile(tmp_path):
    compiles(ta.derive_logits(REAL).to_document(), tmp_path / "logits.pdf")
    scores = ta.derive_scores(ta.Architecture((1, 1), normalization="LN", biases=True), layer=1)
    compiles(scores.to_document(), tmp_path / "scores.pdf")


@pytest.mark.parametrize(
    ("expr", "latex"),
    [
        (lambda s: s.N(0), "N^{1}"),
        (lambda s: s.N(2), "N^{3}"),
        (lambda s: s.N(None), "N^{f}"),
        (lambda s: s.W_ln(0), r"\tilde{W}^{1}"),
        (lambda s: s.W_ln(None), r"\tilde{W}^{f}"),
        (lambda s: s.ones, r"\mathbf{1}"),
        (lambda s: s.c(1), "c^{2}"),
        (lambda s: s.b_U, "b_U"),
        (lambda s: s.c_Q((1, 0)), r"c_Q^{\mathrm{L1H0}}"),
        (lambda s: s.C, "C"),
    ],
)
def test_real_architecture_symbols_in_the_papers_style(expr, latex):
    from tensoralgebra import symbols

    assert ta.to_latex(expr(symbols)) == latex


@pytest.mark.parametrize(
    ("arch", "labels"),
    [
        (
            ta.Architecture((1, 1), biases=True),
            [
                "no composition",
                "Q-composition",
                "K-composition",
                "Q- and K-composition",
                "constant sources",
                "constant along keys (no effect on the pattern)",
            ],
        ),
        (
            ta.Architecture((1, 1), normalization="LNPre"),
            ["no composition", "Q-composition", "K-composition", "Q- and K-composition"],
        ),
    ],
)
def test_score_terms_of_constant_sources_are_grouped_apart(arch, labels):
    derivation = ta.derive_scores(arch, layer=1)
    groups = derivation.steps[-1].groups
    assert [g.label for g in groups] == labels
    paths = {str(p.expr): p.constant_along_keys for p in ta.score_paths(arch, layer=1)}
    for group in groups:
        along_keys = group.label.startswith("constant along keys")
        assert all(paths[str(t)] == along_keys for t in group.terms), group.label
