"""Which PEs a scenario occupies, what each one holds, its optimizer, and the SRAM each needs at most.

Layer-pipelined algorithms (SGD, CP, MBGD) put layer k on one PE. Data-parallel ones put
layer k of each worker on its own PE and, with a parameter server, layer k's shard on
another; see `placement.place_data_parallel` for the order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from .algorithms import ALLREDUCE, Schedule, make_schedule
from .algorithms.dataparallel import DataParallel, synchronous_samples, worker_batches
from .config import ConfigError, Scenario, TrainingConfig
from .hardware.mesh import Coord
from .layers import DenseShape, network_shapes, param_bytes
from .memory import LayerMemory, layer_memory, shard_memory
from .optimizers import SGDConfig, Transform, make_optimizer, make_schedule as make_lr_schedule
from .placement import place, place_data_parallel


@dataclass(frozen=True)
class Placed:
    """One PE in use: where it is, what it holds, the optimizer it updates with, and the most SRAM it needs."""

    coord: Coord
    role: str  # "layer" (pipelined), "worker" or "shard"
    worker: int | None  # 1-based, for workers
    layer: int  # 1-based
    shape: DenseShape
    optimizer: Transform
    memory: LayerMemory

    @property
    def label(self) -> str:
        """Short text for maps and messages: 'L2', 'W1 L2' or 'S2'."""
        return {"layer": f"L{self.layer}", "worker": f"W{self.worker} L{self.layer}", "shard": f"S{self.layer}",
                "synthetic": f"M{self.layer}"}[self.role]

    @property
    def description(self) -> str:
        return {"layer": f"layer {self.layer}", "worker": f"worker {self.worker}'s layer {self.layer}",
                "shard": f"the shard of layer {self.layer}"}[self.role]


@dataclass(frozen=True)
class Layout:
    """The PEs of a run: `schedules[w]` is worker w+1's (or the single pipeline's) schedule.

    A layout holds pipeline layers or data-parallel workers (and shards), never both. The
    look-ups below go through indexes built once, so asking for every worker's PEs, or for
    every layer's ring, costs time linear in the PEs rather than quadratic.
    """

    placed: list[Placed]
    schedules: list[Schedule]
    n_samples: int  # samples the run trains on (all-reduce rounds down to a multiple of the workers)

    @cached_property
    def _index(self) -> dict[tuple, list[Placed]]:
        """("role", role), ("layer", role, k) and ("worker", w) -> those PEs, in the order of `placed`."""
        index: dict[tuple, list[Placed]] = defaultdict(list)
        for p in self.placed:
            index[("role", p.role)].append(p)
            index[("layer", p.role, p.layer)].append(p)
            if p.role == "worker":
                index[("worker", p.worker)].append(p)
        return dict(index)

    def of_role(self, role: str) -> list[Placed]:
        return list(self._index.get(("role", role), ()))

    def of_layer(self, role: str, k: int) -> list[Placed]:
        """The PEs of `role` that hold layer k, in worker order (each worker's layer k, or layer k's shard)."""
        return list(self._index.get(("layer", role, k), ()))

    def worker(self, w: int) -> list[Placed]:
        """Worker w's PEs (1-based), layer 1 first; the pipeline's layers for w = 1 when there are no workers."""
        return list(self._index.get(("role", "layer")) or self._index.get(("worker", w), ()))


def optimizers(training: TrainingConfig, n_train: int, n_samples: int) -> tuple[Transform, Transform]:
    """(the scenario's optimizer, plain SGD) with its learning-rate schedule. The first runs on
    pipeline layers, shards and all-reduce replicas; the second on parameter-server workers
    (Downpour's local steps; asgd and hogwild workers never step)."""
    schedule = make_lr_schedule(training.schedule_config, training.learning_rate, n_train, n_samples)
    return make_optimizer(training.optimizer_config, schedule), make_optimizer(SGDConfig(), schedule)


def layout(scenario: Scenario, n_samples: int, n_train: int) -> Layout:
    """Place the scenario's programs on the mesh, give each its optimizer and bound its SRAM."""
    t, mesh = scenario.training, scenario.hardware.mesh
    shapes = network_shapes(scenario.model)
    algorithm = t.spec
    if not algorithm.data_parallel:
        main, _ = optimizers(t, n_train, n_samples)
        schedule = make_schedule(t, scenario.n_layers, n_samples)
        coords = place(scenario.placement, mesh.rows, mesh.cols, scenario.n_layers)
        classes = shapes[-1].output_floats
        lr = make_lr_schedule(t.schedule_config, t.learning_rate, n_train, n_samples)
        own = [schedule.layer_optimizer(k, t.optimizer_config, lr) or main for k in range(1, len(shapes) + 1)]
        placed = [Placed(coord, "layer", None, k, shape, own[k - 1],
                         layer_memory(schedule, k, shape, own[k - 1], classes=classes))
                  for k, (coord, shape) in enumerate(zip(coords, shapes), start=1)]
        placed += [Placed(coord, "synthetic", None, k, shapes[k - 1], schedule.optimizer,
                          schedule.side_pe_memory(k, shapes[k - 1], classes))
                   for k, coord in schedule.side_pes(coords, mesh.rows, mesh.cols).items()]
        return Layout(placed, [schedule], n_samples)

    options = t.options
    synchronous = algorithm.family == ALLREDUCE
    if synchronous:
        n_samples = synchronous_samples(n_samples, options.workers)
    main, local = optimizers(t, n_train, n_samples)
    worker_optimizer = main if synchronous else local
    batches = worker_batches(n_samples, options.workers, options.batch_size, synchronous)
    schedules = [DataParallel(scenario.n_layers, b) for b in batches]
    regions, shards = place_data_parallel(scenario.placement, mesh.rows, mesh.cols, scenario.n_layers,
                                          options.workers, algorithm.parameter_server)
    placed = []
    for w, (coords, schedule) in enumerate(zip(regions, schedules), start=1):
        for k, (coord, shape) in enumerate(zip(coords, shapes), start=1):
            exchange = algorithm.exchange_bytes(param_bytes(shape), options.workers)
            placed.append(Placed(coord, "worker", w, k, shape, worker_optimizer,
                                 layer_memory(schedule, k, shape, worker_optimizer, exchange)))
    for k, (coord, shape) in enumerate(zip(shards, shapes), start=1):
        placed.append(Placed(coord, "shard", None, k, shape, main, shard_memory(k, shape, main, options.workers)))
    return Layout(placed, schedules, n_samples)


def check_memory(scenario: Scenario, placed: list[Placed], source: str) -> list[dict]:
    """Raise ConfigError for PEs whose SRAM bound exceeds the PE, unless overflow is allowed; return the overflows."""
    sram = scenario.hardware.pe.sram_bytes
    over = [p for p in placed if p.memory.total > sram]
    if over and not scenario.allow_sram_overflow:
        problems = [("hardware.pe.sram_bytes",
                     f"{p.description} ({p.shape.describe()} on PE {list(p.coord)}) needs "
                     f"{p.memory.total:,} bytes of SRAM ({p.memory.describe()}) but a PE has {sram:,}; raise "
                     "hardware.pe.sram_bytes, narrow model.layers, or set allow_sram_overflow: true to study the "
                     "hypothetical chip anyway") for p in over]
        raise ConfigError(source, problems)
    return [{"layer": p.layer, "role": p.role, "worker": p.worker, "row": p.coord[0], "col": p.coord[1],
             "bytes_needed": p.memory.total, "bytes_available": sram} for p in over]
