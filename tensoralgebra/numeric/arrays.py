"""Arrays from outside, taken in as numpy arrays; and finding the values that are not finite.

Weights and tokens may come as numpy arrays or torch tensors. A torch tensor is copied to the CPU
(any device torch can copy from; not the ``meta`` device, which holds no values) and must have a
dtype numpy has (not ``bfloat16``). A numpy masked array is accepted only when nothing is masked:
a model reads every entry, and the values under a mask are not meant to be read.

>>> import numpy as np
>>> as_numpy(np.ma.masked_array([[1, 2]], mask=[[0, 1]]), "tokens")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: tokens is a masked array with 1 masked entry (the ...
>>> as_numpy(np.ma.masked_array([[1, 2]], mask=[[0, 0]]), "tokens")
array([[1, 2]])
>>> first_nonfinite(np.array([[1.0, np.inf], [np.nan, 0.0]]))
'[0, 1] is inf'
>>> first_nonfinite(np.ones(3)) is None
True
"""

from __future__ import annotations

import warnings

import numpy as np

from tensoralgebra.errors import TensorAlgebraError

#: The torch dtypes a weight may have, by name (torch itself is not imported here).
TORCH_FLOATS = ("torch.float32", "torch.float64")


def is_torch(value: object) -> bool:
    """Whether ``value`` is a torch tensor (checked without importing torch)."""
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def as_numpy(value: object, name: str, error: type[Exception] = TensorAlgebraError) -> object:
    """``value`` with torch tensors and masked arrays turned into plain numpy arrays; anything
    else is returned as it is (the caller decides what else it accepts)."""
    if is_torch(value):
        value = _from_torch(value, name, error)
    if isinstance(value, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(value)
        if mask.any():
            n = int(mask.sum())
            where = [int(i) for i in np.argwhere(mask)[0]]
            raise error(
                f"{name} is a masked array with {n} masked entr{'y' if n == 1 else 'ies'} "
                f"(the first at {where}): a model reads every entry; fill or drop the masked ones "
                "first (nothing masked is accepted)"
            )
        value = np.asarray(value.data)
    return value


def _from_torch(value, name: str, error: type[Exception]) -> np.ndarray:
    device = getattr(value.device, "type", str(value.device))
    if device == "meta":
        raise error(
            f"{name} is a torch tensor on the meta device, which holds no values: load the "
            "weights first (tensors on any device torch can copy to the CPU are accepted)"
        )
    try:
        return value.detach().cpu().numpy()
    except (TypeError, RuntimeError, NotImplementedError) as exc:
        raise error(
            f"{name} is a torch tensor of dtype {value.dtype} (layout {value.layout}) that numpy "
            f"cannot hold ({exc}): convert it to a dense tensor of a numpy dtype first"
        ) from None


def nonfinite_rows(rows: np.ndarray) -> dict[int, str]:
    """``{i: where}`` for each row ``i`` of ``rows`` [n, ...] holding NaN or ±inf (where: as
    :func:`first_nonfinite` says it); empty when every value is finite.

    >>> nonfinite_rows(np.array([[1.0, 2.0], [0.0, np.nan]]))
    {1: '[1] is nan'}
    """
    rows = np.asarray(rows)
    bad = ~np.isfinite(rows.reshape(len(rows), -1)).all(axis=1)
    return {int(i): first_nonfinite(rows[i]) for i in np.flatnonzero(bad)}


def first_nonfinite(array: np.ndarray) -> str | None:
    """Where ``array`` first holds NaN or ±inf, as ``'[i, j] is nan'``; ``None`` if nowhere."""
    array = np.asarray(array)
    if array.dtype.kind not in "fc":
        return None
    bad = ~np.isfinite(array)
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{list(index)} is {array[index]}"


def warn_if_nonfinite(value: object, what: str) -> None:
    """A ``RuntimeWarning`` if ``value`` (numpy array or torch tensor) is not finite somewhere."""
    where = first_nonfinite(as_numpy(value, what))
    if where:
        warnings.warn(
            f"{what} is not finite: {where} (values too large for the dtype?)",
            RuntimeWarning,
            stacklevel=3,
        )


def worst(values) -> float | None:
    """The largest of ``values`` (``None`` entries skipped), where NaN counts as the largest of
    all: Python's ``max`` drops a NaN that is not first, which would let it pass a check."""
    found = [float(v) for v in values if v is not None]
    if not found:
        return None
    if any(np.isnan(v) for v in found):
        return float("nan")
    return max(found)
