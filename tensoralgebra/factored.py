"""The factored expressions of an attention-only transformer (symbolic only, no arrays): the
residual stream as a product of per-layer factors ``Id + Σ_h A^h ⊗ W_OV^h`` and the logits
``(Id ⊗ W_U) · Π_l (...) · (Id ⊗ W_E)``. The weight symbols are in :mod:`tensoralgebra.symbols`.

>>> import tensoralgebra as ta
>>> print(ta.logits(ta.Architecture(heads=(2,))))
(Id ⊗ W_U)·(Id + A^{L0H0} ⊗ W_OV^{L0H0} + A^{L0H1} ⊗ W_OV^{L0H1})·(Id ⊗ W_E)
>>> print(ta.logits(ta.Architecture.schematic(n_layers=2)))
(Id ⊗ W_U)·(Id + Σ_{h∈H1} A^{h} ⊗ W_OV^{h})·(Id + Σ_{h∈H0} A^{h} ⊗ W_OV^{h})·(Id ⊗ W_E)

Real architectures (docs/conventions.md §7): a head reads its layer's frozen LayerNorm, ``N^{Ll}``
on positions and ``W̃_l`` (``W_ln^{Ll}``, or the centring ``C`` for ``LNPre``) on the model
space; each layer's biases add the constant source ``1 ⊗ c^{Ll}`` after it; the final LayerNorm
and the unembedding's constant close the logits.

>>> print(ta.logits(ta.Architecture((1,), normalization="LNPre", biases=True)))
(Id ⊗ W_U)·(N^{f} ⊗ C)·((Id + A^{L0H0} N^{L0} ⊗ W_OV^{L0H0} C)·(Id ⊗ W_E) + 1 ⊗ c^{L0}) + 1 ⊗ b_U
"""

from __future__ import annotations

from collections.abc import Iterable

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture, check_architecture
from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.expr.indices import Head, HeadSet, HeadVar, Index
from tensoralgebra.expr.nodes import Expr, IndexedSum, Kron, Product, Sum
from tensoralgebra.symbols import (
    W_E,
    W_OV,
    W_U,
    A,
    C,
    Id_positions,
    Id_residual,
    N,
    W_ln,
    W_pos,
    b_U,
    c,
    c_U,
    ones,
)

#: The most per-head terms (``A^h ⊗ W_OV^h``, or one ``Σ_{h∈H_l}`` per schematic layer) that a
#: factored expression writes out; beyond it :func:`logits`, :func:`residual_stream`,
#: :func:`layer_factor` and ``ta.scores`` refuse up front. Counting and the lazy listings
#: (``ta.count_logit_paths``, ``ta.logit_paths``) have no such bound.
MAX_WRITTEN_HEADS = 20_000


def fresh_name(preferred: str, avoid: Iterable[HeadVar | str]) -> str:
    """``preferred`` unless a variable in ``avoid`` has that name; else the first of
    ``preferred'``, ``preferred''``, ... that none has. Bound variables get fresh names, so that
    a Σ never captures a free variable of the same name.

    >>> fresh_name("hq", [HeadVar("hq")]), fresh_name("h", ["h", "h'"]), fresh_name("h", [])
    ("hq'", "h''", 'h')
    """
    taken = {v.name if isinstance(v, HeadVar) else v for v in avoid}
    name = preferred
    while name in taken:
        name += "'"
    return name


def written_heads(arch: Architecture, layers: int) -> int:
    """How many per-head terms the factors of the first ``layers`` layers write out: their heads
    (one Σ per layer for a schematic architecture)."""
    return layers if arch.heads is None else sum(arch.heads[:layers])


def check_written(arch: Architecture, n: int, what: str) -> None:
    """Refuse (up front) to write ``what`` if it would take ``n`` per-head terms, over
    :data:`MAX_WRITTEN_HEADS`."""
    if n > MAX_WRITTEN_HEADS:
        layers = f"{arch.n_layers:,} layer{'s' * (arch.n_layers != 1)}"
        if arch.is_schematic:
            has = f"one Σ for each of its {layers}"
        else:
            has = f"the architecture has {written_heads(arch, arch.n_layers):,} heads in {layers}"
        raise ExpansionLimitError(
            f"{what} would write out {n:,} per-head terms ({has}), more than the "
            f"{MAX_WRITTEN_HEADS:,} a factored expression may hold; count its terms with "
            "ta.count_logit_paths or ta.count_score_paths, or list them lazily with "
            "ta.logit_paths or ta.score_paths"
        )


def layer_norm(arch: Architecture, layer: int | None) -> tuple[Expr, Expr] | None:
    """``(N^{Ll}, W̃_l)``: layer ``layer``'s frozen LayerNorm (``None``: the final one), as a
    scale on positions and a map of the model space; ``W̃_l`` is ``W_ln^{Ll} = diag(w_l) C`` for
    ``LN`` and the centring ``C`` alone for ``LNPre``. ``None`` without normalization."""
    if arch.normalization is None:
        return None
    return N(layer), (C if arch.normalization == "LNPre" else W_ln(layer))


