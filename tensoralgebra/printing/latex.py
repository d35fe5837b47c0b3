r"""LaTeX printer in the paper's notation, kept apart from the nodes.

Dispatch is on the node's class (a :class:`~tensoralgebra.expr.visitor.Visitor`, as the text
printer), and parentheses come from the same precedence table
(:mod:`tensoralgebra.printing.precedence`): a child is parenthesised when it binds more loosely
than its place needs.

Notation. The weights print as ``W_E``, ``W_U``, ``W_{pos}``, ``W_{OV}^{h}``, ``W_{QK}^{h}``, the
patterns as ``A^{h}``, the identity as ``\mathrm{Id}`` and the Kronecker product as ``\otimes``.
Layers count from 1, as in the paper: the package's ``H0`` (layer 0) is ``H_1``, and the head
variable ``h_1`` (a head of layer 1) is ``h_2``; the score variables ``hq`` and ``hk`` are ``h_q``
and ``h_k``. Concrete heads keep their names from the code, ``A^{\mathrm{L1H0}}`` for head 0 of
layer 1 (counting from 0): one name for a head everywhere, in code, text and LaTeX.

With ``paper_parens=True`` (the default) a Kronecker factor that is a product is parenthesised
as in the paper, ``A^{h} \otimes (W_U W_{OV}^{h} W_E)``, whenever another factor is not an
identity or the Kronecker product has three factors; ``paper_parens=False`` gives the minimal
parentheses the precedence table needs.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture.schematic(n_layers=1)
>>> print(to_latex(ta.expand(ta.logits(arch))))
\mathrm{Id} \otimes W_U W_E + \sum_{h \in H_1} A^{h} \otimes (W_U W_{OV}^{h} W_E)
>>> print(to_latex(ta.expand(ta.logits(arch)), paper_parens=False))
\mathrm{Id} \otimes W_U W_E + \sum_{h \in H_1} A^{h} \otimes W_U W_{OV}^{h} W_E
>>> print(to_latex(ta.scores(ta.Architecture(heads=(1, 1)), layer=1, head=0)))
\big((\mathrm{Id} + A^{\mathrm{L0H0}} \otimes W_{OV}^{\mathrm{L0H0}}) \cdot (\mathrm{Id} \otimes W_E)\big)^{T} \cdot (\mathrm{Id} \otimes \mathrm{Id} \otimes W_{QK}^{\mathrm{L1H0}}) \cdot (\mathrm{Id} + A^{\mathrm{L0H0}} \otimes W_{OV}^{\mathrm{L0H0}}) \cdot (\mathrm{Id} \otimes W_E)

Real architectures (docs/conventions.md §7) print in the same style: a frozen LayerNorm's scale
``N^{Ll}`` as ``N^{l+1}`` (``N^{1}`` for layer 0, ``N^{f}`` for the final one), its map
``W_ln^{Ll}`` as ``\tilde{W}^{l+1}``, the all-ones vector ``1`` as ``\mathbf{1}``, a layer's
constant source ``c^{Ll}`` as ``c^{l+1}``, the logits' constant as ``b_U`` or ``c_U``:

>>> real = ta.Architecture((1,), normalization="LN", biases=True)
>>> print(to_latex(ta.terms(ta.expand(ta.logits(real)))[1]))
(N^{f} \mathbf{1}) \otimes (W_U \tilde{W}^{f} c^{1})
"""  # noqa: E501

from __future__ import annotations

import re
import unicodedata

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.indices import Head, HeadSet, Index, Layer
from tensoralgebra.expr.nodes import (
    Bilinear,
    Expr,
    Identity,
    IndexedSum,
    Kron,
    MatrixSymbol,
    Product,
    Sum,
    Transpose,
    Zero,
)
from tensoralgebra.expr.visitor import Visitor
from tensoralgebra.printing.precedence import ATOM, PRECEDENCE, precedence

