"""Rules that name and order the terms of an expansion: renaming bound head variables the
paper's way, sorting terms by path, and merging single-head sums over disjoint layers.

They change how an expansion reads, never what it is: renaming bound variables, commuting terms
of a sum, and joining sums over disjoint index sets are all value-preserving (the test suite
checks each rule on random matrices like every other rule).

>>> import tensoralgebra as ta
>>> two = ta.expand(ta.logits(ta.Architecture.schematic(n_layers=2)))
>>> for term in ta.terms(merge_head_sets(two)):
...     print(term)
Id ⊗ W_U W_E
Σ_{h∈H0∪H1} A^{h} ⊗ W_U W_OV^{h} W_E
Σ_{h_1∈H1} Σ_{h_0∈H0} A^{h_1} A^{h_0} ⊗ W_U W_OV^{h_1} W_OV^{h_0} W_E
"""

from __future__ import annotations

from operator import itemgetter

from tensoralgebra.expr.engine import rule
from tensoralgebra.expr.indices import Head, HeadSet, HeadVar, Layer
from tensoralgebra.expr.nodes import (
    Expr,
    Identity,
    IndexedSum,
    Kron,
    MatrixSymbol,
    Product,
    Sum,
    Transpose,
)
from tensoralgebra.expr.spaces import ONE, POS
from tensoralgebra.expr.traversal import free_vars, substitute


def binders(expr: Expr) -> tuple[list[IndexedSum], Expr]:
    """The chain of indexed sums at the top of ``expr`` (outermost first) and the body inside."""
    chain: list[IndexedSum] = []
    while type(expr) is IndexedSum:
        chain.append(expr)
        expr = expr.body
    return chain, expr


@rule(IndexedSum)
def name_bound_heads(expr: Expr) -> Expr | None:
    """Rename the head variables of a term the paper's way (a renaming of bound variables).

    Each variable keeps its root (its name without primes); variables of one root are named
    together. A root bound once is the plain root (``h``); a root bound by Σs over distinct single
    layers gets the layer: ``h_l`` (``Σ_{h_1∈H1} Σ_{h_0∈H0}``). A score term binds query-side
    ``hq`` and key-side ``hk`` variables, each root named on its own. Terms where a root is bound
    twice over the same layer are left as they are.
    """
    chain, body = binders(expr)
    if not chain or len({s.var for s in chain}) < len(chain):
        return None  # nothing bound, or a shadowed variable: renaming would change the meaning
    roots = [s.var.name.rstrip("'") for s in chain]
    wanted = []
    for root, s in zip(roots, chain):
        if roots.count(root) == 1:
            wanted.append(HeadVar(root))
        elif len(s.over.layers) == 1:
            wanted.append(HeadVar(root, s.over.layers[0]))
        else:
            return None
    if len(set(wanted)) != len(wanted) or wanted == [s.var for s in chain]:
        return None
    if set(wanted) & free_vars(expr):
        return None  # a wanted name is used freely in the term: renaming would capture it
    body = substitute(body, {s.var: w for s, w in zip(chain, wanted)})
    for s, w in reversed(list(zip(chain, wanted))):
        body = IndexedSum(w, s.over, body)
    return body


def _leaf_head(leaf: Expr, sets: dict[HeadVar, HeadSet]) -> tuple[int, int] | None:
    """The (layer, head) of one leaf of a position factor, or ``None`` if it is no head."""
    index = getattr(leaf, "index", None)
    if isinstance(index, Layer) or leaf.cols.factors == (ONE,):
        return None
    if isinstance(index, Head):
        return (index.layer, index.head)
    if isinstance(index, HeadVar):
        return (sets[index].layers[0] if index in sets else -1, -1)
    return None if type(leaf) is Identity else (-1, -1)


def _path_heads(
    factor: Expr, sets: dict[HeadVar, HeadSet], seen: dict[int, tuple | None]
) -> tuple[tuple[int, int], ...]:
    """The (layer, head) of each pattern in a position factor, earliest (rightmost) first. A
    frozen LayerNorm scale (``N^{L1}``, indexed by a layer) and a constant source's all-ones
    vector ``1`` [positions × one] are no heads. ``seen`` keeps, by id(), the answer for leaves
    that are no head variable (it does not depend on ``sets``): every term shares them."""
    leaves = factor.args if type(factor) is Product else (factor,)
    heads = []
    for leaf in reversed(leaves):
        head = seen.get(id(leaf), _UNSEEN)
        if head is _UNSEEN:
            head = _leaf_head(leaf, sets)
            if not isinstance(getattr(leaf, "index", None), HeadVar):
                seen[id(leaf)] = head
        if head is not None:
            heads.append(head)
    return tuple(heads)


_UNSEEN = object()
_LAYER = itemgetter(0)


#: Where a source stands among a term's sources, by its matrix: tokens, positions, the constant
#: source of each layer in layer order, then the constants of the head or of the unembedding.
_SOURCE_SYMBOLS = {"W_E": (0,), "W_pos": (1,), "c": (2,)}
_OWN_CONSTANTS = frozenset({"b_U", "c_U", "b_Q", "b_K", "c_Q", "c_K"})


def _space_rank(base) -> int:
    return 1 if base is POS else 2 if base is ONE else 0


