"""The table of training algorithms: each algorithm module declares one `Algorithm` and `__init__` lists them.

An algorithm states everything the rest of the simulator asks about it: its own keys of
the `training` section (a pydantic model; keys of other algorithms are refused), its
family (which decides how the layout places it and which programs run), its schedule
(pipeline family) or worker program (data parallel), and the facts the optimizer checks
read. Nothing outside the algorithm's module compares its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..schema import Strict

PIPELINE = "pipeline"  # one copy of the network, layer k on one PE
PARAMETER_SERVER = "parameter_server"  # worker replicas plus one shard PE per layer
ALLREDUCE = "allreduce"  # worker replicas that sum their gradients in a ring


def no_exchange(param_bytes: int, workers: int) -> int:
    return 0


@dataclass(frozen=True)
class Algorithm:
    """One training algorithm, as the simulator sees it."""

    name: str
    summary: str  # one line, for the README and error messages
    options: type[Strict]  # its keys of the training section, with defaults
    family: str  # PIPELINE | PARAMETER_SERVER | ALLREDUCE
    # Updates apply minibatch-mean gradients computed with one weight version, in order,
    # each on the weights the next gradient is computed with: conjugate-gradient directions need that.
    in_order_minibatches: bool = False
    schedule: Callable | None = None  # (options, n_layers, n_samples) -> Schedule, pipeline family
    program: type | None = None  # the worker layer program, data-parallel families
    lock_free: bool = False  # shards answer reads without waiting for the update in progress
    exchange_bytes: Callable[[int, int], int] = field(default=no_exchange)  # (param bytes, workers) -> worker buffers
    layer_program: type | None = None  # pipeline family: a LayerProgram subclass (given the scenario), if not the plain one
    check: Callable | None = None  # (options, n_layers) -> why the options do not fit the network, or None
    optimizer_check: Callable | None = None  # (options, optimizer section) -> why they do not fit together, or None

    @property
    def data_parallel(self) -> bool:
        return self.family != PIPELINE

    @property
    def parameter_server(self) -> bool:
        return self.family == PARAMETER_SERVER

    def keys(self) -> list[str]:
        return list(self.options.model_fields)


def registry(*algorithms: Algorithm) -> dict[str, Algorithm]:
    """Name -> algorithm; two algorithms that declare the same key must declare it alike."""
    table: dict[str, Algorithm] = {}
    seen: dict[str, tuple] = {}
    for a in algorithms:
        if a.name in table:
            raise ValueError(f"algorithm {a.name!r} is registered twice")
        table[a.name] = a
        for key, info in a.options.model_fields.items():
            spec = (info.annotation, info.default)
            if seen.setdefault(key, spec) != spec:
                raise ValueError(f"algorithm {a.name!r} declares training.{key} unlike another algorithm")
    return table
