"""Bad input to the shipped models and the recipes, through the API and the command line: each
a clear error naming the value and what exists; and the commands' own behaviour (``models``,
``--model NAME``, ``train --recipe``)."""

from __future__ import annotations

import json

import pytest

from tensoralgebra import models
from tensoralgebra.cli import main
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.io.header import read_header
from tensoralgebra.models import ModelNotFoundError
from tensoralgebra.training import read_training_metadata
from tensoralgebra.training.recipes import RECIPES, Recipe, recipe, retrain_curve

SHIPPED = "the shipped models are zero-layer-stdlib, one-layer-stdlib, two-layer-stdlib, "
RECIPE_LIST = "the recipes are zero-layer-stdlib, one-layer-stdlib, two-layer-stdlib, two-layer-"

# (call, error type, message fragment)
API_BAD = [
    (
        lambda: models.load("gpt-2"),
        ModelNotFoundError,
        "no shipped model is named 'gpt-2': " + SHIPPED,
    ),
    (lambda: models.info("Zero-Layer-Stdlib"), ModelNotFoundError, "'Zero-Layer-Stdlib'"),
    (lambda: models.dataset(""), ModelNotFoundError, "no shipped model is named ''"),
    (lambda: models.path(None), ModelNotFoundError, "no shipped model is named None"),
    (lambda: models.load(3), ModelNotFoundError, "no shipped model is named 3"),
    (
        lambda: recipe("three-layer"),
        TensorAlgebraError,
        "no recipe is named 'three-layer': " + RECIPE_LIST,
    ),
    (lambda: recipe(["two-layer-induction"]), TensorAlgebraError, "no recipe is named ['two"),
    (
        lambda: RECIPES["two-layer-induction"].settings(seed=-1),
        TensorAlgebraError,
        "seed -1 is out of range",
    ),
    (
        lambda: RECIPES["two-layer-induction"].settings(seed=1.5),
        TensorAlgebraError,
        "seed is 1.5: expected an integer",
    ),
    (
        lambda: retrain_curve(RECIPES["two-layer-induction"], 0, 0),
        TensorAlgebraError,
        "entries is 0: expected a positive integer",
    ),
    (
        lambda: retrain_curve(RECIPES["two-layer-induction"], 0, 401),
        TensorAlgebraError,
        "entries is 401",
    ),
    (
        lambda: RECIPES["two-layer-induction"].train(out="model.pt"),
        TensorAlgebraError,
        "out model.pt: expected a name ending in .safetensors in an existing folder",
    ),
    (
        lambda: RECIPES["two-layer-induction"].train(out="/nonexistent-folder/m.safetensors"),
        TensorAlgebraError,
        "out /nonexistent-folder/m.safetensors: expected a name ending in .safetensors",
    ),
    (
        lambda: RECIPES["two-layer-induction"].train(max_seconds=0.01),
        ExpansionLimitError,
        "over max_seconds=0.01",
    ),
]


@pytest.mark.parametrize(("call", "error", "fragment"), API_BAD)
def test_api_bad_input_is_refused_by_name(call, error, fragment):
    with pytest.raises(error) as raised:
        call()
    assert fragment in str(raised.value)


def test_a_models_file_missing_from_the_install_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "FOLDER", tmp_path)
    with pytest.raises(ModelNotFoundError) as raised:
        models.load("two-layer-induction")
    message = str(raised.value)
    assert f"has no file {tmp_path / 'two-layer-induction.safetensors'} in this install" in message
    assert "tensoralgebra train --recipe two-layer-induction --out" in message
    assert main(["models"]) == 2


