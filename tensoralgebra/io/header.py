"""The header of a safetensors file, read and checked before any tensor is.

A safetensors file is an 8-byte little-endian length ``N``, ``N`` bytes of JSON (the header:
each tensor's dtype, shape and byte range, and an optional ``__metadata__`` of strings), then the
tensors' bytes. :func:`read_header` reads only the length and the header, checks them, and
refuses files whose tensors would exceed a memory budget, so that nothing large is read before
it is known to fit. Files that are not safetensors (pickles, zip archives) are recognised by
:mod:`tensoralgebra.io.pickles` and refused without being opened as what they are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tensoralgebra.io import pickles
from tensoralgebra.io.errors import WeightsFileError
from tensoralgebra.numeric import budget

#: The largest header read (bytes), as safetensors itself allows.
MAX_HEADER = 100 * 2**20
#: The tensor dtypes a weights file may hold, by their safetensors names.
DTYPES = {"F32": np.dtype(np.float32), "F64": np.dtype(np.float64)}
_LAYOUT = "a safetensors file starts with an 8-byte header length and a JSON header '{...'"


@dataclass(frozen=True)
class Header:
    """A checked header: ``tensors`` maps each name to ``(dtype, shape)``."""

    metadata: dict[str, str] | None
    tensors: dict[str, tuple[np.dtype, tuple[int, ...]]]


def read_header(path: Path, max_bytes: int) -> Header:
    """The checked header of the file at ``path``; a :class:`WeightsFileError` for anything that
    is not a complete safetensors file of float32 or float64 tensors, and an
    :class:`~tensoralgebra.errors.ExpansionLimitError` if its tensors exceed ``max_bytes``."""
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(16)
        file.seek(max(size - 1, 0))
        tail = file.read(1)
        if size < 9 or head[8:9] != b"{":
            _refuse_foreign(path, size, head, tail)
        length = int.from_bytes(head[:8], "little")
        if length > MAX_HEADER:
            raise WeightsFileError(
                path, f"declares a header of {length:,} bytes, over the {MAX_HEADER:,} allowed"
            )
        if 8 + length > size:
            raise WeightsFileError(
                path,
                f"is truncated: it declares a header of {length:,} bytes, but holds only "
                f"{size - 8:,} bytes after the header length",
            )
        file.seek(8)
        raw = _parse(path, file.read(length))
    return _checked(path, raw, size - 8 - length, max_bytes)


def _refuse_foreign(path: Path, size: int, head: bytes, tail: bytes):
    foreign = pickles.describe(path, head, tail)
    if foreign is not None:
        advice = f"; {pickles.CONVERT}" if "pickle" in foreign else ""
        raise WeightsFileError(path, f"is {foreign}{advice}")
    if size < 9:
        raise WeightsFileError(path, f"is truncated: it has {size} bytes ({_LAYOUT})")
    raise WeightsFileError(path, f"is not a safetensors file: {_LAYOUT}, it starts {head[:9]!r}")


def _parse(path: Path, raw: bytes) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:  # (json's errors are ValueErrors)
        raise WeightsFileError(path, f"has a header that is not valid JSON ({error})") from None


def _checked(path: Path, raw: object, data_size: int, max_bytes: int) -> Header:
    if not isinstance(raw, dict):
        raise WeightsFileError(path, "has a JSON header that is not an object of tensors")
    metadata = raw.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise WeightsFileError(path, "has a __metadata__ that is not an object of strings")
    tensors, declared, end = {}, 0, 0
    for name, entry in raw.items():
        dtype, shape, (begin, stop) = _entry(path, name, entry)
        tensors[name] = (dtype, shape)
        declared, end = declared + stop - begin, max(end, stop)
    if declared > max_bytes:
        note = " (pass a larger max_bytes to load it)"
        raise budget.refusal(f"the tensors of {path}", declared, max_bytes, None, None, note)
    if end > data_size:
        raise WeightsFileError(
            path,
            f"is truncated: its header declares {end:,} bytes of tensor data, the file holds "
            f"{data_size:,}",
        )
    return Header(metadata, tensors)


def _entry(path: Path, name: str, entry: object):
    if not isinstance(entry, dict) or {"dtype", "shape", "data_offsets"} - entry.keys():
        raise WeightsFileError(
            path, f"tensor {name!r} lacks its dtype, shape or data_offsets in the header"
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise WeightsFileError(
            path,
            f"tensor {name!r} has dtype {dtype!r}: expected F32 or F64 (float32 or float64; "
            "convert the weights before saving them)",
        )
    if not _naturals(shape) or not (_naturals(offsets) and len(offsets) == 2):
        raise WeightsFileError(
            path,
            f"tensor {name!r} has shape {shape!r} and data_offsets {offsets!r} in the "
            "header: expected lists of non-negative integers",
        )
    nbytes = math.prod(shape) * DTYPES[dtype].itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise WeightsFileError(
            path,
            f"tensor {name!r} of shape {tuple(shape)} and dtype {dtype} needs {nbytes:,} bytes, "
            f"but its data_offsets {offsets} span {offsets[1] - offsets[0]:,}",
        )
    return DTYPES[dtype], tuple(shape), tuple(offsets)


def _naturals(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    )
