"""Recipes: named, frozen training runs, each a few minutes on one CPU core, whose results ship
with the package (:mod:`tensoralgebra.models`).

A :class:`Recipe` fixes everything of a run but its seed: the architecture, the sizes, the data
and its options, the steps, batch size, learning rate and schedule. :meth:`Recipe.train` runs it
and saves the model with, besides the trainer's record (config, data fingerprint, losses), the
recipe's name and definition, the seed and the whole loss curve (the mean training loss of every
``log_every`` steps), so that a retrain of the first steps can be compared with the record.

========================  =================================================================
recipe                    what it shows (Elhage et al., 2021; Olsson et al., 2022)
========================  =================================================================
``zero-layer-stdlib``     ``W_U W_E`` learns the bigram table of the standard library's bytes
``one-layer-stdlib``      attention heads add skip-trigrams and copying: a lower loss
``two-layer-stdlib``      two layers of heads on the same text
``two-layer-induction``   previous-token heads in layer 0 and induction heads in layer 1
========================  =================================================================

>>> recipe("two-layer-induction").architecture()
Architecture(heads=(2, 2), positional='standard')
>>> recipe("three-layer")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: no recipe is named 'three-layer': the recipes are ...
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError

#: The metadata a recipe's model adds to the trainer's record.
RECIPE_KEYS = ("recipe", "recipe_definition", "seed", "loss_curve", "training_seconds")


@dataclass(frozen=True)
class Recipe:
    """A training run but its seed. ``heads`` per layer (``()``: zero layers) with
    ``positional`` embeddings; the model's ``d_model``, ``d_head`` and ``n_ctx``; the dataset
    ``data`` (a name of :data:`tensoralgebra.training.data.DATASETS`) with ``data_options``
    (pairs, frozen); ``steps`` batches of ``batch_size`` sequences, AdamW at peak ``lr`` with
    ``weight_decay``, warm-up over ``warmup`` steps then cosine decay; ``seed``: the default
    seed; ``log_every``: the loss curve's step; ``eval_every``: the held-out loss's."""

    name: str
    shows: str
    heads: tuple[int, ...]
    positional: str | None
    data: str
    data_options: tuple[tuple[str, object], ...]
    d_model: int
    d_head: int
    n_ctx: int
    steps: int
    batch_size: int
    lr: float
    warmup: int
    weight_decay: float = 0.01
    seed: int = 0
    log_every: int = 10
    eval_every: int = 250

    def architecture(self) -> Architecture:
        """The recipe's attention-only architecture (no LayerNorm, no biases)."""
        return Architecture(self.heads, positional=self.positional)

    def dataset(self):
        """The recipe's dataset, built on this machine (a ``TokenData``)."""
        from tensoralgebra.training.data import dataset

        return dataset(self.data, **dict(self.data_options))

    def settings(self, seed: int | None = None) -> dict:
        """The keyword settings of :func:`~tensoralgebra.training.train` for a run seeded
        ``seed`` (default: the recipe's)."""
        return {
            "d_model": self.d_model,
            "d_head": self.d_head,
            "n_ctx": self.n_ctx,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "warmup": self.warmup,
            "weight_decay": self.weight_decay,
            "seed": self.seed if seed is None else validation.seed(seed),
            "log_every": self.log_every,
            "eval_every": self.eval_every,
        }

    def to_dict(self) -> dict:
        """The recipe as plain JSON values."""
        found = asdict(self)
        found["heads"], found["data_options"] = list(self.heads), dict(self.data_options)
        return found

    def train(self, seed: int | None = None, out=None, data=None, **watch):
        """Run the recipe seeded ``seed``; save the model to ``out`` (``.safetensors``) with
        the recipe's record (:data:`RECIPE_KEYS`) besides the trainer's. ``data``: the dataset
        if already built; ``watch``: the trainer's ``checkpoint``, ``resume``, ``log``,
        ``callback``, ``threads``, ``max_seconds``. Returns the trainer's ``TrainResult``."""
        from tensoralgebra.io import SUFFIX
        from tensoralgebra.training.config import TrainingError
        from tensoralgebra.training.trainer import train

        if out is not None:  # refused now, not after minutes of training
            out = Path(out)
            if out.suffix != SUFFIX or not out.parent.is_dir():
                raise TrainingError(
                    f"out {out}: expected a name ending in {SUFFIX} in an existing folder"
                )
            if watch.get("checkpoint") is None:  # Ctrl-C writes it beside the model, as train
                watch["checkpoint"] = out.with_name(
                    out.name[: -len(SUFFIX)] + ".checkpoint" + SUFFIX
                )
        data = self.dataset() if data is None else data
        begun = time.perf_counter()
        result = train(self.architecture(), data, **self.settings(seed), **watch)
        if out is not None:
            meta = {**result.metadata, **self.record(result, time.perf_counter() - begun)}
            result.weights.save(out, extra=meta)
        return result

    def record(self, result, seconds: float) -> dict[str, str]:
        """The recipe's metadata for the model of ``result`` (strings, as safetensors holds)."""
        curve = [[entry.step, entry.loss, entry.held_out] for entry in result.history]
        return {
            "recipe": self.name,
            "recipe_definition": json.dumps(self.to_dict(), sort_keys=True),
            "seed": str(result.config.seed),
            "loss_curve": json.dumps(curve),
            "training_seconds": f"{seconds:.1f}",
            **_machine(),
        }


