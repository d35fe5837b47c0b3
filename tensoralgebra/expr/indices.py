"""Head indices: concrete heads, bound head variables, and the head sets they range over.

Layers and heads count from 0, as in ``L1H0`` (layer 1, head 0). The paper's ``H_1`` is the
first layer, which is layer 0 here; printers that write the paper's notation shift by one.

>>> Head(1, 0)
L1H0
>>> HeadVar("h"), HeadVar("h", layer=1)
(h, h_1)
>>> HeadSet((0, 1))
H0∪H1
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tensoralgebra.errors import TensorAlgebraError


def _check_index(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TensorAlgebraError(f"{what} must be a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True, slots=True, order=True)
class Head:
    """A concrete attention head: ``layer`` and ``head`` within it, both from 0."""

    layer: int
    head: int

    def __post_init__(self) -> None:
        _check_index(self.layer, "a head's layer")
        _check_index(self.head, "a head's index within its layer")

    def __repr__(self) -> str:
        return f"L{self.layer}H{self.head}"


@dataclass(frozen=True, slots=True)
class HeadVar:
    """A head variable bound by an indexed sum ``Σ_{h ∈ H_l}``.

    ``layer`` is part of the name only (``h_1`` is the variable for a head of layer 1): which heads
    the variable ranges over is said by the sum that binds it.
    """

    name: str
    layer: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*'*", self.name):
            raise TensorAlgebraError(
                "a head variable's name must be letters and digits, starting with a letter, "
                f"optionally primed (h, h2, h'), got {self.name!r}"
            )
        if self.layer is not None:
            _check_index(self.layer, "a head variable's layer")

    def __repr__(self) -> str:
        return self.name if self.layer is None else f"{self.name}_{self.layer}"


@dataclass(frozen=True, slots=True, order=True)
class HeadSet:
    """The heads of one or more layers: ``H_l``, or a union ``H_0 ∪ H_1``."""

    layers: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise TensorAlgebraError("a head set needs at least one layer")
        for layer in self.layers:
            _check_index(layer, "a head set's layer")
        if list(self.layers) != sorted(set(self.layers)):
            raise TensorAlgebraError(
                f"a head set's layers must be increasing and distinct, got {self.layers!r}"
            )

    def __or__(self, other: HeadSet) -> HeadSet:
        return HeadSet(tuple(sorted(set(self.layers) | set(other.layers))))

    def __repr__(self) -> str:
        return "∪".join(f"H{layer}" for layer in self.layers)


@dataclass(frozen=True, slots=True, order=True)
class Layer:
    """A layer as the index of a per-layer symbol: ``N^{L1}`` (layer 1's frozen LayerNorm scale),
    ``c^{L0}`` (layer 0's constant source); ``layer=None`` is the final LayerNorm, ``N^{f}``.

    >>> Layer(1), Layer(None)
    (L1, f)
    """

    layer: int | None

    def __post_init__(self) -> None:
        if self.layer is not None:
            _check_index(self.layer, "a layer index")

    def __repr__(self) -> str:
        return "f" if self.layer is None else f"L{self.layer}"


Index = Head | HeadVar | Layer
