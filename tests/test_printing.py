"""Printing: the LaTeX printer (every node type, precedence, escaping, heads, bilinear forms) and
the precedence table it shares with the text printer."""

from __future__ import annotations

import re

import pytest
from hypothesis import given

import tensoralgebra as ta
from expr_strategies import any_expression
from tensoralgebra.expr import (
    MODEL,
    POSITIONS,
    VOCAB,
    Bilinear,
    Head,
    HeadSet,
    HeadVar,
    Identity,
    IndexedSum,
    Kron,
    MatrixSymbol,
    Product,
    Space,
    Sum,
    Transpose,
    Zero,
)
from tensoralgebra.printing import latex as latex_printer
from tensoralgebra.printing import text as text_printer
from tensoralgebra.printing import to_latex
from tensoralgebra.printing.latex import escape, index_latex, symbol_name, term_pieces
from tensoralgebra.printing.precedence import PRECEDENCE, precedence
from tensoralgebra.symbols import W_E, W_OV, W_QK, W_U, A, Id_positions, W_pos

P, M, V = Space.of(POSITIONS), Space.of(MODEL), Space.of(VOCAB)
a, b, c = (MatrixSymbol(n, M, M) for n in "abc")
B = MatrixSymbol("B", P, P)
h, h1 = HeadVar("h"), HeadVar("h", layer=0)


@pytest.mark.parametrize(
    ("expr", "latex"),
    [
        (W_E, "W_E"),
        (W_pos, "W_{pos}"),
        (W_OV((1, 0)), r"W_{OV}^{\mathrm{L1H0}}"),
        (A(HeadVar("h", 1)), "A^{h_2}"),
        (Identity(M), r"\mathrm{Id}"),
        (Zero(M, M), "0"),
        (Transpose(W_E), "W_E^{T}"),
        (Transpose(W_OV(HeadVar("hq"))), r"W_{OV}^{h_q\,T}"),
        (Transpose(W_OV((2, 3))), r"W_{OV}^{\mathrm{L2H3}\,T}"),
        (Transpose(Transpose(a)), "(a^{T})^{T}"),
        (Transpose(Product((a, b))), "(a b)^{T}"),
        (Product((W_U, W_OV((0, 1)), W_E)), r"W_U W_{OV}^{\mathrm{L0H1}} W_E"),
        (Kron((Id_positions, W_U)), r"\mathrm{Id} \otimes W_U"),
        (Sum((a, b, c)), "a + b + c"),
        (Product((Sum((a, b)), c)), "(a + b) c"),
        (Sum((Product((a, b)), c)), "a b + c"),
        (Product((a, Product((b, c)))), "a (b c)"),  # the tree as built, as the text printer
        (Kron((Sum((B, B)), a)), r"(B + B) \otimes a"),
        (Product((Kron((B, a)), Kron((B, b)))), r"(B \otimes a) \cdot (B \otimes b)"),
        (Transpose(Kron((B, a))), r"(B \otimes a)^{T}"),
        (
            IndexedSum(h, HeadSet((0,)), Kron((A(h), W_OV(h)))),
            r"\sum_{h \in H_1} A^{h} \otimes W_{OV}^{h}",
        ),
        (IndexedSum(h, HeadSet((0, 2)), W_OV(h)), r"\sum_{h \in H_1 \cup H_3} W_{OV}^{h}"),
        (IndexedSum(h, HeadSet((0,)), Sum((W_OV(h), a))), r"\sum_{h \in H_1} (W_{OV}^{h} + a)"),
        (Sum((a, IndexedSum(h, HeadSet((0,)), W_OV(h)))), r"a + \sum_{h \in H_1} W_{OV}^{h}"),
        (
            Product((Sum((Identity(M), IndexedSum(h, HeadSet((9,)), W_OV(h)))), a)),
            r"\Big(\mathrm{Id} + \sum_{h \in H_{10}} W_{OV}^{h}\Big) a",
        ),
    ],
)
def test_every_node_type_and_precedence(expr, latex):
    assert to_latex(expr) == latex


def test_paper_parentheses_around_kronecker_factors():
    head = Kron((A(h), Product((W_U, W_OV(h), W_E))))
    virtual = Kron((Product((A(h), A(h1))), Product((W_U, W_OV(h), W_OV(h1), W_E))))
    direct = Kron((Id_positions, Product((W_U, W_E))))
    score = Kron((Id_positions, Id_positions, Product((Transpose(W_E), W_QK(h), W_E))))
    assert to_latex(direct) == r"\mathrm{Id} \otimes W_U W_E"
    assert to_latex(head) == r"A^{h} \otimes (W_U W_{OV}^{h} W_E)"
    assert to_latex(virtual) == r"(A^{h} A^{h_1}) \otimes (W_U W_{OV}^{h} W_{OV}^{h_1} W_E)"
    assert to_latex(score) == r"\mathrm{Id} \otimes \mathrm{Id} \otimes (W_E^{T} W_{QK}^{h} W_E)"
    assert to_latex(virtual, paper_parens=False) == (
        r"A^{h} A^{h_1} \otimes W_U W_{OV}^{h} W_{OV}^{h_1} W_E"
    )
    assert to_latex(score, paper_parens=False) == (
        r"\mathrm{Id} \otimes \mathrm{Id} \otimes W_E^{T} W_{QK}^{h} W_E"
    )


