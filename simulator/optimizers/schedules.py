"""Learning-rate schedules: callables from an `UpdateInfo` to the learning rate of that update.

A schedule reads `info.samples`, the samples the parameters were already updated with,
and `info.count`, the samples in this update; lengths are in samples (the registry
converts epochs). `learning_rate(schedule)` turns one into a transform.
"""

from __future__ import annotations

import math
from typing import Callable

from .base import UpdateInfo

Schedule = Callable[[UpdateInfo], float]


def constant(rate: float) -> Schedule:
    """The same rate for every update."""

    def schedule(info: UpdateInfo) -> float:
        return rate

    return schedule


def half_life(rate: float, half_life_samples: float) -> Schedule:
    """rate * 0.5 ** (samples / half_life_samples): the rate halves every `half_life_samples`
    samples, continuously (the formula of the old optimizer module, bit for bit)."""
    if half_life_samples <= 0:
        raise ValueError(f"half_life_samples must be > 0, got {half_life_samples}")

    def schedule(info: UpdateInfo) -> float:
        return rate * 0.5 ** (info.samples / half_life_samples)

    return schedule


def step_decay(rate: float, every_samples: float, factor: float) -> Schedule:
    """rate * factor ** (samples // every_samples): the rate drops by `factor` once every
    `every_samples` samples."""
    if every_samples <= 0:
        raise ValueError(f"every_samples must be > 0, got {every_samples}")

    def schedule(info: UpdateInfo) -> float:
        return rate * factor ** (info.samples // every_samples)

    return schedule


def cosine(rate: float, total_samples: float, final_fraction: float = 0.0) -> Schedule:
    """Cosine annealing (Loshchilov & Hutter 2017, one cycle) from `rate` down to
    final = rate * final_fraction at `total_samples`, then held:
    final + (rate - final) * 0.5 * (1 + cos(pi * min(samples, total) / total))."""
    if total_samples <= 0:
        raise ValueError(f"total_samples must be > 0, got {total_samples}")
    final = rate * final_fraction

    def schedule(info: UpdateInfo) -> float:
        angle = math.pi * min(info.samples, total_samples) / total_samples
        return final + (rate - final) * 0.5 * (1.0 + math.cos(angle))

    return schedule


def warmup(schedule: Schedule, warmup_samples: float) -> Schedule:
    """`schedule` multiplied by min(1, (samples + count) / warmup_samples): a linear ramp
    that reaches the full rate with the update that completes `warmup_samples` samples.
    `warmup_samples` 0 means no warm-up and returns `schedule` itself."""
    if warmup_samples < 0:
        raise ValueError(f"warmup_samples must be >= 0, got {warmup_samples}")
    if warmup_samples == 0:
        return schedule

    def warmed(info: UpdateInfo) -> float:
        return schedule(info) * min(1.0, (info.samples + info.count) / warmup_samples)

    return warmed