# (arguments, message fragment)
CLI_BAD = [
    (["train", "--recipe", "nope"], "no recipe is named 'nope': " + RECIPE_LIST),
    (
        ["train", "--recipe", "two-layer-induction", "--heads", "2,2"],
        "--heads not allowed with --recipe",
    ),
    (["train", "--recipe", "two-layer-induction", "--layers", "0"], "--layers not allowed"),
    (["train", "--recipe", "one-layer-stdlib", "--data", "stdlib"], "--data not allowed"),
    (
        ["train", "--recipe", "one-layer-stdlib", "--steps", "10", "--lr", "0.1"],
        "--steps, --lr not allowed with --recipe",
    ),
    (["train", "--recipe", "one-layer-stdlib", "--biases"], "--biases not allowed"),
    (["train", "--recipe", "one-layer-stdlib", "--positional", "standard"], "--positional not"),
    (["train", "--recipe", "one-layer-stdlib", "--dtype", "float64"], "--dtype not allowed"),
    (["train", "--recipe", "one-layer-stdlib", "--seed", "-2"], "--seed -2 is out of range"),
    (["train", "--recipe", "one-layer-stdlib", "--threads", "0"], "--threads is 0"),
    (
        ["train", "--recipe", "one-layer-stdlib", "--out", "m.pt"],
        "the extension must be .safetensors",
    ),
    (
        ["train", "--recipe", "two-layer-induction", "--max-seconds", "0.01"],
        "a recipe's steps are fixed: raise --max-seconds",
    ),
    (["train", "--heads", "2"], "train needs --recipe NAME, or an architecture"),
    (["train", "--data", "stdlib"], "train needs --recipe NAME, or an architecture"),
    (["train", "--heads", "2", "--data", "stdlib"], "train needs --out FILE.safetensors"),
    (["verify", "--model", "gpt-2"], "no shipped model is named 'gpt-2': " + SHIPPED),
    (["verify", "--model", "missing.safetensors"], "missing.safetensors"),
    (
        ["top-paths", "--model", "two-layer", "--target", "3"],
        "no shipped model is named 'two-layer'",
    ),
    (
        ["verify", "--model", "two-layer-induction", "--heads", "2,2"],
        "--heads not allowed with --model",
    ),
    (["models", "--format", "xml"], "invalid choice: 'xml'"),
]


@pytest.mark.parametrize(("argv", "fragment"), CLI_BAD)
def test_cli_bad_input_is_one_line_and_status_2(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default --out would land here
    if "--max-seconds" not in argv:  # a refusal missed must fail at once, not train for minutes
        monkeypatch.setattr(Recipe, "train", lambda *_, **__: pytest.fail("trained"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


def test_cli_models_lists_every_shipped_model(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "heads", "d_model"]
    assert [line.split()[0] for line in lines[1:]] == models.names()
    assert main(["models", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in listed] == models.names()
    induction = listed[-1]
    assert induction["architecture"]["heads"] == [2, 2] and induction["data"] == (
        "synthetic-induction"
    )
    assert induction["held_out_loss"] == models.info("two-layer-induction")["held_out_loss"]
    assert all(m["bytes"] <= 2 * 2**20 for m in listed)


def test_cli_model_takes_a_shipped_models_name(capsys):
    assert main(["verify", "--model", "two-layer-induction"]) == 0
    assert "two-layer-induction" not in capsys.readouterr().err


TINY = Recipe(
    name="tiny",
    shows="a test's recipe",
    heads=(1,),
    positional="standard",
    data="synthetic-induction",
    data_options=(("d_vocab", 8),),
    d_model=8,
    d_head=4,
    n_ctx=8,
    steps=30,
    batch_size=4,
    lr=1e-2,
    warmup=3,
    eval_every=20,
)


def test_cli_train_recipe_writes_the_recipes_record(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(RECIPES, "tiny", TINY)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--recipe", "tiny", "--seed", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "model written to tiny.safetensors"
    record = read_training_metadata(tmp_path / "tiny.safetensors")
    meta = read_header(tmp_path / "tiny.safetensors", 2**20).metadata
    assert meta["recipe"] == "tiny" and meta["seed"] == "3" and record["config"].seed == 3
    curve = json.loads(meta["loss_curve"])
    assert [entry[0] for entry in curve] == [10, 20, 30]
    assert curve[1][2] is not None and curve[-1][2] == record["held_out_loss"]
    assert json.loads(meta["recipe_definition"]) == TINY.to_dict()
    assert [step_loss for step_loss in retrain_curve(TINY, 3, 2)] == [e[:2] for e in curve[:2]]
