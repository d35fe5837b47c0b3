"""Shortcuts through the expansion's passes: normal forms of common nodes found in one step.

:func:`~tensoralgebra.expr.engine.innermost` asks a pass's shortcut first at each node whose
children are normal; the shortcut returns the node's normal form under the pass's rules, or
``None`` to leave the node to them. :func:`~tensoralgebra.expr.expand.expand` uses these two
(an expansion that records its steps uses none: every application is listed there):

- :func:`distributed_product`, for the distribute pass: a product that no distribution rule
  rewrites is its own normal form, known at a glance;
- :func:`mixed_product`, for the mixed-product pass: a product of layers (Kronecker products of
  symbols, with identities between them) multiplied out to its term at once
  (:func:`layer_product`), and a score term (a bilinear form of such terms) likewise
  (:func:`bilinear_product`).

Each gives exactly what the rules give: the test suite runs every pass with and without them on
random expressions and on the logits and scores of random architectures.

>>> from tensoralgebra.symbols import A, W_E, W_OV, W_U, Id_positions
>>> layer = Kron((A((0, 1)), W_OV((0, 1))))
>>> term = Product((Kron((Id_positions, W_U)), layer, Kron((Id_positions, W_E))))
>>> distributed_product(term) is term
True
>>> print(layer_product()(term))
A^{L0H1} ⊗ W_U W_OV^{L0H1} W_E
"""

from __future__ import annotations

from operator import attrgetter

from tensoralgebra.expr.engine import Rule
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
from tensoralgebra.expr.spaces import tensor

#: The operand types that some rule of the distribute pass rewrites a product over: a product
#: (flattened), a zero (eliminated), a sum (distributed over) or a Σ (pulled out).
_DISTRIBUTED_OPERANDS = frozenset({Product, Zero, Sum, IndexedSum})


def distributed_product(expr: Expr) -> Expr | None:
    """The distribute pass's normal form of a product whose (normal) operands are none of
    ``_DISTRIBUTED_OPERANDS``: the product itself, since each of the pass's product rules needs
    such an operand. What every distributed term is."""
    if type(expr) is Product and _DISTRIBUTED_OPERANDS.isdisjoint(map(type, expr.args)):
        return expr
    return None


def _is_atom(expr: Expr) -> bool:
    """A symbol, an identity or a symbol's transpose: what no rule of the mixed-product pass
    rewrites, nor any product of them free of identities."""
    kind = type(expr)
    return (
        kind is MatrixSymbol
        or kind is Identity
        or (kind is Transpose and type(expr.arg) is MatrixSymbol)
    )


_ROWS, _COLS = attrgetter("rows"), attrgetter("cols")
_UNSEEN = object()


def layer_product() -> Rule:
    """A shortcut for the mixed-product pass (one per pass: it keeps what it learns about the
    pass's shared Kronecker products): the normal form of a product that is one run of
    Kronecker products of atoms, fitting factor by factor, with identities only between them.

    The rules would apply ``mixed_product``, giving the Kronecker product of the factorwise
    chains (identities dropped; ``Id`` for a chain of identities), then find nothing more to do:
    a chain of atoms has nothing to flatten, multiply out, eliminate or transpose, and
    ``kron_of_identities`` would need every chain to be ``Id``, hence every factor of the run,
    when a normal Kronecker product of identities is already ``Id``. Anything else is left to
    the rules.
    """
    # By id() of each Kronecker product met (kept alive by the pass's memo meanwhile): its
    # factors' column and row spaces if they are all atoms, else None.
    known: dict[int, tuple[tuple, tuple] | None] = {}

    def spaces(kron: Kron) -> tuple[tuple, tuple] | None:
        atoms = all(map(_is_atom, kron.args))
        here = (tuple(map(_COLS, kron.args)), tuple(map(_ROWS, kron.args))) if atoms else None
        known[id(kron)] = here
        return here

    def shortcut(expr: Expr) -> Expr | None:
        if type(expr) is not Product or type(expr.args[0]) is not Kron:
            return None
        krons, last = [], None
        for arg in expr.args:
            kind = type(arg)
            if kind is Kron:
                here = known.get(id(arg), _UNSEEN)
                if here is _UNSEEN:
                    here = spaces(arg)
                # Spaces are interned: equal tuples of them mean factor by factor fit.
                if here is None or (last is not None and last[0] != here[1]):
                    return None
                krons.append(arg)
                last = here
            elif kind is not Identity or arg.space is not krons[-1].cols:
                return None  # another run would start here
        if len(krons) < 2 or type(expr.args[-1]) is not Kron:
            return None
        return Kron.trusted(
            tuple(map(_chain, zip(*[k.args for k in krons]))), krons[0].rows, krons[-1].cols
        )

    return shortcut


def _chain(factors: tuple[Expr, ...]) -> Expr:
    """The product of one factor of each Kronecker product of a run (atoms), identities
    dropped: it fits, since the run fits factor by factor and identities are square."""
    kept = [f for f in factors if type(f) is not Identity]
    if not kept:
        return Identity(factors[0].rows)
    if len(kept) == 1:
        return kept[0]
    return Product.trusted(tuple(kept), kept[0].rows, kept[-1].cols)


