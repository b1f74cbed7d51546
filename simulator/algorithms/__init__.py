"""Training algorithms as schedules over the layer pipeline."""

from __future__ import annotations

from ..config import TrainingConfig
from .base import Schedule
from .cp import ContinuousPropagation
from .mbgd import MinibatchGD
from .sgd import SGD


def make_schedule(training: TrainingConfig, n_layers: int, n_samples: int) -> Schedule:
    """The schedule a scenario's `training` section names."""
    if training.algorithm == "cp":
        return ContinuousPropagation(n_layers, n_samples, training.delta_rule, training.in_flight_slack)
    if training.algorithm == "mbgd":
        return MinibatchGD(n_layers, n_samples, training.batch_size)
    if training.algorithm == "sgd":
        return SGD(n_layers, n_samples)
    raise ValueError(f"unknown algorithm {training.algorithm!r}")


__all__ = ["Schedule", "ContinuousPropagation", "MinibatchGD", "SGD", "make_schedule"]
