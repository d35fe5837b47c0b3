"""Weights saved to and loaded from safetensors files, with their architecture and conventions.

The file holds one tensor per array of the :class:`~tensoralgebra.Weights`: a field holding an
array under its own name (``W_E``, ``W_U``, ``W_pos``), a field holding one array per layer as
``blocks.{l}.{field}`` (``blocks.0.W_Q``, ``blocks.1.W_O``). Fields are read off the dataclass,
so a field added to ``Weights`` is saved and loaded with the others. The metadata (strings, JSON
where structured) says what the tensors are; see docs/files.md for every key.

>>> import tempfile, numpy as np, tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture(heads=(2, 1)), d_model=8, d_head=4, d_vocab=11, n_ctx=5)
>>> with tempfile.TemporaryDirectory() as folder:
...     save_weights(w, f"{folder}/model.safetensors")
...     loaded = load_weights(f"{folder}/model.safetensors")
>>> loaded.architecture, bool(np.array_equal(loaded.W_O[1], w.W_O[1]))
(Architecture(heads=(2, 1)), True)
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from tensoralgebra import validation
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.io import metadata
from tensoralgebra.io.errors import WeightsFileError
from tensoralgebra.io.header import read_header
from tensoralgebra.io.metadata import tensor_name
from tensoralgebra.numeric.budget import MEMORY_BUDGET
from tensoralgebra.numeric.weights import Weights, WeightsError

#: The extension a weights file must have when it is saved.
SUFFIX = ".safetensors"


def _path(path: object) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise WeightsFileError(repr(path), f"expected a path, got {type(path).__name__}")
    return Path(path)


def _fields(weights: Weights, path: Path) -> tuple[dict, dict, dict]:
    """The tensors by name, each field's kind, and the plain values, of ``weights``."""
    tensors, kinds, values = {}, {}, {}
    for field in dataclasses.fields(weights):
        if not field.init:  # derived on construction: rebuilt by the constructor on load
            continue
        name, value = field.name, getattr(weights, field.name)
        if value is None:
            kinds[name] = "none"
        elif isinstance(value, np.ndarray):
            kinds[name], tensors[name] = "tensor", value
        elif isinstance(value, tuple) and all(isinstance(a, np.ndarray) for a in value):
            kinds[name] = "layers"
            tensors.update({tensor_name(name, i): a for i, a in enumerate(value)})
        elif isinstance(value, (bool, int, float, str, np.generic)):
            plain = value.item() if isinstance(value, np.generic) else value
            kinds[name], values[name] = "value", plain
        else:
            raise WeightsFileError(path, f"cannot save field {name} of type {type(value).__name__}")
    return {k: np.ascontiguousarray(a) for k, a in tensors.items()}, kinds, values


def save_weights(
    weights: Weights, path: str | os.PathLike, *, extra: dict[str, str] | None = None
) -> None:
    """Save ``weights`` to ``path`` (ending in ``.safetensors``), replacing any file there.

    The file is written beside ``path`` and then renamed, so a failed save leaves no partial
    file. Refused: a path without the extension, a folder, a folder that does not exist.
    ``extra``: more metadata, strings to strings (a training run's config and data), beside
    the keys this module writes, which it may not replace; read back with
    ``safetensors.safe_open(path, "np").metadata()``.
    """
    path = _path(path)
    if not isinstance(weights, Weights):
        raise WeightsError(f"save_weights needs Weights, got {type(weights).__name__}")
    if path.suffix != SUFFIX:
        raise WeightsFileError(path, f"expected a path ending in {SUFFIX}, got {path.suffix!r}")
    if path.is_dir():
        raise WeightsFileError(path, f"is a folder: expected a file name ending in {SUFFIX}")
    if not path.parent.is_dir():
        raise WeightsFileError(path, f"the folder {path.parent} does not exist")
    tensors, kinds, values = _fields(weights, path)
    _write(
        path, tensors, metadata.with_extra(path, metadata.describe(weights, kinds, values), extra)
    )


def _write(path: Path, tensors: dict, described: dict) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        safetensors.numpy.save_file(tensors, temporary, metadata=described)
        os.replace(temporary, path)
    except OSError as error:
        raise WeightsFileError(path, f"cannot be written: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_weights(
    path: str | os.PathLike, cls: type[Weights] = Weights, *, max_bytes: int = MEMORY_BUDGET
) -> Weights:
    """The :class:`~tensoralgebra.Weights` (or ``cls``, a subclass) saved at ``path``.

    Checked before any tensor is read: the file is a complete safetensors file (not a pickle,
    which is never opened), with this module's metadata of a known format version and
    conventions, exactly the tensors its fields call for, whose sizes fit ``max_bytes``. The
    arrays then go through ``cls``'s own validation, and the result must have the architecture,
    dtype and ``n_ctx`` the metadata states.
    """
    path = _path(path)
    if not (isinstance(cls, type) and issubclass(cls, Weights)):
        raise WeightsError(f"cls must be Weights or a subclass of it, got {cls!r}")
    max_bytes = validation.positive_integer(max_bytes, "max_bytes", error=WeightsError)
    if not path.exists():
        raise WeightsFileError(path, "no such file")
    if path.is_dir():
        raise WeightsFileError(path, f"is a folder: expected a {SUFFIX} file")
    try:
        header = read_header(path, max_bytes)
        meta = metadata.read(path, header)
        kinds = metadata.kinds_for(path, meta, cls)
        metadata.expected_names(path, kinds, meta, header)
        arrays = safetensors.numpy.load_file(path)
    except OSError as error:
        raise WeightsFileError(path, f"cannot be read: {error.strerror or error}") from None
    except safetensors.SafetensorError as error:
        raise WeightsFileError(path, f"is not a valid safetensors file: {error}") from None
    return _build(path, cls, kinds, meta, arrays)


def _build(path: Path, cls: type[Weights], kinds: dict, meta: dict, arrays: dict) -> Weights:
    """``cls`` from the file's arrays and values, through its own validation, checked against
    what the metadata states."""
    n_layers = meta["architecture"]["n_layers"]
    given = {}
    for name, kind in kinds.items():
        if kind == "tensor":
            given[name] = arrays[name]
        elif kind == "layers":
            given[name] = [arrays[tensor_name(name, layer)] for layer in range(n_layers)]
        else:
            given[name] = None if kind == "none" else meta["values"][name]
    try:
        weights = cls(**given)
    except TensorAlgebraError as error:
        raise WeightsFileError(path, f"holds weights that are refused: {error}") from None
    made = {
        "architecture": weights.architecture.to_dict(),
        "dtype": str(weights.dtype),
        "n_ctx": weights.n_ctx,
    }
    for key, value in made.items():
        if meta[key] != value:
            raise WeightsFileError(
                path, f"states {key} {meta[key]!r}, but its tensors make {value!r}"
            )
    return weights