def _atoms(chain: Expr) -> tuple[Expr, ...] | None:
    """The atoms of a normal chain (an atom, or a product of atoms), or ``None`` for anything
    else."""
    if type(chain) is Product:
        return chain.args if all(map(_is_atom, chain.args)) else None
    return (chain,) if _is_atom(chain) else None


def _transposed(atom: Expr) -> Expr:
    """An atom's transpose in normal form: ``Id^T = Id``, ``(a^T)^T = a``."""
    kind = type(atom)
    if kind is Identity:
        return atom
    return atom.arg if kind is Transpose else Transpose(atom)


def _normal_chain(atoms: tuple[Expr, ...], rows) -> Expr:
    """What the rules make of a product of ``atoms`` (acting on ``rows``): the product of
    those that are not identities; the identity on ``rows`` if all are."""
    kept = tuple(a for a in atoms if type(a) is not Identity)
    if not kept:
        return Identity(rows)
    return kept[0] if len(kept) == 1 else Product.trusted(kept, kept[0].rows, kept[-1].cols)


def bilinear_product() -> Rule:
    """A shortcut for the mixed-product pass (one per pass, like :func:`layer_product`): the
    normal form of a score term ``(B_q ⊗ W_q)^T·(F_q ⊗ F_k ⊗ M)·(B_k ⊗ W_k)`` whose six
    factors are chains of atoms.

    The rules would apply ``bilinear_mixed_product``, giving ``F_q B_q ⊗ F_k B_k ⊗
    W_q^T M W_k``, then flatten each product, push the transpose of ``W_q`` down to its atoms
    (reversing them; ``Id^T = Id``, ``(a^T)^T = a``), drop identities (a product of nothing
    but identities is one), and make ``Id ⊗ Id ⊗ Id`` the identity: that is what this
    computes, each side's part once for all the terms that share it. Anything else is left to
    the rules.
    """
    # By id() of the nodes met (kept alive by the pass's memo meanwhile): a chain's atoms other
    # than identities (None if it is no chain of atoms), a query side's weights' transposed and
    # reversed, and the normal product of two chains.
    kept: dict[int, tuple[Expr, ...] | None] = {}
    transposed: dict[int, tuple[Expr, ...] | None] = {}
    positions: dict[tuple[int, int], Expr] = {}

    def atoms(chain: Expr) -> tuple[Expr, ...] | None:
        out = kept.get(id(chain), _UNSEEN)
        if out is _UNSEEN:
            found = _atoms(chain)
            out = kept[id(chain)] = (
                None if found is None else tuple(a for a in found if type(a) is not Identity)
            )
        return out

    def position_chain(f: Expr, b: Expr) -> Expr | None:
        out = positions.get((id(f), id(b)), _UNSEEN)
        if out is _UNSEEN:
            a_f, a_b = atoms(f), atoms(b)
            out = None if a_f is None or a_b is None else _normal_chain(a_f + a_b, f.rows)
            positions[(id(f), id(b))] = out
        return out

    def shortcut(expr: Expr) -> Expr | None:
        if type(expr) is not Bilinear:
            return None
        query, form, key = expr.query, expr.form, expr.key
        if not (_kron(query, 2) and _kron(form, 3) and _kron(key, 2)):
            return None
        (b_q, w_q), (f_q, f_k, m), (b_k, w_k) = query.args, form.args, key.args
        w_q_t = transposed.get(id(w_q), _UNSEEN)
        if w_q_t is _UNSEEN:
            found = atoms(w_q)
            w_q_t = transposed[id(w_q)] = (
                None if found is None else tuple(map(_transposed, reversed(found)))
            )
        a_m, a_w_k = atoms(m), atoms(w_k)
        p_q, p_k = position_chain(f_q, b_q), position_chain(f_k, b_k)
        if w_q_t is None or a_m is None or a_w_k is None or p_q is None or p_k is None:
            return None
        factors = (p_q, p_k, _normal_chain(w_q_t + a_m + a_w_k, m.rows))
        if all(type(f) is Identity for f in factors):
            return Identity(expr.rows)
        # Chains of atoms act between plain spaces (no direct sums): the constructor's checks
        # cannot fail, and its spaces are these.
        rows, cols = tensor(tuple(map(_ROWS, factors))), tensor(tuple(map(_COLS, factors)))
        return Kron.trusted(factors, rows, cols)

    return shortcut


def _kron(expr: Expr, n: int) -> bool:
    return type(expr) is Kron and len(expr.args) == n


def mixed_product() -> Rule:
    """The mixed-product pass's shortcut: :func:`layer_product` for products,
    :func:`bilinear_product` for bilinear forms (one of each per pass)."""
    layers, scores = layer_product(), bilinear_product()

    def shortcut(expr: Expr) -> Expr | None:
        kind = type(expr)
        if kind is Product:
            return layers(expr)
        return scores(expr) if kind is Bilinear else None

    return shortcut
