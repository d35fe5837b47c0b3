"""The checked arrays a model is made of: every weight and parameter goes through
:func:`frozen_array` (a read-only numpy copy of the expected shape and a supported dtype, all of
its entries finite; a read-only view instead, inside :func:`sharing`) and per-layer stacks
through :func:`per_layer`; what fails is a :class:`WeightsError` naming the array.

>>> import numpy as np
>>> frozen_array(np.zeros((2, 3)), "W_U", (3, 2), "d_vocab, d_model", None)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.numeric.checked.WeightsError: W_U has shape (2, 3), expected (3, 2) = [d_vocab, d_model] ...
"""  # noqa: E501

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric import layout
from tensoralgebra.numeric.arrays import TORCH_FLOATS, as_numpy, is_torch

#: The floating-point types a model may have.
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class WeightsError(TensorAlgebraError):
    """Weights of the wrong shape, type or value; the message names the array."""


_SHARING = contextvars.ContextVar("sharing", default=False)


@contextlib.contextmanager
def sharing() -> Iterator[None]:
    """Within it, :func:`frozen_array` returns read-only *views* of the arrays it is given,
    checked as ever, instead of copies: for a computation that holds its inputs unchanged while
    it runs and would otherwise double their memory."""
    token = _SHARING.set(True)
    try:
        yield
    finally:
        _SHARING.reset(token)


def to_numpy(value: object, name: str) -> np.ndarray:
    """``value`` (numpy array or torch tensor) as a numpy array, without importing torch.

    Refused: torch tensors of other dtypes than float32 and float64 (``bfloat16``, ``float16``:
    convert them), on the ``meta`` device (no values), masked arrays with anything masked.
    """
    if is_torch(value) and str(value.dtype) not in TORCH_FLOATS:
        raise WeightsError(
            f"{name} has dtype {value.dtype}: expected torch.float32 or torch.float64 (convert "
            "with .float() or .double(); the model computes in the weights' dtype)"
        )
    value = as_numpy(value, name, WeightsError)
    if not isinstance(value, np.ndarray):
        raise WeightsError(
            f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}"
        )
    return value


def frozen_array(value: object, name: str, expected: tuple, dims: str, dtype) -> np.ndarray:
    array = to_numpy(value, name)
    if array.dtype not in DTYPES:
        raise WeightsError(f"{name} has dtype {array.dtype}: expected float32 or float64")
    if dtype is not None and array.dtype != dtype:
        raise WeightsError(
            f"{name} has dtype {array.dtype}, but W_E has {dtype}: all weights share one dtype"
        )
    if array.shape != expected:
        hint = layout.transposed_hint(name, array.shape, expected)
        raise WeightsError(
            f"{name} has shape {array.shape}, expected {expected} = [{dims}] "
            "(the paper's convention, column vectors)" + (f"; {hint}" if hint else "")
        )
    if not np.isfinite(array).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise WeightsError(f"{name}{list(bad)} is {array[bad]}: weights must be finite")
    array = array.view() if _SHARING.get() else np.array(array, copy=True)
    array.setflags(write=False)
    return array


def per_layer(value: object, name: str) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        stacked = " (for a stacked array, pass list(array))" if hasattr(value, "shape") else ""
        raise WeightsError(
            f"{name} must be a sequence with one array per layer, got {type(value).__name__}"
            + stacked
        )
    return tuple(value)


def check_size(n: int, name: str, array: str, shape: tuple) -> None:
    if n < 1:
        raise WeightsError(
            f"{array} has shape {shape}: {name} is {n}, but every size must be at least 1"
        )
