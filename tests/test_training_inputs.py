"""Bad input to the trainer, through the API and ``tensoralgebra train``: each a clear error
naming the value, before any training step; and the command line's own behaviour (losses
printed, the model written, Ctrl-C's exit status and advice)."""

from __future__ import annotations

import json
import time

import pytest
from training_toys import Broken, Counting, Documents

import tensoralgebra as ta
from tensoralgebra.cli import main
from tensoralgebra.cli import train as train_command
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.training import (
    CheckpointError,
    TrainingError,
    TrainingInterrupted,
    read_checkpoint,
    read_training_metadata,
    train,
)

ARCH = ta.Architecture(heads=(1,))
SMALL = dict(d_model=8, d_head=4, n_ctx=6, steps=4, batch_size=4)

# (arguments changed, data, error type, message fragment)
BAD = [
    (dict(steps=0), None, TrainingError, "steps is 0: expected a positive integer"),
    (dict(steps=-3), None, TrainingError, "steps is -3"),
    (dict(steps=2.5), None, TrainingError, "steps is 2.5: expected an integer"),
    (dict(steps=10**9), None, TrainingError, "steps is 1000000000: at most 100,000,000"),
    (dict(lr=0), None, TrainingError, "lr is 0: expected a positive, finite number"),
    (dict(lr=-1e-3), None, TrainingError, "lr is -0.001"),
    (dict(lr=float("nan")), None, TrainingError, "lr is nan"),
    (dict(lr="fast"), None, TrainingError, "lr is 'fast': expected a positive number"),
    (dict(batch_size=0), None, TrainingError, "batch_size is 0: expected a positive integer"),
    (dict(n_ctx=0), None, TrainingError, "n_ctx is 0: expected a positive integer"),
    (dict(n_ctx=1), None, TrainingError, "n_ctx is 1: a next-token loss needs"),
    (dict(d_model=0), None, TrainingError, "d_model is 0"),
    (dict(d_head=True), None, TrainingError, "d_head is True: expected an integer, not a bool"),
    (dict(warmup=5), None, TrainingError, "warmup 5 is out of range: expected 0..4"),
    (dict(warmup=-1), None, TrainingError, "warmup -1 is out of range"),
    (dict(weight_decay=-0.1), None, TrainingError, "weight_decay is -0.1: expected a finite"),
    (dict(grad_clip=0), None, TrainingError, "grad_clip is 0: expected a positive"),
    (dict(seed=-1), None, TrainingError, "seed -1 is out of range: expected 0..4294967295"),
    (dict(dtype="float16"), None, TrainingError, "dtype is 'float16': expected one of"),
    (dict(threads=0), None, TrainingError, "threads is 0"),
    (dict(log_every=0), None, TrainingError, "log_every is 0"),
    (dict(eval_every=0), None, TrainingError, "eval_every is 0"),
    (dict(max_seconds=0), None, TrainingError, "max_seconds is 0"),
    (dict(eval_sequences=0), None, TrainingError, "eval_sequences is 0"),
    (dict(learning_rate=0.1), None, TypeError, "learning_rate"),
    (dict(architecture=ta.Architecture.schematic(2)), None, TrainingError, "concrete Arch"),
    (dict(architecture=(2, 2)), None, TrainingError, "needs a concrete Architecture, got (2, 2)"),
    (dict(), "not data", TrainingError, "data must be a TokenData, got str"),
    # the data cannot serve the run: the dataset's own error reaches the caller
    (dict(n_ctx=20), Documents(10), TensorAlgebraError, "n_ctx 20 is longer than the documents"),
    (dict(), Broken("short"), TrainingError, "gave batch 0 of shape (4, 5)"),
    (dict(), Broken("floats"), TrainingError, "dtype float64: expected integers in 0..6"),
    (dict(), Broken("range"), TrainingError, "expected integers in 0..6"),
    (dict(), Broken("other"), TrainingError, "failed to give batch 0: no batch of kind"),
    # sizes over the budget, with one that fits
    (dict(max_bytes=12_000), None, ExpansionLimitError, "over the memory budget of 12,000 bytes"),
    (dict(max_bytes=100), None, ExpansionLimitError, "no smaller batch or context fits"),
    # paths
    (dict(out="model.pt"), None, TrainingError, "out model.pt: expected a name ending in"),
    (dict(out="/nonexistent-folder/m.safetensors"), None, TrainingError, "does not exist"),
    (dict(checkpoint="c.ckpt"), None, TrainingError, "checkpoint c.ckpt: expected a name"),
    (dict(log="loss.txt"), None, TrainingError, "expected a name ending in .jsonl or .csv"),
    (dict(log="/nonexistent-folder/l.csv"), None, TrainingError, "does not exist"),
    (dict(checkpoint_every=2), None, TrainingError, "checkpoint_every needs a checkpoint path"),
    (dict(resume="/nonexistent-folder/c.safetensors"), None, CheckpointError, "no such file"),
]


