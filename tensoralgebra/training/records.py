"""What a training run records: its loss history, a log file of it, and the metadata of the
model it saves.

The history is a list of :class:`LogEntry` ``(step, loss, held_out)``: ``step`` steps done,
``loss`` the mean training loss (nats per token) over the steps since the previous entry,
``held_out`` the loss on the data's held-out sequences where it was measured (else ``None``).
A log file ending in ``.jsonl`` gets one JSON object per entry, one ending in ``.csv`` a header
and one row per entry.

The saved model's metadata (:func:`model_metadata`) adds to the weights file's own keys the
run's config (``training_config``, JSON), the data's metadata (``data``, ``data_fingerprint``,
``data_definition``), and the final ``train_loss`` and ``held_out_loss``;
:func:`read_training_metadata` reads them back.

>>> entry = LogEntry(step=10, loss=2.5, held_out=None)
>>> json_line(entry), csv_line(entry)
('{"step": 10, "loss": 2.5, "held_out": null}', '10,2.5,')
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from tensoralgebra.training.config import TrainConfig, TrainingError

#: The metadata keys of a trained model besides the data's own.
TRAINING_KEYS = ("training_config", "train_loss", "held_out_loss")
#: The log file formats, by the file's ending.
LOG_SUFFIXES = (".jsonl", ".csv")


class LogEntry(NamedTuple):
    """One point of the loss history: steps done, mean training loss since the previous entry,
    held-out loss (``None`` where it was not measured)."""

    step: int
    loss: float
    held_out: float | None


def json_line(entry: LogEntry) -> str:
    """``entry`` as one line of JSON."""
    return json.dumps(entry._asdict())


def csv_line(entry: LogEntry) -> str:
    """``entry`` as one CSV row (an empty field for no held-out loss)."""
    return ",".join("" if value is None else repr(value) for value in entry)


def check_log_path(path) -> Path | None:
    """``path`` as a ``Path`` if it can take a log (a known ending, an existing folder)."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix not in LOG_SUFFIXES:
        raise TrainingError(
            f"log file {path}: expected a name ending in {' or '.join(LOG_SUFFIXES)}, "
            f"got {path.suffix!r}"
        )
    if not path.parent.is_dir():
        raise TrainingError(f"log file {path}: the folder {path.parent} does not exist")
    return path


class LogFile:
    """A log file written entry by entry (flushed, so a stopped run leaves what it logged)."""

    def __init__(self, path: Path | None, earlier: list[LogEntry]):
        self.path, self.file = path, None
        if path is not None:
            self.file = path.open("w", encoding="utf-8")
            if path.suffix == ".csv":
                self.file.write("step,loss,held_out\n")
            for entry in earlier:
                self.write(entry)

    def write(self, entry: LogEntry) -> None:
        if self.file is not None:
            line = csv_line(entry) if self.path.suffix == ".csv" else json_line(entry)
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def model_metadata(config: TrainConfig, data: dict[str, str], train: float, held_out: float):
    """The metadata a trained model is saved with (strings, as safetensors holds)."""
    return {
        "training_config": config.to_json(),
        **data,
        "train_loss": repr(train),
        "held_out_loss": repr(held_out),
    }


def read_training_metadata(path: str | os.PathLike, max_bytes: int | None = None) -> dict:
    """The training record of the model saved at ``path``: ``config`` (a
    :class:`~tensoralgebra.training.config.TrainConfig`), ``train_loss`` and ``held_out_loss``
    (floats), and the data's ``data``, ``data_fingerprint`` and ``data_definition`` (strings).
    Refused: a file that is not a model saved by :func:`~tensoralgebra.training.train`."""
    from tensoralgebra.io.header import read_header
    from tensoralgebra.numeric.budget import MEMORY_BUDGET

    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no such file")
    meta = read_header(path, max_bytes or MEMORY_BUDGET).metadata or {}
    missing = [key for key in (*TRAINING_KEYS, "data_fingerprint") if key not in meta]
    if missing:
        raise TrainingError(f"{path}: not a trained model: its metadata lacks {missing}")
    record = {key: meta[key] for key in ("data", "data_fingerprint", "data_definition")}
    return {
        **record,
        "config": TrainConfig.from_json(meta["training_config"]),
        "train_loss": float(meta["train_loss"]),
        "held_out_loss": float(meta["held_out_loss"]),
    }