def _leaf_rank(leaf: Expr, outer) -> tuple:
    """The rank of the source matrix at one end of a term's weights (``outer`` picks the space
    it reads from); a matrix the framework does not name ranks by that space."""
    symbol = leaf.arg if type(leaf) is Transpose else leaf
    if type(symbol) is MatrixSymbol:
        if symbol.name in _OWN_CONSTANTS:
            return (3,)
        rank = _SOURCE_SYMBOLS.get(symbol.name)
        if rank is not None:
            index = symbol.index
            return rank + ((index.layer,) if isinstance(index, Layer) else ())
    factors = outer(leaf).factors
    return (_space_rank(factors[-1]),) if factors else (0,)


def _rows(e: Expr):
    return e.rows


def _cols(e: Expr):
    return e.cols


def _end_ranks(weights: Expr, seen: dict[tuple, tuple]) -> tuple:
    leaves = weights.args if type(weights) is Product else (weights,)
    ends = []
    for leaf, outer in ((leaves[0], _rows), (leaves[-1], _cols)):
        key = (id(leaf), outer)  # the rank depends on the leaf alone: shared by many terms
        rank = seen.get(key)
        if rank is None:
            rank = seen[key] = _leaf_rank(leaf, outer)
        ends.append(rank)
    return tuple(ends)


#: The ranks of a term's sources, by its (rows, cols): spaces are few and interned.
_SOURCE_RANKS: dict[tuple, tuple[int, ...]] = {}


def _source_ranks(body: Kron) -> tuple[int, ...]:
    key = (body.rows, body.cols)
    ranks = _SOURCE_RANKS.get(key)
    if ranks is None:
        ranks = tuple(map(_space_rank, body.rows.factors + body.cols.factors))
        _SOURCE_RANKS[key] = ranks
    return ranks


def path_key(term: Expr, seen: dict | None = None) -> tuple:
    """Where a term stands in an expansion: by total path order, then the earlier position factors'
    orders highest first, then the layers and heads along its path(s), then its sources: tokens,
    positions, each layer's constant source (layer by layer), then the scoring head's own or the
    unembedding's constant (docs/conventions.md §7).

    For ``A^{L1H1} A^{L0H1} ⊗ W_U W_OV^{L1H1} W_OV^{L0H1} W_E`` the path is ``((0, 1), (1, 1))``.
    A three-factor score term has a query path and a key path, and the order puts, for a
    second-layer head, the paper's groups in the paper's order: no composition, Q-composition,
    K-composition, both. ``seen`` is a scratch dict for keying the terms of one sum (it keeps
    what the terms' shared leaves give, by id(): the terms must stay alive while it is used).
    """
    seen = {} if seen is None else seen
    sets = {}
    body = term
    while type(body) is IndexedSum:  # the Σ chain: each variable's head set (innermost wins)
        sets[body.var] = body.over
        body = body.body
    if type(body) is not Kron:
        return (0,)
    factors = body.args
    if sets:  # head variables: their layers come from this term's Σ chain
        paths = tuple([_path_heads(f, sets, seen) for f in factors[:-1]])
    else:  # a position factor's path is its own: terms sharing the factor share the answer
        paths = tuple([_concrete_path(f, seen) for f in factors[:-1]])
    layers = tuple([tuple(map(_LAYER, p)) for p in paths])
    orders = tuple([-len(p) for p in paths])
    ends = _end_ranks(factors[-1], seen)
    return (sum(map(len, paths)), orders, layers, paths, ends, _source_ranks(body))


def _concrete_path(factor: Expr, seen: dict) -> tuple[tuple[int, int], ...]:
    """:func:`_path_heads` of a position factor with no head variable, kept by id() in ``seen``
    (under a key of its own kind: leaves are kept there by their id() alone)."""
    key = ("path", id(factor))
    path = seen.get(key)
    if path is None:
        path = seen[key] = _path_heads(factor, {}, seen)
    return path


@rule(Sum)
def order_terms(expr: Expr) -> Expr | None:
    """Reorder a sum's terms by :func:`path_key` (commutativity of +); ties keep their order."""
    if type(expr) is not Sum:
        return None
    seen: dict = {}
    ordered = sorted(expr.args, key=lambda term: path_key(term, seen))
    if ordered == list(expr.args):
        return None
    # The same terms in another order: the same spaces, so the sum needs no checking again.
    return Sum.trusted(tuple(ordered), expr.rows, expr.cols)


@rule(Sum)
def merge_head_sets(expr: Expr) -> Expr | None:
    """``Σ_{h∈H0} a_h + Σ_{h∈H1} a_h → Σ_{h∈H0∪H1} a_h`` for Σ terms with equal bodies over
    disjoint head sets (over overlapping sets the union would count shared heads once, not twice).

    This is how the paper writes the single-head terms of a two-layer model as one sum.
    """
    if type(expr) is not Sum:
        return None
    args = list(expr.args)
    for i, a in enumerate(args):
        if type(a) is not IndexedSum:
            continue
        for j in range(i + 1, len(args)):
            b = args[j]
            if (
                type(b) is IndexedSum
                and b.var == a.var
                and b.body == a.body
                and not set(a.over.layers) & set(b.over.layers)
            ):
                args[i] = IndexedSum(a.var, a.over | b.over, a.body)
                del args[j]
                return args[0] if len(args) == 1 else Sum(args)
    return None