@pytest.mark.parametrize(("change", "data", "error", "fragment"), BAD)
def test_bad_input_is_refused_before_training(change, data, error, fragment):
    settings = {**SMALL, **change}
    arch = settings.pop("architecture", ARCH)
    with pytest.raises(error) as refused:
        train(arch, Counting() if data is None else data, **settings)
    assert fragment in str(refused.value)


def test_the_memory_refusal_names_a_batch_size_that_fits():
    with pytest.raises(ExpansionLimitError) as refused:
        train(ARCH, Counting(), **{**SMALL, "max_bytes": 12_000})
    fits = refused.value.value
    assert refused.value.option == "batch_size" and 1 <= fits < SMALL["batch_size"]
    train(ARCH, Counting(), **{**SMALL, "max_bytes": 12_000, "batch_size": fits})


def test_a_run_projected_over_max_seconds_is_refused_within_its_first_steps():
    with pytest.raises(ExpansionLimitError, match="over max_seconds=1") as refused:
        train(ARCH, Counting(), **{**SMALL, "steps": 10**7, "max_seconds": 1})
    assert refused.value.option == "steps" and refused.value.value < 10**7


def test_a_run_found_over_max_seconds_stops_with_a_checkpoint(tmp_path):
    def slow(done, loss):
        if done == 5:
            time.sleep(0.6)

    ckpt = tmp_path / "c.safetensors"
    settings = {**SMALL, "steps": 10, "max_seconds": 0.5, "checkpoint": ckpt, "callback": slow}
    with pytest.raises(TrainingError, match="training stopped after 6 steps") as stopped:
        train(ARCH, Counting(), **settings)
    assert f"checkpoint written to {ckpt}" in str(stopped.value)
    assert read_checkpoint(ckpt, 2**30).step == 6


@pytest.mark.parametrize(
    ("write", "fragment"),
    [
        (lambda p: p.write_bytes(b"\x80\x04K\x01."), "pickle"),
        (lambda p: p.write_text("hello"), "not"),
        (
            lambda p: ta.Weights.random(ARCH, d_model=2, d_head=1, d_vocab=7, n_ctx=6).save(p),
            "not a training checkpoint",
        ),
    ],
)
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path, write, fragment):
    path = tmp_path / "c.safetensors"
    write(path)
    with pytest.raises(CheckpointError) as refused:
        train(ARCH, Counting(), resume=path, **SMALL)
    assert fragment in str(refused.value) and str(path) in str(refused.value)


def test_a_model_without_training_record_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    ta.Weights.random(ARCH, d_model=2, d_head=1, d_vocab=7, n_ctx=6).save(path)
    with pytest.raises(TrainingError, match="not a trained model: its metadata lacks"):
        read_training_metadata(path)


def test_extra_metadata_may_not_replace_the_weights_file_keys(tmp_path):
    weights = ta.Weights.random(ARCH, d_model=2, d_head=1, d_vocab=7, n_ctx=6)
    with pytest.raises(TensorAlgebraError, match=r"may not replace the keys \['format'\]"):
        weights.save(tmp_path / "m.safetensors", extra={"format": "x"})
    with pytest.raises(TensorAlgebraError, match="must map strings to strings"):
        weights.save(tmp_path / "m.safetensors", extra={"loss": 1.0})


# --- the command line ---------------------------------------------------------------------

DATASETS = {"counting": Counting, "documents": Documents}


@pytest.fixture
def datasets(monkeypatch):
    """The command's datasets: the toy ones (the command's seam, ``load_dataset``)."""

    def load(name):
        if name not in DATASETS:
            raise TensorAlgebraError(f"--data {name!r}: expected one of {sorted(DATASETS)}")
        return DATASETS[name]()

    monkeypatch.setattr(train_command, "load_dataset", load)


def command(tmp_path, *extra):
    return [
        "train", "--heads", "1", "--d-model", "8", "--d-head", "4", "--n-ctx", "6",
        "--steps", "30", "--batch-size", "8", "--lr", "0.02", "--data", "counting",
        "--out", str(tmp_path / "m.safetensors"), *extra,
    ]  # fmt: skip


