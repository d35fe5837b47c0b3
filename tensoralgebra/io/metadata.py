"""The metadata of a weights file: what its tensors are, written on save and checked on load.

Every value is a string (safetensors metadata is string to string); structured values are JSON.
``fields`` maps each field of the :class:`~tensoralgebra.Weights` to its kind (:data:`KINDS`);
``values`` holds the fields that are plain values (``n_ctx``). ``architecture``, ``dtype`` and
``n_ctx`` state what the tensors must make.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture(heads=(1,)), d_model=2, d_head=1, d_vocab=3, n_ctx=4)
>>> meta = describe(w, {"W_E": "tensor"}, {"n_ctx": 4})
>>> meta["format"], meta["format_version"], meta["conventions"], meta["architecture"]
('tensoralgebra.Weights', '1', 'column vectors: W_E is [d_model, d_vocab]', '{"n_layers": 1, \
"heads": [1], "schematic": false, "positional": null}')
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tensoralgebra import __version__
from tensoralgebra.io.errors import WeightsFileError
from tensoralgebra.io.header import Header

#: What the metadata's ``format`` says of a file this package wrote.
FORMAT = "tensoralgebra.Weights"
#: The version of the layout; loading refuses any other.
FORMAT_VERSION = "1"
#: The orientation of the arrays (docs/conventions.md §1); loading refuses any other.
CONVENTIONS = "column vectors: W_E is [d_model, d_vocab]"
#: The metadata keys a file must have besides ``format`` and ``format_version``.
REQUIRED = ("conventions", "architecture", "dtype", "n_ctx", "fields", "values")
#: What a field holds: an array, one array per layer, nothing (``None``), or a plain value.
KINDS = ("tensor", "layers", "none", "value")


def tensor_name(field: str, layer: int | None = None) -> str:
    """The name of a field's tensor in the file: ``W_E``, or ``blocks.0.W_Q`` for layer 0."""
    return field if layer is None else f"blocks.{layer}.{field}"


def describe(weights, kinds: dict[str, str], values: dict[str, object]) -> dict[str, str]:
    """The metadata of ``weights`` whose fields have ``kinds`` and plain ``values``."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "conventions": CONVENTIONS,
        "architecture": json.dumps(weights.architecture.to_dict()),
        "dtype": str(weights.dtype),
        "n_ctx": str(weights.n_ctx),
        "fields": json.dumps(kinds),
        "values": json.dumps(values, allow_nan=False),
        "tensoralgebra_version": __version__,
    }


def with_extra(path: Path, described: dict[str, str], extra: dict | None) -> dict[str, str]:
    """``described`` and the ``extra`` metadata (strings to strings, none of ``described``'s
    keys)."""
    if extra is None:
        return described
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
    ):
        raise WeightsFileError(path, f"extra metadata must map strings to strings, got {extra!r}")
    taken = sorted(set(extra) & set(described))
    if taken:
        raise WeightsFileError(path, f"extra metadata may not replace the keys {taken}")
    return {**described, **extra}


def _listed(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _foreign(path: Path, header: Header) -> WeightsFileError:
    meta = header.metadata
    lacks = (
        "no __metadata__"
        if not meta
        else f"__metadata__ format {meta['format']!r}"
        if "format" in meta
        else f"__metadata__ without format (it has {_listed(sorted(meta))})"
    )
    names = sorted(header.tensors)
    holds = f"its tensors are {_listed(names)}" if names else "it holds no tensors"
    return WeightsFileError(
        path,
        f"is a safetensors file without tensoralgebra's metadata: it has {lacks}, expected "
        f"format {FORMAT!r} with format_version, {', '.join(REQUIRED)}; {holds}. Build "
        "ta.Weights from its arrays in the paper's convention and save them (docs/files.md)",
    )


def read(path: Path, header: Header) -> dict:
    """The metadata of ``header``, checked, with JSON values parsed and ``n_ctx`` an int."""
    meta = header.metadata or {}
    if meta.get("format") != FORMAT:
        raise _foreign(path, header)
    if meta.get("format_version") != FORMAT_VERSION:
        raise WeightsFileError(
            path,
            f"has format version {meta.get('format_version')!r}: this version of tensoralgebra "
            f"reads version {FORMAT_VERSION!r} only",
        )
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        raise WeightsFileError(path, f"lacks the metadata {', '.join(missing)}")
    if meta["conventions"] != CONVENTIONS:
        raise WeightsFileError(
            path, f"states conventions {meta['conventions']!r}: expected {CONVENTIONS!r}"
        )
    parsed = dict(meta)
    for key, kind in (("architecture", dict), ("fields", dict), ("values", dict), ("n_ctx", int)):
        try:
            parsed[key] = json.loads(meta[key])
        except ValueError:
            parsed[key] = None
        if not isinstance(parsed[key], kind) or isinstance(parsed[key], bool):
            raise WeightsFileError(
                path, f"has metadata {key} = {meta[key]!r}: expected a JSON {kind.__name__}"
            )
    return parsed


def kinds_for(path: Path, meta: dict, cls: type) -> dict[str, str]:
    """The file's fields and their kinds, checked against the fields of ``cls``."""
    kinds, values = meta["fields"], meta["values"]
    bad = {name: kind for name, kind in kinds.items() if kind not in KINDS}
    if bad:
        raise WeightsFileError(path, f"has fields of unknown kinds {bad}: expected {KINDS}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(kinds) - set(known))
    if unknown:
        raise WeightsFileError(
            path, f"has fields {unknown} that {cls.__name__} does not have (a newer format?)"
        )
    needed = [
        name
        for name, f in known.items()
        if name not in kinds
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    valueless = [name for name, kind in kinds.items() if kind == "value" and name not in values]
    if needed or valueless:
        raise WeightsFileError(path, f"lacks the fields {needed + valueless} of {cls.__name__}")
    return kinds


def expected_names(path: Path, kinds: dict[str, str], meta: dict, header: Header) -> list[str]:
    """The tensors the fields call for, checked against those the header lists."""
    n_layers = meta["architecture"].get("n_layers")
    if not isinstance(n_layers, int) or isinstance(n_layers, bool) or n_layers < 0:
        raise WeightsFileError(path, f"has n_layers {n_layers!r} in its architecture metadata")
    layered = [name for name, kind in kinds.items() if kind == "layers"]
    if layered and n_layers > len(header.tensors):  # checked before listing n_layers names
        raise WeightsFileError(
            path, f"states {n_layers:,} layers but holds only {len(header.tensors)} tensors"
        )
    names = [name for name, kind in kinds.items() if kind == "tensor"]
    names += [tensor_name(name, layer) for layer in range(n_layers) for name in layered]
    missing = [name for name in names if name not in header.tensors]
    unexpected = sorted(set(header.tensors) - set(names))
    if missing:
        raise WeightsFileError(path, f"lacks the tensors {_listed(missing)}")
    if unexpected:
        raise WeightsFileError(path, f"holds unexpected tensors {_listed(unexpected)}")
    return names