@pytest.mark.parametrize(
    ("index", "latex"),
    [
        (Head(0, 0), r"\mathrm{L0H0}"),
        (Head(11, 7), r"\mathrm{L11H7}"),
        (HeadVar("h"), "h"),
        (HeadVar("h", 0), "h_1"),
        (HeadVar("h", 1), "h_2"),
        (HeadVar("h", 9), "h_{10}"),
        (HeadVar("hq"), "h_q"),
        (HeadVar("hk", 1), "h_{k,2}"),
        (HeadVar("h'"), "h'"),
        (HeadVar("g"), "g"),
    ],
)
def test_heads_concrete_and_schematic(index, latex):
    assert index_latex(index) == latex


@pytest.mark.parametrize(
    ("name", "latex"),
    [
        ("W_E", "W_E"),
        ("W_OV", "W_{OV}"),
        ("X_ab", "X_{ab}"),
        ("X_1", "X_{1}"),
        ("M", "M"),
        ("my_W", r"\mathrm{my\_W}"),
        ("a^b", r"\mathrm{a\text{\textasciicircum}b}"),
        ("50%", r"\mathrm{50\%}"),
        ("#&$", r"\mathrm{\#\&\$}"),
        ("{x}", r"\mathrm{\{x\}}"),
        ("a~b", r"\mathrm{a\text{\textasciitilde}b}"),
        ("back\\slash", r"\mathrm{back\backslash{}slash}"),
        ("two words", r"\mathrm{two\ words}"),
        ("β", r"\mathrm{\beta{}}"),
        ("é", r"\mathrm{\text{[U+00E9]}}"),
    ],
)
def test_user_names_are_escaped(name, latex):
    assert symbol_name(name) == latex
    assert to_latex(MatrixSymbol(name, M, M)) == latex


def test_escape_leaves_no_raw_special_character():
    raw = "_^#%&${}~\\ "
    escaped = escape(raw)
    # Every special character is preceded by a backslash or spelled out as a command.
    assert not re.search(r"(?<!\\)[_#%&$]", escaped)
    assert "^" not in escaped and "~" not in escaped


def test_bilinear_forms_print_the_papers_way():
    stream = Kron((Id_positions, W_E))
    form = Kron((Id_positions, Id_positions, W_QK((1, 0))))
    assert to_latex(Bilinear(stream, form, stream)) == (
        r"(\mathrm{Id} \otimes W_E)^{T} \cdot (\mathrm{Id} \otimes \mathrm{Id} \otimes "
        r"W_{QK}^{\mathrm{L1H0}}) \cdot (\mathrm{Id} \otimes W_E)"
    )
    scores = to_latex(ta.scores(ta.Architecture.schematic(n_layers=2), layer=1))
    assert scores.startswith(r"\Big(\Big(\mathrm{Id} + \sum_{h_q \in H_1} A^{h_q}")
    assert r"\Big)^{T} \cdot (\mathrm{Id} \otimes \mathrm{Id} \otimes W_{QK}^{h}) \cdot " in scores


def test_repr_latex_of_expressions():
    assert (W_U @ W_E)._repr_latex_() == "$W_U W_E$"


def test_one_precedence_table_for_both_printers():
    assert text_printer.PRECEDENCE is PRECEDENCE and latex_printer.PRECEDENCE is PRECEDENCE
    assert text_printer.precedence is latex_printer.precedence is precedence


class _Product(Product):
    pass


@pytest.mark.parametrize(
    ("expr", "binding"),
    [
        (Sum((a, b)), 1),
        (IndexedSum(h, HeadSet((0,)), A(h)), 1),
        (Kron((B, a)), 2),
        (Product((a, b)), 3),
        (_Product((a, b)), 3),  # a subclass binds like its parent
        (
            Bilinear(
                Kron((Id_positions, W_E)),
                Kron((Id_positions, Id_positions, W_QK((1, 0)))),
                Kron((Id_positions, W_E)),
            ),
            3,
        ),
        (Transpose(a), 4),
        (a, 5),
        (Identity(M), 5),
        (Zero(M, M), 5),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, int) else str(v),
)
def test_precedence_of_every_node_type(expr, binding):
    assert precedence(expr) == binding


def test_unknown_nodes_and_non_expressions_are_refused():
    with pytest.raises(ta.TensorAlgebraError, match="expression"):
        to_latex("W_E")


def _balanced(latex: str) -> bool:
    depth = 0
    for match in re.finditer(r"\\.|[{}]", latex):
        token = match.group()
        depth += {"{": 1, "}": -1}.get(token, 0)
        if depth < 0:
            return False
    return depth == 0


def _strip_parens(latex: str) -> str:
    return re.sub(r"\\[Bb]ig|[()]", "", latex)


@given(any_expression())
def test_every_expression_prints_balanced_latex(expr):
    latex = to_latex(expr)
    assert _balanced(latex)
    # The paper's parentheses are extra parentheses only.
    assert _strip_parens(latex) == _strip_parens(to_latex(expr, paper_parens=False))


@given(any_expression())
def test_term_pieces_join_to_the_term(expr):
    for term in ta.terms(expr):
        joined = " ".join(term_pieces(term))
        inside_sum = to_latex(Sum((term, term))) if term.rows == term.rows else None
        assert joined == inside_sum[: len(joined)]


def test_term_pieces_of_every_expansion_step():
    cases = [
        ta.logits(ta.Architecture.schematic(3)),
        ta.logits(ta.Architecture(heads=(2, 1), positional="standard")),
        ta.scores(ta.Architecture.schematic(3), layer=2),
        ta.scores(ta.Architecture(heads=(1, 1)), layer=1),
    ]
    for expr in cases:
        for step in ta.expansion_steps(expr):
            for term in ta.terms(step.expr):
                assert " ".join(term_pieces(term)) in to_latex(Sum((term, term)))