#: The framework's symbols, by their names in the code.
KNOWN_NAMES = {
    "W_E": "W_E",
    "W_U": "W_U",
    "W_pos": "W_{pos}",
    "W_OV": "W_{OV}",
    "W_QK": "W_{QK}",
    "W_Q": "W_Q",
    "W_K": "W_K",
    "W_V": "W_V",
    "W_O": "W_O",
    "A": "A",
    # Real architectures (docs/conventions.md §7): W̃ = diag(w) C, the all-ones vector.
    "W_ln": r"\tilde{W}",
    "1": r"\mathbf{1}",
    "b_U": "b_U",
    "c_U": "c_U",
    "b_Q": "b_Q",
    "b_K": "b_K",
    "c_Q": "c_Q",
    "c_K": "c_K",
}
# Special characters of LaTeX, and what stands for each inside \mathrm{...}.
_ESCAPES = {
    "\\": r"\backslash{}",
    "_": r"\_",
    "^": r"\text{\textasciicircum}",
    "#": r"\#",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\text{\textasciitilde}",
    " ": r"\ ",
}
_SIMPLE = re.compile(r"([A-Za-z])(?:_([A-Za-z0-9]+))?")
_ASCII = re.compile(r"[A-Za-z0-9.,:;!?'()\[\]<>|=+\-*/@\"`]")


def escape(text: str) -> str:
    r"""``text`` made safe inside ``\mathrm{...}``: LaTeX's special characters escaped, Greek
    letters as their commands, any other non-ASCII character as its code point.

    >>> print(escape("a_b#1"), escape("α~x"))
    a\_b\#1 \alpha{}\text{\textasciitilde}x
    """
    return "".join(_escape_char(c) for c in text)


