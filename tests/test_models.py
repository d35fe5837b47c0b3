"""The shipped models (tensoralgebra.models): they load instantly, are what their record says, and
learned what the paper says models of their depth learn (docs/training.md, "Shipped models")."""

from __future__ import annotations

import pytest

from tensoralgebra import models
from tensoralgebra.training.data import bigram_table
from tensoralgebra.training.evidence import bigram_fit, induction_evidence, mean_loss
from tensoralgebra.training.recipes import RECIPES

#: Held-out sequences the evidence is measured on (more than the 64 of the recorded loss).
SEQUENCES = 256


@pytest.fixture(scope="module")
def stdlib():
    return models.dataset("zero-layer-stdlib")


@pytest.fixture(scope="module")
def held_out(stdlib):
    return stdlib.held_out(64, SEQUENCES)


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_ships_a_model_of_its_record(name):
    model, record, recipe = models.load(name), models.info(name), RECIPES[name]
    assert record["recipe"] == name and record["seed"] == recipe.seed
    assert model.weights.architecture == recipe.architecture()
    config = record["config"].to_dict()
    expected = {**recipe.settings(), "architecture": recipe.architecture().to_dict()}
    assert {key: config[key] for key in expected} == expected
    assert model.weights.dtype == "float32" and record["bytes"] <= 2 * 2**20
    steps = [step for step, _, _ in record["loss_curve"]]
    assert steps == list(range(recipe.log_every, recipe.steps + 1, recipe.log_every))
    assert record["loss_curve"][-1][2] == record["held_out_loss"]
    assert record["data_fingerprint"] and record["data"] == recipe.data


def test_the_zero_layer_model_learned_the_bigram_table(stdlib, held_out):
    fit = bigram_fit(models.load("zero-layer-stdlib"), bigram_table(stdlib), held_out)
    assert fit.pairs > 1000 and fit.correlation > 0.95, fit
    assert abs(fit.model - fit.bigram) < 0.05, fit
    assert fit.model < fit.unigram - 0.8, fit


def test_the_one_layer_model_beats_the_zero_layer_model(held_out):
    zero = mean_loss(models.load("zero-layer-stdlib"), held_out)
    one = mean_loss(models.load("one-layer-stdlib"), held_out)
    two = mean_loss(models.load("two-layer-stdlib"), held_out)
    assert one < zero - 0.5, (zero, one)
    assert two < one - 0.1, (one, two)


def test_the_induction_model_has_induction_heads_and_learns_in_context():
    found = induction_evidence(models.load("two-layer-induction"))
    assert found.first_repeat > 3.5 and found.second_repeat < 0.5, found
    assert found.icl < -3.0, found
    assert found.previous_token > 0.5 and found.induction > 0.8, found
    assert found.formed
