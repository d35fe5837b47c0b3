"""Training an attention-only transformer of any architecture on a :class:`TokenData`.

:func:`train` draws the package's own :class:`~tensoralgebra.AttentionOnlyTransformer` with
``Weights.random(..., seed=seed)`` and trains every parameter it has (embeddings, heads, and
biases and LayerNorm weights when the architecture has them) on next-token cross-entropy with
plain torch: AdamW, linear warm-up then cosine decay (:mod:`.schedule`), gradient clipping.
Batch ``s`` is ``data.batch_for(seed, s, batch_size, n_ctx)``, so a run is a function of its
config and data: on CPU, with the same number of threads, two runs give bit-identical weights
(deterministic algorithms are switched on for the run), and so does a run resumed from a
checkpoint.

Ctrl-C stops the run between two steps: a checkpoint is written (atomically) and
:class:`TrainingInterrupted` raised, naming it; ``resume=`` continues from it.

>>> import numpy as np, tensoralgebra as ta
>>> from tensoralgebra.training.data import TokenData
>>> class Counting(TokenData):
...     name, d_vocab = "counting", 7
...     def batch(self, rng, batch_size, n_ctx):
...         start = rng.integers(0, self.d_vocab, size=(batch_size, 1))
...         return (start + np.arange(n_ctx)) % self.d_vocab
...     def held_out(self, n_ctx, n_sequences):
...         return (np.arange(self.d_vocab)[:, None] + np.arange(n_ctx)) % self.d_vocab
...     def definition(self):
...         return {"rule": "t[i+1] = t[i] + 1 mod 7"}
>>> result = train(ta.Architecture(heads=()), Counting(), d_model=16, n_ctx=8, steps=60,
...                batch_size=8, lr=0.01)
>>> result.history[0].step, bool(result.held_out_loss < 0.2 < np.log(7) < result.history[0].loss)
(10, True)
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.model import AttentionOnlyTransformer
from tensoralgebra.numeric.weights import Weights
from tensoralgebra.progress import progress
from tensoralgebra.training import checkpoint as checkpoints
from tensoralgebra.training import limits, records
from tensoralgebra.training.config import TrainConfig, TrainingError
from tensoralgebra.training.data.base import TokenData
from tensoralgebra.training.records import LogEntry
from tensoralgebra.training.schedule import learning_rate

#: Steps timed before a run is projected against ``max_seconds``.
PROBE_STEPS = 3


class TrainingInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (or ``KeyboardInterrupt`` from a callback) after ``step`` steps;
    its state is in ``checkpoint`` (``None`` when the run had nowhere to write one)."""

    def __init__(self, step: int, checkpoint: Path | None):
        self.step, self.checkpoint = step, checkpoint
        where = f"checkpoint written to {checkpoint}" if checkpoint else "no checkpoint path"
        super().__init__(f"training interrupted after {step} steps; {where}")


@dataclass(frozen=True)
class TrainResult:
    """A finished run: the trained ``weights``, its ``config``, the loss ``history``
    (:class:`~tensoralgebra.training.records.LogEntry` list), the final ``train_loss`` (mean
    over the last logged steps) and ``held_out_loss``, the file written (``out``) and its
    ``metadata``, and the pace of this session (``seconds``, ``tokens_per_second``)."""

    weights: Weights
    config: TrainConfig
    history: list[LogEntry]
    train_loss: float
    held_out_loss: float
    out: Path | None
    metadata: dict[str, str]
    seconds: float
    tokens_per_second: float


def train(
    architecture,
    data: TokenData,
    *,
    out=None,
    checkpoint=None,
    resume=None,
    log=None,
    callback=None,
    **settings,
) -> TrainResult:
    """Train a model of ``architecture`` on ``data``; ``settings`` are those of
    :class:`~tensoralgebra.training.config.TrainConfig` (``d_model``, ``d_head``, ``n_ctx``,
    ``steps``, ``batch_size``, ``lr``, ``weight_decay``, ``warmup``, ``grad_clip``, ``seed``,
    ``dtype``, ``log_every``, ``eval_every``, ``checkpoint_every``, ``threads``,
    ``max_seconds``, ``max_bytes``).

    ``out``: save the trained weights there (``.safetensors``) with the training record in the
    metadata (:func:`~tensoralgebra.training.records.read_training_metadata`). ``checkpoint``:
    where checkpoints go (default: beside ``out``, ``NAME.checkpoint.safetensors``).
    ``resume``: a checkpoint of this same run to continue. ``log``: a ``.jsonl`` or ``.csv``
    file of the loss history. ``callback(step, loss)``: called after every step (``step`` steps
    done); a ``KeyboardInterrupt`` it raises stops the run as Ctrl-C does.

    Refused before any step: bad settings, data that cannot give the sequences (the dataset's
    own error), a run over ``max_bytes``, paths that cannot be written, a checkpoint of another
    run. Raises :class:`TrainingInterrupted` on Ctrl-C, after writing a checkpoint.
    """
    config = TrainConfig(architecture, **settings)
    if not isinstance(data, TokenData):
        raise TrainingError(f"data must be a TokenData, got {type(data).__name__}")
    out, checkpoint = _paths(out, checkpoint, config)
    log = records.check_log_path(log)
    limits.check_memory(config, data.d_vocab)
    with _deterministic(config.threads):
        run = _Run(config, data, checkpoint, callback)
        if resume is not None:
            run.resume(resume)
        return run.finish(run.loop(log), out)


