"""Hypothesis strategies for random well-typed expressions, used to test the rewrite rules.

``expressions(rows, cols, depth)`` draws an expression from ``cols`` to ``rows`` built from every
node type: symbols (some indexed by a bound head variable), identities, zeros, transposes,
products, two- and three-factor Kronecker products, sums and indexed sums over head sets.
"""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from tensoralgebra.expr import (
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
from tensoralgebra.expr.spaces import MODEL, POSITIONS, VOCAB

BASES = (POSITIONS, MODEL, VOCAB)
#: Sizes small enough for dense evaluation of three-factor Kronecker products.
SIZES = {"n_ctx": 2, "d_model": 3, "d_vocab": 2, "d_head": 2}
#: Head counts per layer that indexed sums range over when evaluated.
HEADS = (2, 1, 2)
VARS = (HeadVar("h"), HeadVar("g"))


@st.composite
def expressions(draw, rows: Space, cols: Space, depth: int = 3, bound: tuple = ()):
    """An expression from ``cols`` to ``rows`` whose free head variables are among ``bound``."""
    choices = ["symbol"]
    if rows == cols:
        choices.append("identity")
    if depth > 0:
        choices += ["transpose", "product", "sum", "sum", "indexed_sum"]
        if len(rows.factors) == len(cols.factors) and len(rows.factors) in (2, 3):
            choices += ["kron", "kron", "kron"]
    kind = draw(st.sampled_from(choices))
    sub = depth - 1
    if kind == "symbol":
        if draw(st.integers(0, 15)) == 0:
            return Zero(rows, cols)
        index = draw(st.sampled_from((None, *bound))) if bound else None
        name = draw(st.sampled_from(("P", "Q")))
        return MatrixSymbol(f"{name}_{_tag(rows)}_{_tag(cols)}", rows, cols, index)
    if kind == "identity":
        return Identity(rows)
    if kind == "transpose":
        return Transpose(draw(expressions(cols, rows, sub, bound)))
    if kind == "product":
        middle = draw(_spaces(len(rows.factors))) if len(rows.factors) > 1 else _base(draw)
        return Product(
            (
                draw(expressions(rows, middle, sub, bound)),
                draw(expressions(middle, cols, sub, bound)),
            )
        )
    if kind == "sum":
        n = draw(st.integers(2, 3))
        return Sum(draw(expressions(rows, cols, sub, bound)) for _ in range(n))
    if kind == "indexed_sum":
        var = draw(st.sampled_from(VARS))
        layers = draw(st.sampled_from(((0,), (1,), (2,), (0, 2))))
        body = draw(expressions(rows, cols, sub, (*bound, var)))
        return IndexedSum(var, HeadSet(layers), body)
    factors = [
        draw(expressions(Space.of(r), Space.of(c), sub, bound))
        for r, c in zip(rows.factors, cols.factors)
    ]
    return Kron(factors)


def _base(draw) -> Space:
    return Space.of(draw(st.sampled_from(BASES)))


@st.composite
def _spaces(draw, n: int) -> Space:
    # Tensor spaces keep positions first, as the framework's operators do.
    return Space.of(POSITIONS, *(draw(st.sampled_from(BASES)) for _ in range(n - 1)))


def _tag(space: Space) -> str:
    return "".join(b.name[0] for b in space.factors)


@st.composite
def any_expression(draw, depth: int = 3):
    """An expression on a random one-, two- or three-factor space."""
    n = draw(st.sampled_from((1, 2, 2, 3)))
    if n == 1:
        return draw(expressions(_base(draw), _base(draw), depth))
    return draw(expressions(draw(_spaces(n)), draw(_spaces(n)), depth))


# --- expressions with a redex of one rule at the root ---------------------------------------------


def _leafy(rows: Space, cols: Space, bound: tuple = ()):
    return expressions(rows, cols, depth=1, bound=bound)


@st.composite
def _parts(draw, n: int, rows: Space, cols: Space, bound: tuple = ()):
    return [draw(_leafy(rows, cols, bound)) for _ in range(n)]


@st.composite
def _chain(draw, rows: Space, cols: Space, n: int, bound: tuple = ()):
    """``n`` expressions whose product maps ``cols`` to ``rows``."""
    spaces = [rows, *(_base(draw) for _ in range(n - 1)), cols]
    return [draw(_leafy(a, b, bound)) for a, b in itertools.pairwise(spaces)]


@st.composite
def redexes(draw, rule_name: str):
    """An expression on which the rule called ``rule_name`` applies at the root."""
    r, c = _base(draw), _base(draw)
    p = Space.of(POSITIONS)
    h = VARS[0]
    head_set = HeadSet(draw(st.sampled_from(((0,), (2,), (0, 2)))))

    def body(rows=r, cols=c, bound=(h,)):
        return draw(_leafy(rows, cols, bound))

    if rule_name == "flatten_product":
        x, y, z = draw(_chain(r, c, 3))
        return Product((x, Product((y, z))))
    if rule_name == "flatten_sum":
        x, y, z = draw(_parts(3, r, c))
        return Sum((x, Sum((y, z))))
    if rule_name == "flatten_kron":
        a, b, k = (draw(_leafy(_base(draw), _base(draw))) for _ in range(3))
        return Kron((a, Kron((b, k))))
    if rule_name == "eliminate_identity":
        x, y = draw(_chain(r, c, 2))
        return Product((x, Identity(x.cols), y))
    if rule_name == "kron_of_identities":
        return Kron((Identity(p), Identity(r)))
    if rule_name == "transpose_identity":
        return Transpose(Identity(r))
    if rule_name == "eliminate_zero":
        x, y = draw(_chain(r, c, 2))
        return draw(
            st.sampled_from(
                (
                    Product((x, Zero(y.rows, y.cols))),
                    Sum((Zero(r, c), Product((x, y)))),
                    Kron((x, Zero(p, p))),
                    Transpose(Zero(r, c)),
                    IndexedSum(h, head_set, Zero(r, c)),
                )
            )
        )
    if rule_name == "distribute_product":
        x, y = draw(_chain(r, c, 2))
        return Product((x, Sum((y, draw(_leafy(y.rows, y.cols))))))
    if rule_name == "distribute_kron":
        a, b = draw(_parts(2, p, p))
        return Kron((Sum((a, b)), body(bound=())))
    if rule_name in ("pull_sum_out_of_product", "pull_sum_out_of_kron"):
        # The other factor may use h freely, so pulling the Σ out must rename its variable.
        other = draw(_leafy(r, r, (h,)))
        inner = IndexedSum(h, head_set, body())
        if rule_name == "pull_sum_out_of_product":
            return Product((other, inner))
        return Kron((draw(_leafy(p, p, (h,))), inner))
    if rule_name == "split_indexed_sum":
        return IndexedSum(h, head_set, Sum((body(), body())))
    if rule_name == "transpose_product":
        return Transpose(Product(draw(_chain(r, c, 2))))
    if rule_name == "transpose_kron":
        return Transpose(Kron((draw(_leafy(p, p)), body(bound=()))))
    if rule_name == "transpose_sum":
        return Transpose(Sum(draw(_parts(2, r, c))))
    if rule_name == "transpose_indexed_sum":
        return Transpose(IndexedSum(h, head_set, body()))
    if rule_name == "double_transpose":
        return Transpose(Transpose(body(bound=())))
    if rule_name == "mixed_product":
        n = draw(st.integers(2, 3))
        slots = [draw(_chain(p, p, n)), draw(_chain(r, c, n))]
        krons = [Kron(fs) for fs in zip(*slots)]
        # Identities between the Kronecker products are Id ⊗ Id: the rule absorbs them.
        factors = [krons[0]]
        for k in krons[1:]:
            if draw(st.booleans()):
                factors.append(Identity(k.rows))
            factors.append(k)
        return Product(factors)
    if rule_name == "name_bound_heads":
        g = HeadVar("h'")  # the same root as h: the rule names both by their layers
        pattern = Product((MatrixSymbol("A", p, p, g), MatrixSymbol("A", p, p, h)))
        inner = IndexedSum(h, HeadSet((0,)), Product((pattern, draw(_leafy(p, p, (g, h))))))
        return IndexedSum(g, HeadSet((2,)), inner)
    if rule_name == "order_terms":
        pattern = Product(
            (MatrixSymbol("A", p, p, Head(1, 0)), MatrixSymbol("A", p, p, Head(0, 1)))
        )
        first = Kron((pattern, body(bound=())))
        return Sum((first, Kron((Identity(p), body(bound=())))))
    if rule_name == "merge_head_sets":
        shared = body()
        return Sum((IndexedSum(h, HeadSet((0,)), shared), IndexedSum(h, HeadSet((2,)), shared)))
    if rule_name in BILINEAR_RULES:
        return draw(bilinear_redexes(rule_name))
    raise ValueError(f"no redex strategy for rule {rule_name!r}")


BILINEAR_RULES = (
    "distribute_bilinear",
    "pull_sum_out_of_bilinear",
    "bilinear_mixed_product",
    "eliminate_zero_bilinear",
)


@st.composite
def streams(draw, reads: Space, bound: tuple = ()):
    """A residual-stream-like operator ``positions ⊗ source → reads``: a Kronecker product."""
    source = Space.of(POSITIONS, draw(st.sampled_from(BASES)))
    pos, model = (Space.of(b) for b in reads.factors)
    return Kron(
        (
            draw(_leafy(pos, Space.of(POSITIONS), bound)),
            draw(_leafy(model, Space.of(source.factors[1]), bound)),
        )
    )


@st.composite
def bilinear_redexes(draw, rule_name: str):
    """A bilinear form on which ``rule_name`` applies at the root."""
    p = Space.of(POSITIONS)
    r, c = _base(draw), _base(draw)
    form = Kron((draw(_leafy(p, p)), draw(_leafy(p, p)), draw(_leafy(r, c))))
    h = VARS[0]
    query, key = (
        draw(streams(Space.of(POSITIONS, r.factors[0]))),
        draw(streams(Space.of(POSITIONS, c.factors[0]))),
    )
    if rule_name == "distribute_bilinear":
        other = draw(streams(query.rows))
        while other.cols != query.cols:
            other = draw(streams(query.rows))
        return Bilinear(Sum((query, other)), form, key)
    if rule_name == "pull_sum_out_of_bilinear":
        key_h = draw(streams(key.rows, (h,)))
        return Bilinear(
            IndexedSum(h, HeadSet((0, 2)), draw(streams(query.rows, (h,)))), form, key_h
        )
    if rule_name == "eliminate_zero_bilinear":
        return Bilinear(query, form, Zero(key.rows, key.cols))
    return Bilinear(query, form, key)
