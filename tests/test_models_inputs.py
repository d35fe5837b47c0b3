"""Bad input to the shipped models and the recipes, through the API and the command line: each
a clear error naming the value and what exists."""

from __future__ import annotations

import pytest

from tensoralgebra import models
from tensoralgebra.cli import main
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.models import ModelNotFoundError
from tensoralgebra.training.recipes import RECIPES, recipe, retrain_curve

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
    (["top-paths", "--model", "two-layer"], "no shipped model is named 'two-layer'"),
    (
        ["verify", "--model", "two-layer-induction", "--heads", "2,2"],
        "--heads not allowed with --model",
    ),
    (["models", "--format", "xml"], "invalid choice: 'xml'"),
]


@pytest.mark.parametrize(("argv", "fragment"), CLI_BAD)
def test_cli_bad_input_is_one_line_and_status_2(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default --out would land here
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())
