"""The shipped models as the analyses find them: by name, and with the data they were trained on.

:mod:`tensoralgebra.models` sits above this room (its recipes train with
:mod:`tensoralgebra.training`, which reads the detectors), so this room never imports it; it only
knows, as data, that :data:`PROVIDER` loads a shipped model by name, and that module registers
its ``load`` with :func:`provide` when it is imported (the derivation room finds its renderers
the same way: docs/design.md, "Higher rooms register, lower rooms look up").

A model ``ta.models.load`` gave carries its ``name`` and ``dataset`` (the ``TokenData`` it was
trained on): :func:`held_out` and :func:`text_of` read them, so the ablation defaults to the
model's own held-out text and the tables to its decoding.

>>> import tensoralgebra as ta
>>> model = resolve("two-layer-induction")
>>> model.name, held_out(model, 8).shape, text_of(model.dataset)
('two-layer-induction', (8, 32), None)
>>> text = text_of(ta.models.dataset("one-layer-stdlib"))
>>> [text(t) for t in b"a\\n\\t\\xc3"]
['a', '\\\\n', '\\\\t', '\\\\xc3']
>>> resolve("gpt-2")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.models.ModelNotFoundError: no shipped model is named 'gpt-2': the shipped models ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from tensoralgebra import validation
from tensoralgebra.training.data.base import TokenData
from tensoralgebra.training.data.text import TextBytes

#: The module that loads shipped models by name (it calls :func:`provide` when imported).
PROVIDER = "tensoralgebra.models"
#: Held-out sequences the analyses read by default.
SEQUENCES = 64
_LOADER: list[Callable] = []


def provide(load: Callable) -> None:
    """Register ``load(name)``, the loader of shipped models."""
    _LOADER[:] = [load]


def resolve(model: object) -> object:
    """``model`` itself, or the shipped model it names (a ``str``: ``ta.models.names()``)."""
    if not isinstance(model, str):
        return model
    if not _LOADER:
        importlib.import_module(PROVIDER)
    return _LOADER[0](model)


def held_out(model: object, n: object = SEQUENCES) -> np.ndarray | None:
    """The first ``n`` held-out sequences [n, n_ctx] of the data ``model`` was trained on
    (``None`` for a model that does not know its data)."""
    data = getattr(model, "dataset", None)
    if data is None:
        return None
    return data.held_out(model.n_ctx, validation.positive_integer(n, "sequences"))


def text_of(data: object) -> Callable[[int], str] | None:
    """A dataset's text of one token: a byte as itself when printable ASCII, else escaped as
    Python writes it (``\\n``, ``\\xc3``: a byte of a multi-byte character means nothing alone);
    another dataset's ``decode`` of the one token; ``None`` for a dataset without text."""
    if isinstance(data, TextBytes):
        return _byte
    if not isinstance(data, TokenData) or type(data).decode is TokenData.decode:
        return None
    return lambda token: data.decode([int(token)])


def _byte(token: int) -> str:
    return repr(bytes([int(token)]))[2:-1]  # b'a' → a, b'\n' → \n, b'\xc3' → \xc3