def _paths(out, checkpoint, config: TrainConfig) -> tuple[Path | None, Path | None]:
    """``out`` and the checkpoint path, checked to be writable names before any work."""
    from tensoralgebra.io import SUFFIX

    paths = []
    for name, path in (("out", out), ("checkpoint", checkpoint)):
        if path is not None:
            path = Path(path)
            if path.suffix != SUFFIX:
                raise TrainingError(f"{name} {path}: expected a name ending in {SUFFIX}")
            if not path.parent.is_dir():
                raise TrainingError(f"{name} {path}: the folder {path.parent} does not exist")
        paths.append(path)
    out, checkpoint = paths
    if checkpoint is None and out is not None:
        checkpoint = out.with_name(out.name[: -len(SUFFIX)] + ".checkpoint" + SUFFIX)
    if config.checkpoint_every is not None and checkpoint is None:
        raise TrainingError("checkpoint_every needs a checkpoint path (or out, to put it beside)")
    return out, checkpoint


@contextmanager
def _deterministic(threads: int):
    """Torch with ``threads`` threads and deterministic algorithms, as before afterwards."""
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


@contextmanager
def _deferred_interrupt():
    """Ctrl-C sets a flag read between steps, so a step is never cut in half (main thread
    only: signals are delivered there)."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.set())
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


class _Run:
    """The state of a run: the model, its optimizer, the step reached and the history."""

    def __init__(self, config: TrainConfig, data: TokenData, checkpoint, callback):
        self.config, self.data, self.checkpoint, self.callback = config, data, checkpoint, callback
        self.data_meta = data.metadata()
        self.held_out = self._sequences(
            "held_out", lambda: data.held_out(config.n_ctx, config.eval_sequences), None
        )
        self._batch(0)  # a dataset that cannot serve n_ctx refuses before any weight is drawn
        weights = Weights.random(
            config.architecture,
            d_model=config.d_model,
            d_head=config.d_head,
            d_vocab=data.d_vocab,
            n_ctx=config.n_ctx,
            seed=config.seed,
            dtype=config.dtype,
            max_bytes=config.max_bytes,
        )
        self.model = AttentionOnlyTransformer(weights).requires_grad_(True)
        self.optimizer = _optimizer(self.model, config)
        self.step, self.history, self.pending = 0, [], []

    def resume(self, path) -> None:
        found = checkpoints.read_checkpoint(path, self.config.max_bytes)
        checkpoints.check_resumable(found, self.config, self.data_meta)
        checkpoints.restore(found, self.model, self.optimizer)
        self.step = found.step
        self.history = [LogEntry(*entry) for entry in found.history]
        self.pending = [float(loss) for loss in found.pending]

    def _sequences(self, what: str, draw, rows: int | None) -> np.ndarray:
        """Sequences from the dataset, checked: integers in ``0..d_vocab - 1``, [rows, n_ctx]."""
        try:
            tokens = np.asarray(draw())
        except TensorAlgebraError:
            raise
        except (ValueError, IndexError) as error:
            raise TrainingError(
                f"the dataset {self.data.name!r} failed to give {what}: {error}"
            ) from None
        n_ctx, d_vocab = self.config.n_ctx, self.data.d_vocab
        if (
            tokens.ndim != 2
            or tokens.shape[1] != n_ctx
            or tokens.shape[0] < 1
            or (rows is not None and tokens.shape[0] != rows)
            or not np.issubdtype(tokens.dtype, np.integer)
            or tokens.min() < 0
            or tokens.max() >= d_vocab
        ):
            raise TrainingError(
                f"the dataset {self.data.name!r} gave {what} of shape {tokens.shape} and dtype "
                f"{tokens.dtype}: expected integers in 0..{d_vocab - 1} of shape "
                f"({rows or 'n'}, {n_ctx})"
            )
        return tokens.astype(np.int64)

    def _batch(self, step: int) -> torch.Tensor:
        config = self.config
        tokens = self._sequences(
            f"batch {step}",
            lambda: self.data.batch_for(config.seed, step, config.batch_size, config.n_ctx),
            config.batch_size,
        )
        return torch.from_numpy(tokens)

    def _loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of ``tokens`` [batch, n_ctx] (nats per token)."""
        logits = self.model.logits(tokens)[:, :-1]
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1)
        )

    def train_step(self) -> float:
        config = self.config
        rate = learning_rate(self.step, peak=config.lr, warmup=config.warmup, steps=config.steps)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        loss = self._loss(self._batch(self.step))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.optimizer.step()
        self.step += 1
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingError(
                f"the training loss is {value} at step {self.step}: lower lr (now {config.lr:g}) "
                "or set grad_clip"
            )
        return value

    @torch.no_grad()
    def held_out_loss(self) -> float:
        """Mean loss over the held-out sequences, in chunks of ``batch_size``."""
        tokens, chunk = torch.from_numpy(self.held_out), self.config.batch_size
        total = 0.0
        for start in range(0, len(tokens), chunk):
            part = tokens[start : start + chunk]
            total += self._loss(part).item() * len(part)
        return total / len(tokens)

    def record(self, loss: float, log: records.LogFile) -> None:
        """Note a step's loss; at a logging, evaluation or last step add a history entry."""
        config, step = self.config, self.step
        self.pending.append(loss)
        last = step == config.steps
        evaluate = last or (config.eval_every is not None and step % config.eval_every == 0)
        if not (evaluate or step % config.log_every == 0):
            return
        entry = LogEntry(step, float(np.mean(self.pending)), None)
        if evaluate:
            entry = entry._replace(held_out=self.held_out_loss())
        self.pending = []
        self.history.append(entry)
        log.write(entry)

    def save_checkpoint(self) -> None:
        checkpoints.save_checkpoint(
            self.checkpoint,
            self.model,
            self.optimizer,
            self.config,
            self.step,
            self.data_meta,
            [list(entry) for entry in self.history],
            self.pending,
        )

    def loop(self, log_path) -> tuple[float, int]:
        """Train from the step reached to the last; the seconds this took and the steps."""
        log = records.LogFile(log_path, self.history)
        start, begun = self.step, time.perf_counter()
        bar = progress(self.config.steps, "training", unit="step")
        bar.update(start)
        try:
            with bar, _deferred_interrupt() as pressed:
                while self.step < self.config.steps:
                    loss = self.train_step()
                    self.record(loss, log)
                    self._watch(bar, loss, start, begun)
                    if self.callback is not None:
                        self.callback(self.step, loss)
                    if pressed.is_set():
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            self._interrupted()
        finally:
            log.close()
        return time.perf_counter() - begun, self.step - start

    def _watch(self, bar, loss: float, start: int, begun: float) -> None:
        """Update the bar; stop a run projected or found over ``max_seconds``."""
        config, done = self.config, self.step - start
        seconds = time.perf_counter() - begun
        bar.update(1)
        rate = done * config.batch_size * config.n_ctx / max(seconds, 1e-9)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{rate:,.0f}", refresh=False)
        if config.max_seconds is None:
            return
        if done <= PROBE_STEPS and seconds / done * (config.steps - start) > config.max_seconds:
            raise limits.time_refusal(config, done, seconds)
        if seconds > config.max_seconds:
            where = self._save_if_possible()
            raise TrainingError(
                f"training stopped after {self.step} steps and {seconds:.0f} s, over "
                f"max_seconds={config.max_seconds:g}; {where}"
            )

    def _save_if_possible(self) -> str:
        if self.checkpoint is None:
            return "no checkpoint path was given"
        self.save_checkpoint()
        return f"checkpoint written to {self.checkpoint}"

    def _interrupted(self) -> None:
        if self.checkpoint is not None:
            self.save_checkpoint()
        raise TrainingInterrupted(self.step, self.checkpoint) from None

    def finish(self, timed: tuple[float, int], out: Path | None) -> TrainResult:
        """Save the trained weights to ``out`` (if given) and report; ``timed``: the seconds
        and steps of this session."""
        self.model.requires_grad_(False)
        weights = self.model.weights
        last = self.history[-1]
        meta = records.model_metadata(self.config, self.data_meta, last.loss, last.held_out)
        if out is not None:
            weights.save(out, extra=meta)
        seconds, steps = timed
        tokens = steps * self.config.batch_size * self.config.n_ctx
        return TrainResult(
            weights=weights,
            config=self.config,
            history=list(self.history),
            train_loss=last.loss,
            held_out_loss=last.held_out,
            out=out,
            metadata=meta,
            seconds=seconds,
            tokens_per_second=tokens / max(seconds, 1e-9),
        )


def _optimizer(model: AttentionOnlyTransformer, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW, weight decay on the matrices only (biases and LayerNorm weights are vectors)."""
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": matrices, "weight_decay": config.weight_decay}]
    if vectors:
        groups.append({"params": vectors, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=config.lr)
