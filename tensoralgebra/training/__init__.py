"""Training attention-only transformers on data that needs no network.

``tensoralgebra.training.data`` holds the token datasets (synthetic tasks with a known ground
truth, and text read from the machine's own files) behind one interface,
:class:`~tensoralgebra.training.data.base.TokenData`. :func:`train` trains the package's own
:class:`~tensoralgebra.AttentionOnlyTransformer` of any architecture on one
(docs/training.md): AdamW with warm-up and cosine decay, deterministic on CPU, checkpoints that
resume bit for bit, the trained weights saved with their training record.

The names below are imported on first use, so reading a dataset does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: Public name → the submodule that defines it.
_LAZY = {
    "train": "trainer",
    "TrainResult": "trainer",
    "TrainingInterrupted": "trainer",
    "TrainConfig": "config",
    "TrainingError": "config",
    "CheckpointError": "checkpoint",
    "read_checkpoint": "checkpoint",
    "LogEntry": "records",
    "read_training_metadata": "records",
    "learning_rate": "schedule",
}

__all__ = [
    "CheckpointError",
    "LogEntry",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "TrainingInterrupted",
    "learning_rate",
    "read_checkpoint",
    "read_training_metadata",
    "train",
]

if TYPE_CHECKING:
    from tensoralgebra.training.checkpoint import CheckpointError, read_checkpoint
    from tensoralgebra.training.config import TrainConfig, TrainingError
    from tensoralgebra.training.records import LogEntry, read_training_metadata
    from tensoralgebra.training.schedule import learning_rate
    from tensoralgebra.training.trainer import TrainingInterrupted, TrainResult, train


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
