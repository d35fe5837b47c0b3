"""One home for checking arguments: every public function validates through these, so the same
mistake gets the same message everywhere, naming the offending value and what was expected.

Integers are accepted as Python ``int`` or any numpy integer (anything with ``__index__`` that is
not a ``bool``, a float or a string); the value returned is always a plain ``int``.

>>> integer(np.int64(3), "layer", low=0, high=4)
3
>>> integer(True, "layer")
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: layer is True: expected an integer, not a bool
>>> integer(0.7, "layer", low=0)
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: layer is 0.7: expected an integer
>>> integer(5, "layer", low=0, high=2, context="this architecture has layers 0..1")
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: layer 5 is out of range: this architecture has layers 0..1
>>> choice("X", "kind", ("none", "Q", "K", "QK"))
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: kind is 'X': expected one of 'none', 'Q', 'K', 'QK'
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np

from tensoralgebra.errors import TensorAlgebraError

__all__ = [
    "available_devices",
    "choice",
    "device",
    "flag",
    "fraction",
    "index",
    "integer",
    "non_negative_number",
    "optional_integer",
    "positive_integer",
    "positive_number",
    "seed",
]

#: Seeds accepted by :func:`seed`: numpy's and torch's generators both take 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def _as_int(value: object, name: str, error: type[Exception]) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise error(f"{name} is {value!r}: expected an integer, not a bool")
    if isinstance(value, (str, bytes, float, np.floating)) or not hasattr(value, "__index__"):
        raise error(f"{name} is {value!r}: expected an integer")
    return operator.index(value)


def integer(
    value: object,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
    context: str | None = None,
    error: type[Exception] = TensorAlgebraError,
) -> int:
    """``value`` as a plain ``int``, checked to lie in ``low <= value < high`` (either bound
    optional). ``context`` replaces the default description of the range in the message."""
    n = _as_int(value, name, error)
    if (low is not None and n < low) or (high is not None and n >= high):
        if context is None:
            if high is None:
                context = f"expected an integer >= {low}"
            elif low is None:
                context = f"expected an integer < {high}"
            elif high - low == 0:
                context = "the range is empty"
            else:
                context = f"expected an integer in {low}..{high - 1}"
        raise error(f"{name} {n} is out of range: {context}")
    return n


def optional_integer(value: object, name: str, **bounds) -> int | None:
    """``None``, or :func:`integer` of ``value`` with the same keyword arguments."""
    return None if value is None else integer(value, name, **bounds)


def positive_integer(
    value: object,
    name: str,
    *,
    maximum: int | None = None,
    error: type[Exception] = TensorAlgebraError,
) -> int:
    """A size: an integer ``>= 1`` (and ``<= maximum`` when given)."""
    n = _as_int(value, name, error)
    if n < 1:
        raise error(f"{name} is {n}: expected a positive integer (a size of at least 1)")
    if maximum is not None and n > maximum:
        raise error(f"{name} is {n}: at most {maximum:,} is supported")
    return n


def positive_number(
    value: object, name: str, *, error: type[Exception] = TensorAlgebraError
) -> float:
    """A finite real number ``> 0`` (a tolerance, a scale), as a ``float``."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise error(f"{name} is {value!r}: expected a positive number")
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise error(f"{name} is {value!r}: expected a positive, finite number")
    return x


def seed(value: object, name: str = "seed", *, error: type[Exception] = TensorAlgebraError) -> int:
    """A random seed: an integer in ``0 .. 2**32 - 1``."""
    return integer(
        value, name, low=0, high=MAX_SEED + 1, context=f"expected 0..{MAX_SEED}", error=error
    )


def choice(
    value: object,
    name: str,
    options: Sequence[object],
    *,
    error: type[Exception] = TensorAlgebraError,
) -> object:
    """``value`` if it is one of ``options`` (compared by equality, hashable values only)."""
    try:
        hash(value)
    except TypeError:
        found = False
    else:
        # Type and value must both match: True is not 1, and 'Q' is not ['Q'].
        found = any(type(o) is type(value) and o == value for o in options)
    if not found:
        listed = ", ".join(repr(o) for o in options)
        raise error(f"{name} is {value!r}: expected one of {listed}")
    return value


