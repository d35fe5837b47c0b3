"""What a training run is: :class:`TrainConfig`, every setting checked when it is built.

The settings split in two. Those in :data:`TRAJECTORY` decide every number the run computes
(the model, its sizes, the optimizer, the schedule, the seed): a run resumed from a checkpoint
must have the same, or it would not be the run it continues. The others only say how the run is
watched and bounded (logging, evaluation, checkpoints, threads, limits) and may change on resume.

>>> import tensoralgebra as ta
>>> config = TrainConfig(ta.Architecture(heads=(2,)), d_model=16, d_head=4, n_ctx=8, steps=50)
>>> config.warmup, config.dtype, config.batch_size
(5, 'float32', 32)
>>> TrainConfig.from_json(config.to_json()) == config
True
>>> TrainConfig(ta.Architecture(heads=(2,)), steps=0)
Traceback (most recent call last):
  ...
tensoralgebra.training.config.TrainingError: steps is 0: expected a positive integer (a size of \
at least 1)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from tensoralgebra import validation
from tensoralgebra.architecture import Architecture
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.budget import MEMORY_BUDGET

#: Torch threads used by default: for models of the sizes trained here (d_model ≤ 128), one
#: thread was as fast as two on a 2-core machine (docs/training.md), and leaves a core free.
DEFAULT_THREADS = 1
#: The most steps a run may ask for.
MAX_STEPS = 10**8
#: The settings that decide the run's numbers: equal in a run and the checkpoint it resumes.
TRAJECTORY = (
    "architecture",
    "d_model",
    "d_head",
    "n_ctx",
    "steps",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup",
    "grad_clip",
    "seed",
    "dtype",
)


class TrainingError(TensorAlgebraError):
    """A training run refused: a bad setting, data that cannot serve it, a checkpoint that does
    not belong to it."""


def _positive(value, name, maximum=None):
    return validation.positive_integer(value, name, maximum=maximum, error=TrainingError)


def _optional_positive(value, name):
    return None if value is None else _positive(value, name)


@dataclass(frozen=True)
class TrainConfig:
    """The settings of a run (validated on construction; ``warmup=None``: a tenth of the steps).

    The model is the package's :class:`~tensoralgebra.AttentionOnlyTransformer` of
    ``architecture`` (concrete) with ``d_model``, ``d_head`` and ``n_ctx``, its vocabulary the
    data's. AdamW with ``lr``, ``weight_decay`` (on matrices only, not on biases and LayerNorm
    weights), linear warm-up over ``warmup`` steps then cosine decay to a tenth of ``lr``,
    gradients clipped to norm ``grad_clip`` (``None``: unclipped); ``steps`` batches of
    ``batch_size`` sequences of ``n_ctx`` tokens; weights drawn and batches numbered with
    ``seed``. Training loss is logged every ``log_every`` steps, the held-out loss (on
    ``eval_sequences`` sequences) every ``eval_every`` steps and at the end; a checkpoint is
    written every ``checkpoint_every`` steps (``None``: only on an interrupt). ``threads``: torch
    threads. ``max_seconds``: refuse a run projected to take longer, and stop one that does;
    ``max_bytes``: refuse a run whose parameters and activations would take more.
    """

    architecture: Architecture
    d_model: int = 64
    d_head: int = 16
    n_ctx: int = 64
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int | None = None
    grad_clip: float | None = 1.0
    seed: int = 0
    dtype: str = "float32"
    log_every: int = 10
    eval_every: int | None = None
    eval_sequences: int = 64
    checkpoint_every: int | None = None
    threads: int = DEFAULT_THREADS
    max_seconds: float | None = None
    max_bytes: int = MEMORY_BUDGET

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        arch = self.architecture
        if not isinstance(arch, Architecture) or arch.is_schematic:
            raise TrainingError(f"training needs a concrete Architecture, got {arch!r}")
        for name in ("d_model", "d_head", "n_ctx", "batch_size", "eval_sequences", "max_bytes"):
            set_(self, name, _positive(getattr(self, name), name))
        if self.n_ctx < 2:
            raise TrainingError(
                f"n_ctx is {self.n_ctx}: a next-token loss needs sequences of at least 2 tokens"
            )
        for name in ("log_every", "threads"):
            set_(self, name, _positive(getattr(self, name), name))
        steps = _positive(self.steps, "steps", MAX_STEPS)
        set_(self, "steps", steps)
        warmup = steps // 10 if self.warmup is None else self.warmup
        warmup = validation.integer(
            warmup,
            "warmup",
            low=0,
            high=steps + 1,
            context=f"expected 0..{steps} (at most the {steps} steps)",
            error=TrainingError,
        )
        set_(self, "warmup", warmup)
        set_(self, "lr", validation.positive_number(self.lr, "lr", error=TrainingError))
        decay = validation.non_negative_number(
            self.weight_decay, "weight_decay", error=TrainingError
        )
        set_(self, "weight_decay", decay)
        if self.grad_clip is not None:
            clip = validation.positive_number(self.grad_clip, "grad_clip", error=TrainingError)
            set_(self, "grad_clip", clip)
        set_(self, "seed", validation.seed(self.seed, error=TrainingError))
        validation.choice(self.dtype, "dtype", ("float32", "float64"), error=TrainingError)
        for name in ("eval_every", "checkpoint_every"):
            set_(self, name, _optional_positive(getattr(self, name), name))
        if self.max_seconds is not None:
            limit = validation.positive_number(self.max_seconds, "max_seconds", error=TrainingError)
            set_(self, "max_seconds", limit)

    def to_dict(self) -> dict:
        """The settings as plain JSON values (the architecture as ``Architecture.to_dict()``)."""
        settings = dataclasses.asdict(self)
        settings["architecture"] = self.architecture.to_dict()
        return settings

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON, keys sorted."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, settings: dict) -> TrainConfig:
        """The config :meth:`to_dict` gave; unknown or missing keys refused."""
        if not isinstance(settings, dict) or not isinstance(settings.get("architecture"), dict):
            raise TrainingError(
                f"a training config must be a dict with an architecture, got {settings!r}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TrainingError(f"a training config has unknown settings {unknown}")
        arch = settings["architecture"]
        try:
            architecture = Architecture(
                heads=tuple(arch["heads"]),
                positional=arch.get("positional"),
                normalization=arch.get("normalization"),
                biases=arch.get("biases", False),
            )
        except (KeyError, TypeError) as error:
            raise TrainingError(
                f"a training config has an unreadable architecture {arch!r}: {error}"
            ) from None
        return cls(**{**settings, "architecture": architecture})

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """The config :meth:`to_json` wrote."""
        try:
            settings = json.loads(text)
        except ValueError:
            raise TrainingError(f"a training config is not JSON: {text[:80]!r}") from None
        return cls.from_dict(settings)

    def differences(self, other: TrainConfig) -> list[str]:
        """The :data:`TRAJECTORY` settings on which ``other`` differs from this config, each as
        ``"name: this vs other"``."""
        return [
            f"{name} {getattr(self, name)!r} vs {getattr(other, name)!r}"
            for name in TRAJECTORY
            if getattr(self, name) != getattr(other, name)
        ]
