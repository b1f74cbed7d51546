"""Hogwild (Recht et al. 2011) on a parameter server: lock-free reads in the middle of updates."""

from __future__ import annotations

from .dataparallel import ParameterServerOptions
from .registry import PARAMETER_SERVER, Algorithm
from .worker import PushLayer


class HogwildLayer(PushLayer):
    """The layer pushes and at once asks for the weights; the lock-free shard answers on
    arrival, possibly in the middle of another worker's update (see `shard.py`)."""

    waits_for_weights = False
    pulls_after_push = True


ALGORITHM = Algorithm(
    name="hogwild", summary="lock-free shards: reads see updates in progress row by row",
    options=ParameterServerOptions, family=PARAMETER_SERVER, program=HogwildLayer, lock_free=True)
