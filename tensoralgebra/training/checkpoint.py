"""Checkpoints of a training run: everything needed to continue it exactly, written atomically.

A checkpoint is a safetensors file (no pickle: nothing in it runs when it is read) holding the
model's parameters (``model.W_E``, ``model.layers.0.W_Q``, ...) and AdamW's state for each
(``adam.<name>.exp_avg``, ``adam.<name>.exp_avg_sq``, ``adam.<name>.step``), and as metadata the
run's :class:`~tensoralgebra.training.config.TrainConfig`, the number of steps done, the data's
metadata (its fingerprint) and the loss history so far. The learning-rate schedule is a function
of the step (:mod:`~tensoralgebra.training.schedule`), so the step is all of its state, and
batches are numbered by step (``TokenData.batch_for``), so the data needs none.

The file is written to a temporary file in the same folder, flushed to disk and renamed over the
target, so an interrupted write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from tensoralgebra.training.config import TrainConfig, TrainingError

#: What the ``format`` metadata of a checkpoint says.
FORMAT = "tensoralgebra.TrainingCheckpoint"
#: The layout's version; reading refuses any other.
FORMAT_VERSION = "1"
_ADAM = ("exp_avg", "exp_avg_sq", "step")


class CheckpointError(TrainingError):
    """A checkpoint that cannot be read, written, or resumed by this run: the message names the
    file and the difference."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path, self.problem = os.fspath(path), problem
        super().__init__(f"checkpoint {self.path}: {problem}")

    def __reduce__(self):
        return (type(self), (self.path, self.problem))


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back: the run's ``config``, the ``step`` it reached (steps done), the
    data's ``data`` metadata, the loss ``history`` (lists ``[step, loss, held_out]``), the
    ``pending`` losses of the steps since its last entry, and its ``tensors`` by name."""

    path: Path
    config: TrainConfig
    step: int
    data: dict[str, str]
    history: list
    pending: list
    tensors: dict[str, torch.Tensor]


def save_checkpoint(path, model, optimizer, config: TrainConfig, step: int, data, history, pending):
    """Write the checkpoint of ``model`` and ``optimizer`` after ``step`` steps to ``path``,
    atomically (temporary file in the same folder, fsync, rename); ``history`` the entries
    ``[step, loss, held_out]`` so far, ``pending`` the losses of the steps since the last."""
    path = Path(path)
    names = {id(p): name for name, p in model.named_parameters()}
    tensors = {f"model.{name}": p.detach().clone() for name, p in model.named_parameters()}
    for parameter, state in optimizer.state.items():
        for key in _ADAM:
            value = torch.as_tensor(state[key]).detach().clone()  # step: a scalar, kept [1]
            tensors[f"adam.{names[id(parameter)]}.{key}"] = (
                value.reshape(-1) if key == "step" else value
            )
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_json(),
        "step": str(step),
        "data": json.dumps(data, sort_keys=True),
        "history": json.dumps(history),
        "pending": json.dumps(pending),
    }
    _write_atomically(path, safetensors.torch.save(tensors, metadata=meta))


def _write_atomically(path: Path, content: bytes) -> None:
    if not path.parent.is_dir():
        raise CheckpointError(path, f"the folder {path.parent} does not exist")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise CheckpointError(path, f"cannot be written: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_checkpoint(path, max_bytes: int) -> Checkpoint:
    """The checkpoint at ``path``, its header checked before any tensor is read (a pickle or
    another kind of file is refused unopened, tensors over ``max_bytes`` refused)."""
    from tensoralgebra.io.errors import WeightsFileError
    from tensoralgebra.io.header import read_header

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file" if not path.exists() else "is not a file")
    try:
        meta = read_header(path, max_bytes).metadata or {}
    except WeightsFileError as error:
        raise CheckpointError(path, error.problem) from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"is not a training checkpoint of format {FORMAT!r} version {FORMAT_VERSION} (its "
            f"format is {meta.get('format')!r}; a saved model is not a checkpoint)",
        )
    try:
        config = TrainConfig.from_json(meta["config"])
        step, data = int(meta["step"]), json.loads(meta["data"])
        history, pending = json.loads(meta["history"]), json.loads(meta["pending"])
        tensors = safetensors.torch.load_file(path)
    except (KeyError, ValueError, safetensors.SafetensorError) as error:
        raise CheckpointError(path, f"has unreadable contents: {error}") from None
    return Checkpoint(path, config, step, data, history, pending, tensors)


def check_resumable(checkpoint: Checkpoint, config: TrainConfig, data: dict[str, str]) -> None:
    """Refuse ``checkpoint`` unless it is of a run with ``config``'s trajectory settings on the
    data of metadata ``data``, naming every difference."""
    differences = checkpoint.config.differences(config)
    theirs, ours = checkpoint.data.get("data_fingerprint"), data.get("data_fingerprint")
    if theirs != ours:
        differences.append(
            f"data {checkpoint.data.get('data')!r} (fingerprint {str(theirs)[:12]}) vs "
            f"{data.get('data')!r} (fingerprint {str(ours)[:12]})"
        )
    if differences:
        raise CheckpointError(
            checkpoint.path,
            "is of another run (checkpoint vs this run): " + "; ".join(differences),
        )
    if not 0 <= checkpoint.step <= config.steps:
        raise CheckpointError(
            checkpoint.path, f"is at step {checkpoint.step}, not 0..{config.steps}"
        )


def restore(checkpoint: Checkpoint, model, optimizer) -> None:
    """Load the checkpoint's parameters into ``model`` and its AdamW state into ``optimizer``
    (built for the same config: names and shapes are checked)."""
    tensors = checkpoint.tensors
    parameters = dict(model.named_parameters())
    expected = {f"model.{name}" for name in parameters}
    found = {name for name in tensors if name.startswith("model.")}
    if expected != found:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise CheckpointError(checkpoint.path, f"lacks {missing} and has unexpected {extra}")
    with torch.no_grad():
        for name, parameter in parameters.items():
            value = tensors[f"model.{name}"]
            if value.shape != parameter.shape or value.dtype != parameter.dtype:
                raise CheckpointError(
                    checkpoint.path,
                    f"holds {name} of shape {tuple(value.shape)} {value.dtype}, expected "
                    f"{tuple(parameter.shape)} {parameter.dtype}",
                )
            parameter.copy_(value)
    state = optimizer.state_dict()
    index = {name: i for i, (name, _) in enumerate(_ordered(model, optimizer))}
    state["state"] = {
        index[name]: {
            "step": tensors[f"adam.{name}.step"].reshape(()),
            "exp_avg": tensors[f"adam.{name}.exp_avg"],
            "exp_avg_sq": tensors[f"adam.{name}.exp_avg_sq"],
        }
        for name in index
        if f"adam.{name}.step" in tensors
    }
    optimizer.load_state_dict(state)


def _ordered(model, optimizer):
    """``(name, parameter)`` in the order the optimizer's state dict numbers them."""
    names = {id(p): name for name, p in model.named_parameters()}
    return [(names[id(p)], p) for group in optimizer.param_groups for p in group["params"]]
