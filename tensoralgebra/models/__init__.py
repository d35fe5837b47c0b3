"""The trained models that ship with the package: one per recipe of
:mod:`tensoralgebra.training.recipes`, trained here on a CPU in minutes (docs/training.md,
"Shipped models").

Each is a ``.safetensors`` file beside this module holding the weights and their record: the
recipe and seed, the training config, the data's fingerprint, the held-out loss and the loss
curve. :func:`load` gives the model, :func:`dataset` the data it was trained on (its ``decode``
turns tokens into text for the text models), :func:`info` the record. A loaded model knows what
it was trained on, read from its file's metadata (``recipe``): its ``name`` and ``dataset``,
which the analyses of :mod:`tensoralgebra.circuits` read by default (:func:`mark`).

>>> names()
['zero-layer-stdlib', 'one-layer-stdlib', 'two-layer-stdlib', 'two-layer-induction']
>>> model = load("two-layer-induction")
>>> model.weights.architecture, model.weights.d_vocab, model.weights.n_ctx
(Architecture(heads=(2, 2), positional='standard'), 64, 32)
>>> model.name, model.dataset.name
('two-layer-induction', 'synthetic-induction')
>>> info("two-layer-induction")["held_out_loss"] < 2.0
True
>>> load("gpt-2")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.models.ModelNotFoundError: no shipped model is named 'gpt-2': the shipped models \
are zero-layer-stdlib, one-layer-stdlib, two-layer-stdlib, two-layer-induction
"""

from __future__ import annotations

import json
from pathlib import Path

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.training.recipes import RECIPES, Recipe

__all__ = [
    "ModelNotFoundError",
    "dataset",
    "info",
    "load",
    "mark",
    "names",
    "path",
    "recipe_in",
    "recipe_of",
]

#: The folder of the shipped files (package data).
FOLDER = Path(__file__).parent


class ModelNotFoundError(TensorAlgebraError):
    """A shipped model asked for that does not exist, or whose file is missing."""


def names() -> list[str]:
    """The shipped models' names: one per recipe, in the recipes' order."""
    return list(RECIPES)


def recipe_of(name: object) -> Recipe:
    """The recipe the shipped model ``name`` was trained by."""
    if not isinstance(name, str) or name not in RECIPES:
        raise ModelNotFoundError(
            f"no shipped model is named {name!r}: the shipped models are {', '.join(names())}"
        )
    return RECIPES[name]


def path(name: object) -> Path:
    """The file of the shipped model ``name``; a file missing from the install is refused,
    saying how to make it."""
    recipe = recipe_of(name)
    found = FOLDER / f"{recipe.name}.safetensors"
    if not found.is_file():
        raise ModelNotFoundError(
            f"the shipped model {recipe.name!r} has no file {found} in this install (a package "
            "built without its data files?): reinstall tensoralgebra, or make it with "
            f"`tensoralgebra train --recipe {recipe.name} --out {found.name}` and load that file"
        )
    return found


def load(name: object, *, device: str = "cpu"):
    """The shipped model ``name`` as an :class:`~tensoralgebra.AttentionOnlyTransformer` (its
    weights float32, as trained), its ``name`` and ``dataset`` set (:func:`mark`)."""
    from tensoralgebra.io import load_weights
    from tensoralgebra.numeric.model import AttentionOnlyTransformer

    found = path(name)
    return mark(AttentionOnlyTransformer(load_weights(found), device=device), found)


def recipe_in(file) -> Recipe | None:
    """The recipe that trained the model saved in ``file``, as its metadata's ``recipe`` names
    it; ``None`` for a file no recipe made (or one of a recipe this version does not have)."""
    from tensoralgebra.io.header import read_header
    from tensoralgebra.numeric.budget import MEMORY_BUDGET

    meta = read_header(Path(file), MEMORY_BUDGET).metadata or {}
    recipe = RECIPES.get(meta.get("recipe"))
    # The recipe's data must be the data the file records, or its held-out set is not the model's.
    return recipe if recipe is not None and meta.get("data") == recipe.data else None


def mark(model, file):
    """Set ``model.name`` and ``model.dataset`` (an :class:`~tensoralgebra.AttentionOnlyTransformer`
    loaded from ``file``) from the recipe its file names (:func:`recipe_in`); a file no recipe
    made leaves them ``None``. Returns ``model``."""
    recipe = recipe_in(file)
    if recipe is not None:
        model.name, model.dataset = recipe.name, recipe.dataset()
    return model


def _provide() -> None:
    """Let :mod:`tensoralgebra.circuits`, a room below this one, load shipped models by name."""
    from tensoralgebra.circuits import shipped

    shipped.provide(load)


def info(name: object) -> dict:
    """The record of the shipped model ``name``: ``recipe``, ``seed``, ``architecture``,
    ``data``, ``data_fingerprint``, ``config`` (the ``TrainConfig``), ``train_loss``,
    ``held_out_loss``, ``loss_curve`` (``[step, loss, held_out]`` lists), ``training_seconds``,
    ``bytes`` (the file's size), and the ``torch_version`` and ``cpu_capability`` it was
    trained with."""
    from tensoralgebra.io.header import read_header
    from tensoralgebra.numeric.budget import MEMORY_BUDGET
    from tensoralgebra.training.records import read_training_metadata

    found = path(name)
    record = read_training_metadata(found)
    meta = read_header(found, MEMORY_BUDGET).metadata or {}
    return {
        **record,
        "recipe": meta["recipe"],
        "seed": int(meta["seed"]),
        "architecture": record["config"].architecture,
        "loss_curve": json.loads(meta["loss_curve"]),
        "training_seconds": float(meta["training_seconds"]),
        "torch_version": meta["torch_version"],
        "cpu_capability": meta["cpu_capability"],
        "bytes": found.stat().st_size,
    }


def dataset(name: object):
    """The dataset the shipped model ``name`` was trained on, built on this machine (a
    ``TokenData``; the standard library's text is this Python's: compare its
    ``fingerprint()`` with ``info(name)["data_fingerprint"]``)."""
    return recipe_of(name).dataset()


_provide()