def index(
    value: object,
    name: str,
    size: int,
    *,
    context: str | None = None,
    error: type[Exception] = TensorAlgebraError,
) -> int:
    """An index into ``size`` things (a layer, a head): an integer in ``0 .. size - 1``, as a
    plain ``int``; one outside that range *does not exist*. ``context`` says what does.

    >>> index(np.int64(1), "layer", 2)
    1
    >>> index(2, "layer", 2, context="it has layers 0..1")
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: layer 2 does not exist: it has layers 0..1
    """
    n = _as_int(value, name, error)
    if not 0 <= n < size:
        if context is None:
            context = f"expected 0..{size - 1}" if size else "there are none"
        raise error(f"{name} {n} does not exist: {context}")
    return n


def flag(value: object, name: str, *, error: type[Exception] = TensorAlgebraError) -> bool:
    """A yes/no option: ``True`` or ``False`` (or a numpy bool), nothing merely truthy.

    >>> flag("no", "per_term")
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: per_term is 'no': expected True or False
    """
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{name} is {value!r}: expected True or False")
    return bool(value)


def fraction(
    value: object,
    name: str,
    *,
    open_low: bool = False,
    open_high: bool = False,
    error: type[Exception] = TensorAlgebraError,
) -> float:
    """A proportion or probability: a real number in ``[0, 1]``, as a ``float``; ``open_low``
    and ``open_high`` exclude 0 and 1.

    >>> fraction(0.05, "held_out_fraction", open_low=True, open_high=True)
    0.05
    >>> fraction(1, "held_out_fraction", open_high=True)
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: held_out_fraction is 1: expected a number in [0, 1)
    """
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise error(f"{name} is {value!r}: expected a number")
    x = float(value)
    too_low = x <= 0 if open_low else x < 0
    too_high = x >= 1 if open_high else x > 1
    if not math.isfinite(x) or too_low or too_high:
        interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise error(f"{name} is {value!r}: expected a number in {interval}")
    return x


def device(value: object, name: str = "device", *, error: type[Exception] = TensorAlgebraError):
    """A torch device that exists and is available here, as a ``torch.device``: ``"cpu"``,
    ``"cuda"`` or ``"cuda:N"`` with CUDA present and ``N`` below its device count, ``"mps"``
    where present (a string or a ``torch.device``). Anything else is refused naming what is
    available.

    >>> device("cpu")
    device(type='cpu')
    >>> device("tpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: device is 'tpu': not a torch device; available: cpu...
    """
    import torch  # here, not at the top: the command line checks other options without torch

    available = available_devices()
    listed = ", ".join(available)
    if not isinstance(value, str | torch.device):
        raise error(f"{name} is {value!r}: expected a device name such as 'cpu' ({listed})")
    try:
        chosen = torch.device(value)
    except (RuntimeError, ValueError):
        raise error(f"{name} is {value!r}: not a torch device; available: {listed}") from None
    if chosen.type == "cuda" and chosen.index is None and "cuda" in available:
        chosen = torch.device("cuda", torch.cuda.current_device())
    if str(chosen) not in available and not (chosen.type == "cpu" and chosen.index in (None, 0)):
        raise error(f"{name} is {str(value)!r}: not available here; available: {listed}")
    return torch.device("cpu") if chosen.type == "cpu" else chosen


def available_devices() -> tuple[str, ...]:
    """The torch devices usable here: ``cpu``, then ``cuda:0..`` and ``mps`` where present."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{n}" for n in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return tuple(found)


def non_negative_number(
    value: object, name: str, *, error: type[Exception] = TensorAlgebraError
) -> float:
    """A finite real number ``>= 0`` (a weight decay, a rate that may be off), as a ``float``.

    >>> non_negative_number(-0.5, "weight_decay")
    Traceback (most recent call last):
      ...
    tensoralgebra.errors.TensorAlgebraError: weight_decay is -0.5: expected a finite number >= 0
    """
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise error(f"{name} is {value!r}: expected a number >= 0")
    x = float(value)
    if not math.isfinite(x) or x < 0:
        raise error(f"{name} is {value!r}: expected a finite number >= 0")
    return x