class _EnoughError(Exception):
    """Stops a retrain once the asked-for steps are done."""


def retrain_curve(run: Recipe, seed: int, entries: int, data=None) -> list[list]:
    """The first ``entries`` points ``[step, loss]`` of the loss curve of ``run`` seeded
    ``seed``, by running only their ``entries * log_every`` steps of the full run (the schedule
    is the full run's): what the recorded curve's first points must be.

    >>> curve = retrain_curve(recipe("two-layer-induction"), seed=0, entries=2)
    >>> [step for step, _ in curve]
    [10, 20]
    """
    from tensoralgebra.training.trainer import train

    entries = validation.positive_integer(entries, "entries", maximum=run.steps // run.log_every)
    steps, losses = entries * run.log_every, []

    def collect(step: int, loss: float) -> None:
        losses.append(loss)
        if step == steps:
            raise _EnoughError

    data = run.dataset() if data is None else data
    with contextlib.suppress(_EnoughError):
        train(run.architecture(), data, callback=collect, **run.settings(seed))
    every = run.log_every
    # The trainer's own reduction (np.mean of the steps' float losses), so equal runs give
    # equal bits.
    return [
        [(k + 1) * every, float(np.mean(losses[k * every : (k + 1) * every]))]
        for k in range(entries)
    ]


def _machine() -> dict[str, str]:
    """What decides whether a retrain here is bit-identical to the recorded run."""
    import torch

    return {
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


_STDLIB = {"data": "stdlib", "data_options": (), "n_ctx": 64, "batch_size": 32}

#: Every recipe by name.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            name="zero-layer-stdlib",
            shows="bigram statistics: W_U W_E approximates the corpus's bigram log-probabilities",
            heads=(),
            positional=None,
            d_model=128,
            d_head=16,
            steps=1500,
            lr=1e-2,
            warmup=100,
            **_STDLIB,
        ),
        Recipe(
            name="one-layer-stdlib",
            shows="skip-trigrams and copying: attention lowers the loss below the bigrams'",
            heads=(4,),
            positional="standard",
            d_model=128,
            d_head=32,
            steps=2000,
            lr=3e-3,
            warmup=200,
            **_STDLIB,
        ),
        Recipe(
            name="two-layer-stdlib",
            shows="two layers of heads on the same text",
            heads=(4, 4),
            positional="standard",
            d_model=128,
            d_head=32,
            steps=2000,
            lr=3e-3,
            warmup=200,
            **_STDLIB,
        ),
        Recipe(
            name="two-layer-induction",
            shows="induction heads: a previous-token head in layer 0, an induction head in layer 1",
            heads=(2, 2),
            positional="standard",
            data="synthetic-induction",
            data_options=(("d_vocab", 64),),
            d_model=64,
            d_head=16,
            n_ctx=32,
            steps=4000,
            batch_size=32,
            lr=3e-3,
            warmup=400,
        ),
    )
}


def recipe(name: object) -> Recipe:
    """The recipe named ``name``; an unknown name is refused, listing the recipes."""
    if not isinstance(name, str) or name not in RECIPES:
        raise TensorAlgebraError(
            f"no recipe is named {name!r}: the recipes are {', '.join(RECIPES)}"
        )
    return RECIPES[name]
