"""Tests of the registry: strict YAML sections, the optimizer table, the built chains and their facts."""

from __future__ import annotations

import math

import pytest
from pydantic import TypeAdapter, ValidationError

from wafersim.optimizers import (OPTIMIZER_NAMES, OPTIMIZERS, SCHEDULE_NAMES, AdamConfig, ConjugateGradientConfig,
                                  MomentumConfig, OptimizerConfig, ScheduleConfig, SGDConfig, UpdateInfo, constant,
                                  facts, half_life, make_optimizer, make_schedule)

OPTIMIZER = TypeAdapter(OptimizerConfig)
SCHEDULE = TypeAdapter(ScheduleConfig)

# (state bytes per parameter, update MACs per parameter) of each full chain; the MACs
# include the one multiply-add that applies the step (learning_rate).
FACTS = {
    "sgd": (0, 1),
    "momentum": (4, 2),
    "nesterov": (4, 3),
    "adagrad": (4, 5),
    "rmsprop": (4, 7),
    "adadelta": (8, 12),
    "adam": (8, 9),
    "conjugate_gradient": (4, 3),
}


def test_names():
    assert OPTIMIZER_NAMES == ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam",
                               "conjugate_gradient")
    assert SCHEDULE_NAMES == ("constant", "half_life", "step", "cosine")


def test_facts_of_every_optimizer():
    assert {name: facts(name) for name in OPTIMIZER_NAMES} == FACTS
    assert facts("conjugate_gradient", ConjugateGradientConfig(method="hestenes_stiefel")) == (8, 5)


def test_table_entries():
    for name, kind in OPTIMIZERS.items():
        assert kind.name == name == kind.config().name
        assert kind.summary and "\n" not in kind.summary
        assert kind.source and "\n" not in kind.source
        assert kind.minibatch_only == (name == "conjugate_gradient")


def test_sgd_and_momentum_chains_are_the_old_ones():
    sgd = make_optimizer(SGDConfig(), constant(0.1))
    assert sgd.name == "sgd" and [t.name for t in sgd.parts] == ["average", "learning_rate"] and sgd.linear
    heavy = make_optimizer(MomentumConfig(mu=0.5), constant(0.1))
    assert [t.name for t in heavy.parts] == ["average", "momentum", "learning_rate"] and not heavy.linear


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_every_optimizer_parses_from_its_name_with_defaults(name):
    config = OPTIMIZER.validate_python({"name": name})
    assert config == OPTIMIZERS[name].config()
    assert make_optimizer(config, constant(0.1)).name == name


def test_hyper_parameters_parse():
    config = OPTIMIZER.validate_python({"name": "adam", "beta1": 0.5, "beta2": 0.9, "eps": 1e-6})
    assert (config.beta1, config.beta2, config.eps) == (0.5, 0.9, 1e-6)
    assert OPTIMIZER.validate_python({"name": "momentum", "mu": 0}).mu == 0  # YAML's 0 is an int
    assert OPTIMIZER.validate_python({"name": "conjugate_gradient", "method": "hestenes_stiefel"}).method == \
        "hestenes_stiefel"


@pytest.mark.parametrize("section", [
    {"name": "sgd", "mu": 0.9},
    {"name": "adam", "beta": 0.9},
    {"name": "rmsprop", "momentum": 0.9},
    {"name": "lbfgs"},
    {"mu": 0.9},
])
def test_unknown_keys_and_names_are_refused(section):
    with pytest.raises(ValidationError):
        OPTIMIZER.validate_python(section)


@pytest.mark.parametrize("section", [
    {"name": "momentum", "mu": 1.0},
    {"name": "momentum", "mu": -0.1},
    {"name": "nesterov", "mu": 1.5},
    {"name": "adagrad", "eps": 0.0},
    {"name": "rmsprop", "decay": 1.0},
    {"name": "rmsprop", "eps": -1e-8},
    {"name": "adadelta", "decay": -0.5},
    {"name": "adam", "beta1": 1.0},
    {"name": "adam", "beta2": 1.0},
    {"name": "adam", "eps": 0},
    {"name": "conjugate_gradient", "method": "polak_ribiere"},
    {"name": "momentum", "mu": "0.9"},  # strings are not coerced
])
def test_out_of_range_values_are_refused(section):
    with pytest.raises(ValidationError):
        OPTIMIZER.validate_python(section)


def test_configs_are_frozen():
    with pytest.raises(ValidationError):
        AdamConfig().beta1 = 0.5


@pytest.mark.parametrize("section", [
    {"name": "constant", "rate": 0.1},
    {"name": "half_life"},
    {"name": "half_life", "half_life_epochs": 0},
    {"name": "step", "every_epochs": 2, "factor": 0.0},
    {"name": "step", "every_epochs": 2, "factor": 1.5},
    {"name": "step", "every_epochs": -1},
    {"name": "cosine", "final_fraction": 1.0},
    {"name": "cosine", "warmup_epochs": -1},
    {"name": "linear"},
])
def test_bad_schedule_sections_are_refused(section):
    with pytest.raises(ValidationError):
        SCHEDULE.validate_python(section)


def test_make_schedule_half_life_is_the_old_schedule_bitwise():
    """The old code halved every lr_half_life_epochs * len(y_train) samples."""
    config = SCHEDULE.validate_python({"name": "half_life", "half_life_epochs": 0.3})
    schedule = make_schedule(config, 0.05, 1797, 10_000)
    old = half_life(0.05, 0.3 * 1797)
    for s in (0, 1, 100, 539, 5000):
        assert schedule(UpdateInfo(s, 1)) == old(UpdateInfo(s, 1)) == 0.05 * 0.5 ** (s / (0.3 * 1797))


def test_make_schedule_converts_epochs_to_samples():
    per_epoch, total = 100, 1000
    constant_ = make_schedule(SCHEDULE.validate_python({"name": "constant"}), 0.2, per_epoch, total)
    assert constant_(UpdateInfo(500, 1)) == 0.2
    step = make_schedule(SCHEDULE.validate_python({"name": "step", "every_epochs": 2, "factor": 0.5}), 0.2,
                         per_epoch, total)
    assert [step(UpdateInfo(s, 1)) for s in (0, 199, 200, 399, 400)] == [0.2, 0.2, 0.1, 0.1, 0.05]
    cos = make_schedule(SCHEDULE.validate_python({"name": "cosine", "final_fraction": 0.5}), 0.2, per_epoch, total)
    assert cos(UpdateInfo(0, 1)) == pytest.approx(0.2) and cos(UpdateInfo(total, 1)) == pytest.approx(0.1)
    assert cos(UpdateInfo(total // 2, 1)) == pytest.approx(0.1 + 0.1 * 0.5 * (1 + math.cos(math.pi / 2)))
    warm = make_schedule(SCHEDULE.validate_python({"name": "constant", "warmup_epochs": 0.5}), 0.2, per_epoch, total)
    assert warm(UpdateInfo(0, 10)) == pytest.approx(0.2 * 10 / 50) and warm(UpdateInfo(40, 10)) == 0.2
