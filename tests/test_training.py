"""The trainer: tiny models learn toy tasks in seconds, runs are bit-for-bit deterministic, an
interrupted run resumes to the very weights of an uninterrupted one, and the saved model carries
its training record."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal

import numpy as np
import pytest
import safetensors
import torch
from training_toys import Counting, FirstToken

import tensoralgebra as ta
from tensoralgebra.io import load_weights
from tensoralgebra.training import (
    CheckpointError,
    LogEntry,
    TrainingInterrupted,
    read_checkpoint,
    read_training_metadata,
    train,
)
from tensoralgebra.training.config import TrainConfig
from tensoralgebra.training.schedule import FINAL_FRACTION, learning_rate

SMALL = dict(d_model=16, d_head=4, n_ctx=8, batch_size=8, lr=0.01, log_every=5)
ARCHITECTURES = [
    ta.Architecture(heads=()),
    ta.Architecture(heads=(2,)),
    ta.Architecture(heads=(1, 2), positional="standard"),
    ta.Architecture(heads=(2, 0)),
    ta.Architecture(heads=(1, 1), positional="shortformer", normalization="LN", biases=True),
    ta.Architecture(heads=(2,), normalization="LNPre"),
]


def arrays(weights: ta.Weights) -> dict[str, np.ndarray]:
    """Every array of ``weights`` by name (per-layer ones as name[l])."""
    found = {}
    for name, value in vars(weights).items():
        if isinstance(value, np.ndarray):
            found[name] = value
        elif isinstance(value, tuple):
            found.update({f"{name}[{i}]": a for i, a in enumerate(value)})
    return found


def assert_identical(a: ta.Weights, b: ta.Weights) -> None:
    first, second = arrays(a), arrays(b)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].dtype == second[name].dtype
        assert np.array_equal(first[name], second[name]), name


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=repr)
def test_every_architecture_learns_counting(arch):
    result = train(arch, Counting(), steps=40, **SMALL)
    assert result.history[0].loss > 1.5  # log 7 = 1.95 at the start
    assert result.held_out_loss < 0.5
    assert result.weights.architecture.heads == arch.heads
    assert result.weights.d_vocab == 7 and result.weights.n_ctx == 8
    assert result.weights.dtype == np.float32


def test_attention_learns_what_no_layer_can():
    # Even positions repeat the first token: only attention can look back to it. Without
    # layers the best is log 8 per token; with a head, the 3 of 7 even targets become cheap.
    settings = dict(d_model=16, d_head=8, n_ctx=8, steps=80, batch_size=16, lr=0.03)
    none = train(ta.Architecture(heads=()), FirstToken(), **settings)
    one = train(ta.Architecture(heads=(1,), positional="standard"), FirstToken(), **settings)
    assert none.held_out_loss > math.log(8) - 0.05
    assert one.held_out_loss < none.held_out_loss - 0.5


def test_the_model_trained_is_the_package_model_and_its_logits_are_the_forward_pass():
    arch = ta.Architecture(heads=(1, 1), positional="shortformer", normalization="LN", biases=True)
    result = train(arch, Counting(), steps=10, dtype="float64", **SMALL)
    model = ta.AttentionOnlyTransformer(result.weights)
    tokens = Counting().held_out(8, 7)
    assert torch.equal(model.logits(torch.from_numpy(tokens)), model(tokens))


def test_two_runs_are_bit_identical():
    arch = ta.Architecture(heads=(2, 1), positional="standard", normalization="LN", biases=True)
    first = train(arch, Counting(), steps=15, **SMALL)
    second = train(arch, Counting(), steps=15, **SMALL)
    assert_identical(first.weights, second.weights)
    assert first.history == second.history
    other_seed = train(arch, Counting(), steps=15, seed=1, **SMALL)
    assert not np.array_equal(first.weights.W_E, other_seed.weights.W_E)


def test_the_run_leaves_torch_as_it_found_it():
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    train(ta.Architecture(heads=(1,)), Counting(), steps=3, threads=2, **SMALL)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before


def test_history_logs_every_log_every_steps_and_held_out_at_eval_steps_and_the_end():
    result = train(ta.Architecture(heads=(1,)), Counting(), steps=12, eval_every=4, **SMALL)
    steps = [entry.step for entry in result.history]
    assert steps == [4, 5, 8, 10, 12]
    held = {e.step: e.held_out for e in result.history}
    assert held[5] is None and held[10] is None
    assert all(held[s] is not None for s in (4, 8, 12))
    assert result.held_out_loss == held[12] and result.train_loss == result.history[-1].loss
    assert all(isinstance(e, LogEntry) for e in result.history)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_log_file(tmp_path, suffix):
    log = tmp_path / f"loss{suffix}"
    result = train(ta.Architecture(heads=(1,)), Counting(), steps=10, log=log, **SMALL)
    lines = log.read_text().splitlines()
    if suffix == ".jsonl":
        entries = [LogEntry(**json.loads(line)) for line in lines]
    else:
        assert lines[0] == "step,loss,held_out"
        entries = [
            LogEntry(int(s), float(loss), float(h) if h else None)
            for s, loss, h in (line.split(",") for line in lines[1:])
        ]
    assert entries == result.history


def test_saved_model_carries_its_training_record(tmp_path):
    out = tmp_path / "model.safetensors"
    data = Counting()
    result = train(ta.Architecture(heads=(2,)), data, steps=10, out=out, seed=3, **SMALL)
    assert result.out == out
    assert_identical(load_weights(out), result.weights)
    record = read_training_metadata(out)
    assert record["config"] == result.config and record["config"].seed == 3
    assert record["train_loss"] == result.train_loss
    assert record["held_out_loss"] == result.held_out_loss
    assert record["data"] == "counting" and record["data_fingerprint"] == data.fingerprint()
    assert json.loads(record["data_definition"]) == data.definition()
    with safetensors.safe_open(out, "np") as file:  # the weights file's own keys are intact
        assert file.metadata()["format"] == "tensoralgebra.Weights"


def test_the_schedule_warms_up_linearly_then_decays_by_a_cosine():
    rates = [learning_rate(s, peak=1.0, warmup=4, steps=20) for s in range(20)]
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert rates[4] == 1.0 and rates[-1] == pytest.approx(FINAL_FRACTION)
    assert all(a >= b for a, b in itertools.pairwise(rates[4:]))


def interrupt_at(step):
    def callback(done, loss):
        if done == step:
            raise KeyboardInterrupt

    return callback


RESUMABLE = ta.Architecture(heads=(1, 1), positional="standard", normalization="LN", biases=True)


def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path):
    settings = dict(steps=20, eval_every=10, **SMALL)
    whole = train(RESUMABLE, Counting(), out=tmp_path / "whole.safetensors", **settings)
    out = tmp_path / "part.safetensors"
    with pytest.raises(TrainingInterrupted) as stopped:
        train(RESUMABLE, Counting(), out=out, callback=interrupt_at(7), **settings)
    assert stopped.value.step == 7 and not out.exists()
    ckpt = tmp_path / "part.checkpoint.safetensors"
    assert stopped.value.checkpoint == ckpt and read_checkpoint(ckpt, 2**30).step == 7
    resumed = train(RESUMABLE, Counting(), out=out, resume=ckpt, **settings)
    assert_identical(resumed.weights, whole.weights)
    assert resumed.history == whole.history
    assert resumed.metadata == whole.metadata
    assert_identical(load_weights(out), load_weights(tmp_path / "whole.safetensors"))


def test_periodic_checkpoints_resume_too(tmp_path):
    ckpt = tmp_path / "run.safetensors"
    settings = dict(steps=12, **SMALL)
    whole = train(RESUMABLE, Counting(), **settings)
    with pytest.raises(TrainingInterrupted):
        train(
            RESUMABLE,
            Counting(),
            checkpoint=ckpt,
            checkpoint_every=4,
            callback=interrupt_at(10),
            **settings,
        )
    assert read_checkpoint(ckpt, 2**30).step == 10
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temporary left
    resumed = train(RESUMABLE, Counting(), resume=ckpt, **settings)
    assert_identical(resumed.weights, whole.weights)


def test_ctrl_c_stops_between_steps(tmp_path):
    def press(done, loss):
        if done == 5:
            os.kill(os.getpid(), signal.SIGINT)  # the handler notes it; the step is whole

    ckpt = tmp_path / "c.safetensors"
    with pytest.raises(TrainingInterrupted) as stopped:
        train(RESUMABLE, Counting(), steps=10, checkpoint=ckpt, callback=press, **SMALL)
    assert stopped.value.step == 5
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    whole = train(RESUMABLE, Counting(), steps=10, **SMALL)
    assert_identical(
        train(RESUMABLE, Counting(), steps=10, resume=ckpt, **SMALL).weights, whole.weights
    )


def test_an_interrupt_without_a_checkpoint_path_says_nothing_was_saved():
    with pytest.raises(TrainingInterrupted, match="no checkpoint path") as stopped:
        train(ta.Architecture(heads=(1,)), Counting(), steps=5, callback=interrupt_at(2), **SMALL)
    assert stopped.value.checkpoint is None


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (dict(d_model=32), "d_model 16 vs 32"),
        (dict(arch=ta.Architecture(heads=(1, 2))), "architecture"),
        (dict(seed=4), "seed 0 vs 4"),
        (dict(steps=30), "steps 20 vs 30"),
        (dict(data=Counting(d_vocab=9)), "data 'counting' (fingerprint"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused_naming_the_difference(tmp_path, change, fragment):
    ckpt = tmp_path / "c.safetensors"
    with pytest.raises(TrainingInterrupted):
        train(RESUMABLE, Counting(), steps=20, checkpoint=ckpt, callback=interrupt_at(3), **SMALL)
    settings = {**SMALL, "steps": 20, **change}
    arch, data = settings.pop("arch", RESUMABLE), settings.pop("data", Counting())
    with pytest.raises(CheckpointError, match="is of another run") as refused:
        train(arch, data, resume=ckpt, **settings)
    assert fragment in str(refused.value)


def test_config_round_trips_and_names_differences():
    config = TrainConfig(RESUMABLE, d_model=16, steps=5)
    assert TrainConfig.from_json(config.to_json()) == config
    other = TrainConfig(RESUMABLE, d_model=16, steps=5, lr=0.5, log_every=1)
    assert config.differences(other) == ["lr 0.001 vs 0.5"]  # log_every may change on resume