CLI_BAD = [
    (["--steps", "0"], "--steps 0 is out of range: expected 1..100,000,000"),
    (["--lr", "0"], "--lr is 0.0: expected a positive, finite number"),
    (["--lr", "fast"], "invalid float value: 'fast'"),
    (["--batch-size", "0"], "--batch-size 0 is out of range"),
    (["--n-ctx", "0"], "--n-ctx 0 is out of range"),
    (["--n-ctx", "1"], "n_ctx is 1: a next-token loss needs"),
    (["--d-model", "5000"], "--d-model 5000 is out of range: expected 1..4,096"),
    (["--seed", "-1"], "--seed -1 is out of range"),
    (["--weight-decay", "-1"], "--weight-decay is -1.0"),
    (["--warmup", "31"], "warmup 31 is out of range: expected 0..30"),
    (["--threads", "0"], "--threads 0 is out of range"),
    (["--data", "wikipedia"], "--data 'wikipedia': expected one of ['counting', 'documents']"),
    (["--data", "documents", "--n-ctx", "12"], "n_ctx 12 is longer than the documents"),
    (["--out", "/nonexistent-folder/m.safetensors"], "does not exist"),
    (["--out", "m.pt"], "--out 'm.pt': the extension must be .safetensors"),
    (["--log", "loss.txt"], "--log 'loss.txt': the extension must be one of .jsonl, .csv"),
    (["--resume", "/nonexistent-folder/c.safetensors"], "no such file"),
    (["--layers", "2"], "--layers 2: train needs concrete head counts; use --heads"),
    (["--max-seconds", "0"], "--max-seconds is 0.0"),
    (["--dtype", "float16"], "invalid choice: 'float16'"),
]


@pytest.mark.parametrize(("extra", "fragment"), CLI_BAD)
def test_cli_bad_input_is_one_line_and_status_2(datasets, tmp_path, capsys, extra, fragment):
    argv = command(tmp_path, *extra)
    if "--layers" in extra:
        argv.remove("--heads"), argv.remove("1")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.safetensors").exists()


def test_cli_memory_refusal_names_the_flag(datasets, tmp_path, capsys):
    assert main(command(tmp_path, "--batch-size", "1000000", "--n-ctx", "64")) == 2
    assert "use --batch-size" in capsys.readouterr().err
    # no batch fits contexts this long: a shorter one is advised
    assert main(command(tmp_path, "--batch-size", "100000", "--n-ctx", "4096", "--heads", "8")) == 2
    assert "use --n-ctx" in capsys.readouterr().err


def test_cli_trains_prints_losses_and_writes_the_model(datasets, tmp_path, capsys):
    assert main(command(tmp_path, "--log", str(tmp_path / "loss.csv"))) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("trained Architecture(heads=(1,)) on counting: 30 steps")
    assert lines[1].startswith("train loss ") and "held-out loss" in lines[1]
    assert lines[2] == f"model written to {tmp_path / 'm.safetensors'}"
    record = read_training_metadata(tmp_path / "m.safetensors")
    assert record["held_out_loss"] < 1.0 and record["config"].steps == 30
    assert (tmp_path / "loss.csv").read_text().startswith("step,loss,held_out\n")


def test_cli_json_and_zero_layers_and_real_architectures(datasets, tmp_path, capsys):
    argv = command(tmp_path, "--format", "json", "--normalization", "LN", "--biases")
    argv[argv.index("--heads") : argv.index("--heads") + 2] = ["--layers", "0"]
    assert main(argv) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["architecture"]["heads"] == [] and facts["architecture"]["biases"]
    assert facts["held_out_loss"] < 1.0


def test_cli_ctrl_c_writes_a_checkpoint_exits_130_and_resume_finishes(
    datasets, tmp_path, capsys, monkeypatch
):
    real = train

    def interrupted(*args, **kwargs):
        def stop(done, loss):
            if done == 10:
                raise KeyboardInterrupt

        return real(*args, callback=stop, **kwargs)

    monkeypatch.setattr("tensoralgebra.training.train", interrupted)
    assert main(command(tmp_path)) == 130
    ckpt = tmp_path / "m.checkpoint.safetensors"
    err = capsys.readouterr().err
    assert f"interrupted after 10 steps; checkpoint written to {ckpt}" in err
    assert f"--resume {ckpt}" in err
    monkeypatch.setattr("tensoralgebra.training.train", real)
    assert main(command(tmp_path, "--resume", str(ckpt))) == 0
    resumed = ta.Weights.load(tmp_path / "m.safetensors")
    assert main(command(tmp_path)) == 0  # uninterrupted
    whole = ta.Weights.load(tmp_path / "m.safetensors")
    assert (resumed.W_E == whole.W_E).all() and (resumed.W_O[0] == whole.W_O[0]).all()


def test_cli_resume_of_another_run_is_refused(datasets, tmp_path, capsys, monkeypatch):
    ckpt = tmp_path / "c.safetensors"
    with pytest.raises(TrainingInterrupted):

        def stop(done, loss):
            raise KeyboardInterrupt

        train(ARCH, Counting(), checkpoint=ckpt, callback=stop, **SMALL)
    assert main(command(tmp_path, "--resume", str(ckpt))) == 2
    err = capsys.readouterr().err
    assert "is of another run" in err and "d_model 8 vs 8" not in err and "n_ctx 6" not in err
    assert "steps 4 vs 30" in err
