"""When it happens: the training algorithms, one module each, listed once in `ALGORITHMS`."""

from __future__ import annotations

from . import allreduce, asgd, cp, dni, downpour, gpipe, hogwild, mbgd, pipedream, pipemare, sgd, zerobubble
from .base import Schedule
from .cp import ContinuousPropagation
from .mbgd import MinibatchGD
from .registry import ALLREDUCE, PARAMETER_SERVER, PIPELINE, Algorithm, registry
from .sgd import SGD

# Adding an algorithm: its module (options, schedule or worker program, ALGORITHM) and one entry here.
ALGORITHMS = registry(sgd.ALGORITHM, cp.ALGORITHM, mbgd.ALGORITHM, asgd.ALGORITHM, downpour.ALGORITHM,
                      hogwild.ALGORITHM, allreduce.ALGORITHM, dni.ALGORITHM, gpipe.GPIPE, gpipe.ONE_F_ONE_B,
                      pipedream.ALGORITHM, pipedream.TWO_BW, pipemare.ALGORITHM,
                      zerobubble.ALGORITHM)


def make_schedule(training, n_layers: int, n_samples: int) -> Schedule:
    """The schedule of a pipeline-family algorithm, from a scenario's validated `training` section."""
    algorithm = ALGORITHMS[training.algorithm]
    if algorithm.schedule is None:
        raise ValueError(f"{algorithm.name} is not a layer-pipeline algorithm")
    return algorithm.schedule(training.options, n_layers, n_samples)


__all__ = ["ALGORITHMS", "ALLREDUCE", "PARAMETER_SERVER", "PIPELINE", "Algorithm", "ContinuousPropagation",
           "MinibatchGD", "SGD", "Schedule", "make_schedule"]