def head_term(head: Index, norm: tuple[Expr, Expr] | None = None) -> Kron:
    """``A^h ⊗ W_OV^h``: what one head adds to the residual stream, its pattern frozen; with its
    layer's LayerNorm ``norm = (N^{Ll}, W̃_l)``, ``A^h N^{Ll} ⊗ W_OV^h W̃_l``."""
    if norm is None:
        return Kron((A(head), W_OV(head)))
    return Kron((Product((A(head), norm[0])), Product((W_OV(head), norm[1]))))


def layer_factor(
    arch: Architecture, layer: int, var: str = "h", avoid: Iterable[HeadVar | str] = ()
) -> Expr:
    """``Id + Σ_{h ∈ H_layer} A^h ⊗ W_OV^h``: the residual stream through one layer (with a
    LayerNorm, ``Id + Σ_h A^h N^{Ll} ⊗ W_OV^h W̃_l``: the skip connection bypasses it).

    A concrete architecture lists its heads; a layer without heads is just ``Id``. ``var`` names
    the head variable of a schematic layer, made fresh against the variables in ``avoid``.
    """
    check_architecture(arch, "layer_factor")
    layer = arch.check_layer(layer)
    norm = layer_norm(arch, layer)
    if arch.is_schematic:
        h = HeadVar(fresh_name(var, avoid))
        return Sum((Id_residual, IndexedSum(h, HeadSet((layer,)), head_term(h, norm))))
    check_written(arch, arch.heads[layer], f"layer {layer}'s factor")
    heads = [head_term(Head(layer, i), norm) for i in range(arch.heads[layer])]
    return Sum((Id_residual, *heads)) if heads else Id_residual


def embedding(arch: Architecture) -> Expr:
    """``Id ⊗ W_E``, plus ``Id ⊗ W_pos`` with standard positions: the stream before layer 0
    (shortformer positions never enter it)."""
    check_architecture(arch, "embedding")
    tokens = Kron((Id_positions, W_E))
    if arch.positional != "standard":
        return tokens
    return Sum((tokens, Kron((Id_positions, W_pos))))


def residual_stream(
    arch: Architecture, layer: int, var: str = "h", avoid: Iterable[HeadVar | str] = ()
) -> Expr:
    """The residual stream that ``layer`` reads (``layer == n_layers``: the final stream),
    as the product of the earlier layers' factors and the embedding; ``var`` names the head
    variables of a schematic architecture, made fresh against the variables in ``avoid``. With
    biases, each layer's constant source ``1 ⊗ c^{Ll}`` joins after it:
    ``R_{l+1} = F_l · R_l + 1 ⊗ c^{Ll}``."""
    check_architecture(arch, "residual_stream")
    n = arch.n_layers
    layer = validation.integer(
        layer,
        "layer",
        low=0,
        high=n + 1,
        context=f"residual streams are read by layers 0..{n - 1}, and {n} is the final stream",
    )
    check_written(arch, written_heads(arch, layer), f"the residual stream read by layer {layer}")
    name = fresh_name(var, avoid)
    stream = embedding(arch)
    for lay in range(layer):
        stream = Product((layer_factor(arch, lay, name), *_factors_of(stream)))
        if arch.biases:
            stream = Sum((stream, Kron((ones, c(lay)))))
    return stream


def _factors_of(expr: Expr) -> tuple[Expr, ...]:
    return expr.args if isinstance(expr, Product) else (expr,)


def unembedding_constant(arch: Architecture) -> Expr:
    """The constant of the logits with biases: ``c_U = W_U b_f + b_U`` with LayerNorm ``LN``,
    else the unembedding bias ``b_U`` [vocab × one]."""
    return c_U if arch.normalization == "LN" else b_U


def logits(arch: Architecture) -> Expr:
    """The logits in factored form: ``(Id⊗W_U)·Π_l(Id + Σ_h A^h⊗W_OV^h)·(Id⊗W_E)``.

    The last layer stands leftmost (it acts last). With standard positions the embedding is
    ``Id⊗W_E + Id⊗W_pos``, acting on the token one-hots and the position one-hots. With a
    normalization the final LayerNorm ``N^{f} ⊗ W̃_f`` stands before the unembedding; with
    biases the stream gains each layer's constant source and the logits the constant
    ``1 ⊗ c_U`` (``1 ⊗ b_U`` without LayerNorm bias). Refused up front for more than
    :data:`MAX_WRITTEN_HEADS` heads.
    """
    check_architecture(arch, "logits")
    check_written(arch, written_heads(arch, arch.n_layers), "the logits")
    stream = residual_stream(arch, arch.n_layers)
    norm = layer_norm(arch, None)
    final = () if norm is None else (Kron(norm),)
    readout = Product((Kron((Id_positions, W_U)), *final, *_factors_of(stream)))
    if not arch.biases:
        return readout
    return Sum((readout, Kron((ones, unembedding_constant(arch)))))