def _escape_char(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if _ASCII.fullmatch(c):
        return c
    name = unicodedata.name(c, "")
    if name.startswith("GREEK SMALL LETTER ") and name.count(" ") == 3:
        return "\\" + name.rsplit(" ", 1)[1].lower() + "{}"
    return rf"\text{{[U+{ord(c):04X}]}}"


def symbol_name(name: str) -> str:
    r"""A matrix symbol's name in LaTeX: the framework's names as in the paper, a letter with an
    optional alphanumeric subscript as ``X_{ab}``, anything else in ``\mathrm`` with escapes.

    >>> print(symbol_name("W_OV"), symbol_name("X_ab"), symbol_name("M"), symbol_name("my_W"))
    W_{OV} X_{ab} M \mathrm{my\_W}
    """
    if name in KNOWN_NAMES:
        return KNOWN_NAMES[name]
    match = _SIMPLE.fullmatch(name)
    if match:
        letter, sub = match.groups()
        return letter if sub is None else f"{letter}_{{{sub}}}"
    return rf"\mathrm{{{escape(name)}}}"


def _subscript(text: str) -> str:
    return text if len(text) == 1 else f"{{{text}}}"


def index_latex(index: Index) -> str:
    r"""A head index: ``\mathrm{L1H0}`` for a concrete head, the paper's name for a variable
    (``h``, ``h_2`` for layer 1, ``h_q``, ``h_{q,2}``).

    >>> from tensoralgebra.expr.indices import HeadVar
    >>> print(index_latex(Head(1, 0)), index_latex(HeadVar("h", 1)), index_latex(HeadVar("hq", 1)))
    \mathrm{L1H0} h_2 h_{q,2}

    A layer index (of a LayerNorm's ``N^{l}`` and ``\tilde{W}^{l}``, a constant source's
    ``c^{l}``) counts from 1, as the paper's layers do: the package's layer 0 is ``1``; the final
    LayerNorm's is ``f``.

    >>> print(index_latex(Layer(0)), index_latex(Layer(None)))
    1 f
    """
    if isinstance(index, Head):
        return rf"\mathrm{{{index!r}}}"
    if isinstance(index, Layer):
        return "f" if index.layer is None else str(index.layer + 1)
    root = index.name.rstrip("'")
    primes = index.name[len(root) :]
    subs = [root[1:]] if len(root) > 1 else []
    if index.layer is not None:
        subs.append(str(index.layer + 1))
    sub = ",".join(subs)
    return root[0] + primes + (f"_{_subscript(sub)}" if sub else "")


def head_set_latex(over: HeadSet) -> str:
    r"""``H_1 \cup H_2`` for the package's ``H0∪H1`` (layers counted from 1)."""
    return r" \cup ".join(f"H_{_subscript(str(layer + 1))}" for layer in over.layers)


class LatexPrinter(Visitor):
    """The LaTeX printer, one method per node type (see :mod:`tensoralgebra.expr.visitor`); a
    node type with no method is refused, naming it."""

    action = "print in LaTeX"

    def __init__(self, paper_parens: bool = True):
        self.paper_parens = paper_parens

    def wrap(self, child: Expr, needed: int, force: bool = False) -> str:
        text = self(child)
        return parens(text) if force or precedence(child) < needed else text

    def visit_MatrixSymbol(self, e: MatrixSymbol, transposed: bool = False) -> str:
        parts = [] if e.index is None else [index_latex(e.index)]
        if transposed:
            parts.append("T")
        base = symbol_name(e.name)
        return base + ("^{" + r"\,".join(parts) + "}" if parts else "")

    def visit_Identity(self, e: Identity) -> str:
        return r"\mathrm{Id}"

    def visit_Zero(self, e: Zero) -> str:
        return "0"

    def visit_Transpose(self, e: Transpose) -> str:
        if isinstance(e.arg, MatrixSymbol):
            return self.visit_MatrixSymbol(e.arg, transposed=True)
        return self.wrap(e.arg, ATOM) + "^{T}"

    def visit_Product(self, e: Product) -> str:
        return product_joiner(e).join(self.wrap(a, PRECEDENCE[Product] + 1) for a in e.args)

    def visit_Kron(self, e: Kron) -> str:
        return r" \otimes ".join(self.kron_factors(e))

    def kron_factors(self, e: Kron) -> list[str]:
        out = []
        for i, a in enumerate(e.args):
            others = e.args[:i] + e.args[i + 1 :]
            force = (
                self.paper_parens
                and isinstance(a, Product)
                and (len(e.args) > 2 or any(not isinstance(b, Identity) for b in others))
            )
            out.append(self.wrap(a, PRECEDENCE[Kron] + 1, force))
        return out

    def visit_Sum(self, e: Sum) -> str:
        return " + ".join(self.term(a) for a in e.args)

    def term(self, a: Expr) -> str:
        # A Σ term needs no parentheses in a sum: it binds its own term only, as in the paper.
        return self(a) if isinstance(a, IndexedSum) else self.wrap(a, PRECEDENCE[Sum] + 1)

    def visit_IndexedSum(self, e: IndexedSum) -> str:
        return binder(e) + " " + self.body(e.body)

    def body(self, body: Expr) -> str:
        return self(body) if isinstance(body, IndexedSum) else self.wrap(body, PRECEDENCE[Kron])

    def visit_Bilinear(self, e: Bilinear) -> str:
        # The paper's notation: (query stream)^T · (form) · (key stream).
        return " ".join(self.bilinear_parts(e))

    def bilinear_parts(self, e: Bilinear) -> list[str]:
        r"""The form's pieces: the query stream (cut at its ``\cdot``), the form, the key stream."""
        query = self.product_parts(e.query) if isinstance(e.query, Product) else [self(e.query)]
        if precedence(e.query) < ATOM:
            opening, closing = delimiters(self(e.query))
            query[0] = opening + query[0]
            query[-1] += closing
        query[-1] += "^{T}"
        form = self.wrap(e.form, PRECEDENCE[Product] + 1)
        key = self.product_parts(e.key) if isinstance(e.key, Product) else [self(e.key)]
        if precedence(e.key) < PRECEDENCE[Product]:
            key = [parens(" ".join(key))]
        return [*query, r"\cdot " + form, *(r"\cdot " + k for k in key[:1]), *key[1:]]

    def product_parts(self, e: Product) -> list[str]:
        joiner = product_joiner(e).strip()
        parts = [self.wrap(a, PRECEDENCE[Product] + 1) for a in e.args]
        return [parts[0]] + [f"{joiner} {x}" if joiner else x for x in parts[1:]]


def binder(e: IndexedSum) -> str:
    r"""``\sum_{h \in H_1}``: the binder of an indexed sum."""
    return rf"\sum_{{{index_latex(e.var)} \in {head_set_latex(e.over)}}}"


def product_joiner(e: Product) -> str:
    r"""``\cdot`` between operators on tensor spaces (Kronecker factors, layers), as the paper
    writes them; a space between plain matrices."""
    tensor = any(len(a.rows.parts[0].factors) > 1 for a in e.args)
    return r" \cdot " if tensor else " "


def delimiters(text: str) -> tuple[str, str]:
    r"""Parentheses sized to what they enclose: ``\Big`` around a Σ, ``\big`` around
    parentheses, plain otherwise."""
    if r"\sum" in text:
        return r"\Big(", r"\Big)"
    if "(" in text:
        return r"\big(", r"\big)"
    return "(", ")"


def parens(text: str) -> str:
    """``text`` in parentheses sized by :func:`delimiters`."""
    opening, closing = delimiters(text)
    return opening + text + closing


def to_latex(expr: Expr, *, paper_parens: bool = True) -> str:
    r"""The expression in LaTeX math, in the paper's notation (see the module docstring).

    >>> import tensoralgebra as ta
    >>> print(to_latex(ta.expand(ta.logits(ta.Architecture(heads=(1,))))))
    \mathrm{Id} \otimes W_U W_E + A^{\mathrm{L0H0}} \otimes (W_U W_{OV}^{\mathrm{L0H0}} W_E)
    """
    if not isinstance(expr, Expr):
        raise TensorAlgebraError(f"to_latex takes an expression, got {type(expr).__name__}")
    return LatexPrinter(paper_parens)(expr)


def term_pieces(expr: Expr, *, paper_parens: bool = True) -> list[str]:
    r"""``expr`` (one term of a sum) cut where a long line may break: after its Σ binders, at the
    top-level ``\cdot`` of a product or bilinear form, or at a top-level ``\otimes``. Joined with
    spaces the pieces are the term's LaTeX (as printed inside a sum).

    >>> import tensoralgebra as ta
    >>> term = ta.terms(ta.expand(ta.logits(ta.Architecture(heads=(1,)))))[1]
    >>> term_pieces(term)
    ['A^{\\mathrm{L0H0}}', '\\otimes (W_U', 'W_{OV}^{\\mathrm{L0H0}}', 'W_E)']
    """
    p = LatexPrinter(paper_parens)
    prefix = []
    body = expr
    while isinstance(body, IndexedSum):
        prefix.append(binder(body))
        body = body.body
    if isinstance(body, Product):
        parts = p.product_parts(body)
    elif isinstance(body, Kron):
        parts = []
        for i, (factor, text) in enumerate(zip(body.args, p.kron_factors(body))):
            cut = [text]
            plain = isinstance(factor, Product) and product_joiner(factor) == " "
            if plain and text == f"({p(factor)})":
                # A long product of matrices in plain parentheses may break between matrices.
                cut = p.product_parts(factor)
                cut[0], cut[-1] = "(" + cut[0], cut[-1] + ")"
            parts += [rf"\otimes {cut[0]}" if i else cut[0], *cut[1:]]
    elif isinstance(body, Bilinear):
        parts = p.bilinear_parts(body)
    else:
        parts = [p.body(body) if prefix else p.term(body)]
    return [" ".join(prefix), *parts] if prefix else parts
