"""The expression layer: immutable nodes, one visitor to walk them, rewrite rules, expansion and
canonical form. Printing them is :mod:`tensoralgebra.printing`'s business."""

from tensoralgebra.expr.build import add, indexed_sum, kron, product, symbol, transpose
from tensoralgebra.expr.canonical import canonical, equivalent
from tensoralgebra.expr.engine import RULES, Application, apply_rule, innermost, rule
from tensoralgebra.expr.expand import MAX_TERMS, Step, expand, expansion_steps, terms
from tensoralgebra.expr.indices import Head, HeadSet, HeadVar
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
from tensoralgebra.expr.spaces import HEAD, MODEL, POS, POSITIONS, VOCAB, Base, DirectSum, Space
from tensoralgebra.expr.visitor import Visitor, map_children

__all__ = [
    "HEAD",
    "MAX_TERMS",
    "MODEL",
    "POS",
    "POSITIONS",
    "RULES",
    "VOCAB",
    "Application",
    "Base",
    "Bilinear",
    "DirectSum",
    "Expr",
    "Head",
    "HeadSet",
    "HeadVar",
    "Identity",
    "IndexedSum",
    "Kron",
    "MatrixSymbol",
    "Product",
    "Space",
    "Step",
    "Sum",
    "Transpose",
    "Visitor",
    "Zero",
    "add",
    "apply_rule",
    "canonical",
    "equivalent",
    "expand",
    "expansion_steps",
    "indexed_sum",
    "innermost",
    "kron",
    "map_children",
    "product",
    "rule",
    "symbol",
    "terms",
    "transpose",
]
