"""The shape of an attention-only transformer: how many heads each layer has, and its positions.

>>> Architecture(heads=(2, 3, 1))
Architecture(heads=(2, 3, 1))
>>> Architecture.schematic(n_layers=3, positional="standard")
Architecture.schematic(n_layers=3, positional='standard')
>>> Architecture((8, 8), positional="shortformer", normalization="LN", biases=True)
Architecture(heads=(8, 8), positional='shortformer', normalization='LN', biases=True)
>>> Architecture(heads=(2, -1))  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: heads[1] -1 is out of range: a layer has 0 or more heads

Head counts may be as large as you like (counts of paths are exact big integers); the number of
layers is at most :data:`MAX_LAYERS`, so that every count stays computable in a moment.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensoralgebra import validation
from tensoralgebra.errors import TensorAlgebraError

#: The positional kinds an architecture may have: ``None`` (no positional embedding),
#: ``"standard"`` (``W_pos`` added to the residual stream) or ``"shortformer"`` (``W_pos`` added,
#: after each layer's LayerNorm, to what its queries and keys read only: docs/conventions.md §7).
POSITIONAL_KINDS = (None, "standard", "shortformer")
#: The normalizations: ``None``, ``"LN"`` (LayerNorm before every layer and before the
#: unembedding, with a weight, and a bias when the model has biases) or ``"LNPre"`` (the same
#: without weight or bias: centring and scale only).
NORMALIZATIONS = (None, "LN", "LNPre")

#: The most layers an architecture may have. A schematic architecture of ``L`` layers has
#: ``2**L`` grouped logit terms; this bound keeps such counts (and the parser of ``--layers``)
#: within a moment's work.
MAX_LAYERS = 1_000_000


def _check_positional(positional: object) -> str | None:
    return validation.choice(positional, "positional", POSITIONAL_KINDS)


def _check_normalization(normalization: object) -> str | None:
    return validation.choice(normalization, "normalization", NORMALIZATIONS)


def _check_biases(biases: object) -> bool:
    return validation.flag(biases, "biases")


def _check_heads(heads: object) -> tuple[int, ...]:
    if isinstance(heads, (str, bytes)) or not isinstance(heads, Sequence):
        raise TensorAlgebraError(
            f"heads must be a sequence of head counts, one per layer, got {heads!r}"
        )
    _check_n_layers(len(heads), "the number of layers in heads")
    rule = "a layer has 0 or more heads"
    return tuple(
        validation.integer(h, f"heads[{i}]", low=0, context=rule) for i, h in enumerate(heads)
    )


def _check_n_layers(n_layers: object, name: str = "n_layers") -> int:
    return validation.integer(
        n_layers,
        name,
        low=0,
        high=MAX_LAYERS + 1,
        context=f"an architecture has 0..{MAX_LAYERS:,} layers",
    )


class Architecture:
    """An attention-only transformer's layers and heads; layers and heads count from 0.

    ``Architecture(heads=(2, 3, 1))`` has three layers with 2, 3 and 1 heads; ``heads=()`` is the
    zero-layer model and a layer may have no heads. ``positional="standard"`` adds the position
    source ``Id_n ⊗ W_pos`` to the residual stream; ``"shortformer"`` adds it to what each layer's
    queries and keys read, never to the residual stream. ``normalization="LN"`` puts a LayerNorm
    before every layer and before the unembedding (``"LNPre"``: one without weight and bias);
    ``biases=True`` gives the model every additive constant: ``b_Q``, ``b_K``, ``b_V``, ``b_O``,
    ``b_U`` and, with ``LN``, the LayerNorms' biases (docs/conventions.md §7). Every combination
    is valid. :meth:`schematic` leaves the head sets ``H_l`` symbolic: expansions then group terms
    as sums over them.
    """

    __slots__ = ("biases", "heads", "n_layers", "normalization", "positional")

    heads: tuple[int, ...] | None
    n_layers: int
    positional: str | None
    normalization: str | None
    biases: bool

    def __init__(
        self,
        heads: Sequence[int],
        positional: str | None = None,
        normalization: str | None = None,
        biases: bool = False,
    ):
        counts = _check_heads(heads)
        self._set(
            counts,
            len(counts),
            _check_positional(positional),
            _check_normalization(normalization),
            _check_biases(biases),
        )

    @classmethod
    def schematic(
        cls,
        n_layers: int,
        positional: str | None = None,
        normalization: str | None = None,
        biases: bool = False,
    ) -> Architecture:
        """``n_layers`` layers whose head sets ``H_0, H_1, ...`` are left symbolic."""
        arch = object.__new__(cls)
        arch._set(
            None,
            _check_n_layers(n_layers),
            _check_positional(positional),
            _check_normalization(normalization),
            _check_biases(biases),
        )
        return arch

    def _set(self, heads, n_layers, positional, normalization, biases) -> None:
        object.__setattr__(self, "heads", heads)
        object.__setattr__(self, "n_layers", n_layers)
        object.__setattr__(self, "positional", positional)
        object.__setattr__(self, "normalization", normalization)
        object.__setattr__(self, "biases", biases)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Architecture is immutable")

    def _key(self) -> tuple:
        return (self.heads, self.n_layers, self.positional, self.normalization, self.biases)

    def __reduce__(self):
        return (_rebuild, self._key())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Architecture):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def is_schematic(self) -> bool:
        """Whether the head sets are symbolic."""
        return self.heads is None

    @property
    def is_idealised(self) -> bool:
        """Whether this is the paper's idealised model: no biases, no LayerNorm, and no positions
        or standard ones. Only such models are evaluated numerically and drawn as graphs so far.
        """
        return not self.biases and self.normalization is None and self.positional != "shortformer"

    @property
    def sources(self) -> tuple[str, ...]:
        """The residual stream's non-constant sources: ``("token",)``, or
        ``("token", "position")`` with standard positions (shortformer positions never enter the
        stream). The constant sources of biases are :meth:`bias_sources`."""
        return ("token", "position") if self.positional == "standard" else ("token",)

    def bias_sources(self, before: int | None = None) -> tuple[str, ...]:
        """The constant sources ``"bias L<l>"`` of the layers before ``before`` (all layers by
        default), in layer order: layer ``l``'s biases join the stream after it
        (``()`` without biases)."""
        n = self.n_layers if before is None else before
        return tuple(f"bias L{layer}" for layer in range(n)) if self.biases else ()

    def n_heads(self, layer: int) -> int:
        """The number of heads of ``layer`` (concrete architectures only)."""
        layer = self.check_layer(layer)
        if self.heads is None:
            raise TensorAlgebraError(
                f"layer {layer} of a schematic architecture has a symbolic number of heads"
            )
        return self.heads[layer]

    def check_layer(self, layer: object) -> int:
        """``layer`` as a plain ``int`` if this architecture has it, else a clear error."""
        has = f"layers 0..{self.n_layers - 1}" if self.n_layers else "no layers"
        return validation.index(
            layer, "layer", self.n_layers, context=f"this architecture has {has}"
        )

    def to_dict(self) -> dict:
        """A JSON-ready description; ``normalization`` and ``biases`` appear only when set, so
        an idealised model's description is as it always was."""
        described = {
            "n_layers": self.n_layers,
            "heads": None if self.heads is None else list(self.heads),
            "schematic": self.is_schematic,
            "positional": self.positional,
        }
        if self.normalization is not None:
            described["normalization"] = self.normalization
        if self.biases:
            described["biases"] = True
        return described

    def __repr__(self) -> str:
        pos = "" if self.positional is None else f", positional={self.positional!r}"
        if self.normalization is not None:
            pos += f", normalization={self.normalization!r}"
        if self.biases:
            pos += ", biases=True"
        if self.heads is None:
            return f"Architecture.schematic(n_layers={self.n_layers}{pos})"
        return f"Architecture(heads={self.heads!r}{pos})"


def check_architecture(arch: object, caller: str) -> Architecture:
    """``arch`` if it is an :class:`Architecture`, else a clear error naming ``caller``."""
    if not isinstance(arch, Architecture):
        raise TensorAlgebraError(
            f"{caller} needs an Architecture, got {type(arch).__name__} {arch!r}: "
            "build one with ta.Architecture(heads=(2, 2)) or ta.Architecture.schematic(2)"
        )
    return arch


def _rebuild(heads, n_layers, positional, normalization=None, biases=False) -> Architecture:
    if heads is None:
        return Architecture.schematic(n_layers, positional, normalization, biases)
    return Architecture(heads, positional, normalization, biases)
