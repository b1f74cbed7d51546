"""The optimizer and learning-rate schedule sections of a scenario: forms, shorthands and errors by their messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from wafersim.config import ConfigError, load_scenario
from wafersim.optimizers import AdamConfig, ConstantSchedule, HalfLifeSchedule, MomentumConfig, NesterovConfig, SGDConfig

QUICKSTART = str(Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml")
NAMES = "sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, conjugate_gradient"


def _training(*overrides: str):
    return load_scenario(QUICKSTART, list(overrides)).training


def _error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_scenario(QUICKSTART, list(overrides))
    return str(info.value)


def test_defaults_and_shorthands():
    assert _training().optimizer_config == SGDConfig()
    assert _training().schedule_config == ConstantSchedule()
    assert _training("training.momentum=0.9").optimizer_config == MomentumConfig(mu=0.9)
    assert _training("training.lr_half_life_epochs=2").schedule_config == HalfLifeSchedule(half_life_epochs=2.0)


def test_a_name_alone_a_mapping_or_one_dotted_key():
    assert _training("training.optimizer=adam").optimizer_config == AdamConfig()
    assert _training("training.optimizer={name: adam, beta2: 0.99}").optimizer_config == AdamConfig(beta2=0.99)
    assert _training("training.optimizer.name=nesterov").optimizer_config == NesterovConfig()
    assert _training("training.lr_schedule=cosine").schedule_config.name == "cosine"


@pytest.mark.parametrize("override, text", [
    ("training.optimizer=adamw", f"training.optimizer: unknown name 'adamw'; choose one of {NAMES}"),
    ("training.optimizer={name: adam, beta3: 1}",
     "training.optimizer.beta3: unknown key; allowed here: name, beta1, beta2, eps"),
    ("training.optimizer={name: adam, beta1: 1.5}", "training.optimizer.beta1: Input should be less than 1 (got 1.5)"),
    ("training.optimizer={beta1: 0.5}", f"training.optimizer: give the name of one of {NAMES}"),
    ("training.lr_schedule={name: step}", "training.lr_schedule.every_epochs: required key is missing"),
    ("training.lr_schedule={name: cosine, warmup_epochs: -1}",
     "training.lr_schedule.warmup_epochs: Input should be greater than or equal to 0 (got -1)"),
    ("training.lr_schedule=linear", "training.lr_schedule: unknown name 'linear'; choose one of constant, half_life, step, cosine"),
])
def test_section_errors_name_the_key(override, text):
    message = _error(override)
    assert QUICKSTART in message and text in message


def test_a_shorthand_and_its_section_together_are_refused():
    assert ("training.momentum (0.9) is shorthand for optimizer: {name: momentum, mu: 0.9}; with training.optimizer "
            "set, give momentum inside it and remove training.momentum") in _error("training.optimizer=adam",
                                                                                  "training.momentum=0.9")
    assert ("training.lr_half_life_epochs is shorthand for lr_schedule: {name: half_life, half_life_epochs: 1.0}; "
            "give one of the two") in _error("training.lr_schedule=cosine", "training.lr_half_life_epochs=1")


@pytest.mark.parametrize("algorithm", ["cp", "sgd", "asgd", "downpour", "hogwild"])
def test_conjugate_gradients_need_in_order_minibatches(algorithm):
    extra = ["training.workers=2", "training.batch_size=4"] if algorithm in ("asgd", "downpour", "hogwild") else []
    message = _error(f"training.algorithm={algorithm}", "training.optimizer=conjugate_gradient", *extra)
    assert (f"training.optimizer: conjugate_gradient builds each direction from consecutive minibatch gradients of "
            f"one set of weights, which {algorithm} does not compute") in message
    assert "use it with mbgd, allreduce" in message
