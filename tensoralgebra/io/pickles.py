"""Recognising files that are not safetensors from their first bytes, without running them.

A pickle (what ``torch.save``, ``pickle.dump`` and many ``.pt``, ``.pth``, ``.pkl`` and ``.bin``
files hold) is a program: unpickling it calls whatever functions it names. So a pickle is
recognised by its opcodes and refused, never opened; torch's own format is a zip archive whose
``data.pkl`` is such a pickle, recognised from the archive's list of names alone.

>>> import pickle
>>> data = pickle.dumps({"W_E": [1.0]}, protocol=2)
>>> print(describe(None, data[:16], data[-1:]))
a pickle (protocol 2): pickles run code when they are loaded, so tensoralgebra never opens them
>>> describe(None, b"hello world", b"d") is None
True
"""

from __future__ import annotations

import zipfile
from pathlib import Path

#: How to convert a pickled checkpoint, once, in a process that trusts it.
CONVERT = (
    "to convert a checkpoint you trust: state = torch.load(path, weights_only=True); build "
    "ta.Weights from its arrays in the paper's convention (W_E [d_model, d_vocab], ...); "
    "save them with tensoralgebra.io.save_weights(weights, 'model.safetensors') "
    "(docs/files.md shows it whole)"
)
#: Why pickles are refused.
WHY = "pickles run code when they are loaded, so tensoralgebra never opens them"

_ZIP = b"PK\x03\x04"
# Opcodes a protocol 0 or 1 pickle starts with: MARK, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, GLOBAL,
# NONE, ... A pickle ends with STOP ('.'), which makes the pair a reliable sign.
_OLD_PICKLE_OPENERS = b"(}])cNKIJFSVXUl"


def _zip_names(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()  # the central directory only: nothing is extracted
    except (zipfile.BadZipFile, ValueError, OSError):
        return None


def describe(path: Path | None, head: bytes, tail: bytes) -> str | None:
    """What the file at ``path`` whose first bytes are ``head`` and last byte ``tail`` is, if it
    is a pickle or a zip archive, else ``None``. A zip's names are read from ``path``."""
    if head.startswith(_ZIP):
        names = _zip_names(path)
        if names is not None and any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return f"a torch checkpoint (a zip archive holding a pickle, data.pkl): {WHY}"
        return "a zip archive, not a safetensors file"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"a pickle (protocol {head[1]}): {WHY}"
    if head[:1] and head[0] in _OLD_PICKLE_OPENERS and tail[-1:] == b".":
        return f"a pickle (protocol 0 or 1): {WHY}"
    return None
