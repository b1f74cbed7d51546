"""Which PEs a scenario occupies, what each one holds, and the SRAM each needs at most.

Layer-pipelined algorithms (SGD, CP, MBGD) put layer k on one PE. Data-parallel ones put
layer k of each worker on its own PE and, with a parameter server, layer k's shard on
another; see `placement.place_data_parallel` for the order.
"""

from __future__ import annotations

from dataclasses import dataclass

from .algorithms import Schedule, make_schedule
from .algorithms.dataparallel import DataParallel, synchronous_samples, worker_batches
from .config import ConfigError, Scenario
from .hardware.mesh import Coord
from .memory import LayerMemory, layer_memory, param_bytes, shard_memory, worker_exchange_bytes
from .placement import place, place_data_parallel


@dataclass(frozen=True)
class Placed:
    """One PE in use: where it is, what it holds and the most SRAM it needs."""

    coord: Coord
    role: str  # "layer" (pipelined), "worker" or "shard"
    worker: int | None  # 1-based, for workers
    layer: int  # 1-based
    memory: LayerMemory

    @property
    def label(self) -> str:
        """Short text for maps and messages: 'L2', 'W1 L2' or 'S2'."""
        return {"layer": f"L{self.layer}", "worker": f"W{self.worker} L{self.layer}", "shard": f"S{self.layer}"}[self.role]

    @property
    def description(self) -> str:
        return {"layer": f"layer {self.layer}", "worker": f"worker {self.worker}'s layer {self.layer}",
                "shard": f"the shard of layer {self.layer}"}[self.role]


@dataclass(frozen=True)
class Layout:
    """The PEs of a run: `schedules[w]` is worker w+1's (or the single pipeline's) schedule."""

    placed: list[Placed]
    schedules: list[Schedule]
    n_samples: int  # samples the run trains on (all-reduce rounds down to a multiple of the workers)

    def of_role(self, role: str) -> list[Placed]:
        return [p for p in self.placed if p.role == role]

    def worker(self, w: int) -> list[Placed]:
        """Worker w's PEs (1-based), layer 1 first; the pipeline's layers for w = 1 when there are no workers."""
        return [p for p in self.placed if p.role == "layer" or (p.role == "worker" and p.worker == w)]


def _widths(scenario: Scenario):
    m = scenario.model
    return list(enumerate(zip(m.layers[:-1], m.layers[1:]), start=1))


def layout(scenario: Scenario, n_samples: int) -> Layout:
    """Place the scenario's programs on the mesh and bound their SRAM."""
    t, m, mesh = scenario.training, scenario.model, scenario.hardware.mesh
    momentum = t.momentum > 0
    if not t.data_parallel:
        schedule = make_schedule(t, scenario.n_layers, n_samples)
        coords = place(scenario.placement, mesh.rows, mesh.cols, scenario.n_layers)
        placed = [Placed(coord, "layer", None, k, layer_memory(schedule, k, n_in, n_out, m.bias, momentum))
                  for coord, (k, (n_in, n_out)) in zip(coords, _widths(scenario))]
        return Layout(placed, [schedule], n_samples)

    synchronous = t.algorithm == "allreduce"
    if synchronous:
        n_samples = synchronous_samples(n_samples, t.workers)
    batches = worker_batches(n_samples, t.workers, t.batch_size, synchronous)
    schedules = [DataParallel(scenario.n_layers, b) for b in batches]
    regions, shards = place_data_parallel(scenario.placement, mesh.rows, mesh.cols, scenario.n_layers, t.workers,
                                          t.parameter_server)
    local_momentum = momentum and synchronous  # under a parameter server, momentum lives on the shard
    placed = []
    for w, (coords, schedule) in enumerate(zip(regions, schedules), start=1):
        for coord, (k, (n_in, n_out)) in zip(coords, _widths(scenario)):
            exchange = worker_exchange_bytes(t.algorithm, param_bytes(n_in, n_out, m.bias), t.workers)
            placed.append(Placed(coord, "worker", w, k,
                                 layer_memory(schedule, k, n_in, n_out, m.bias, local_momentum, exchange)))
    for coord, (k, (n_in, n_out)) in zip(shards, _widths(scenario)):
        placed.append(Placed(coord, "shard", None, k, shard_memory(k, n_in, n_out, m.bias, momentum, t.workers)))
    return Layout(placed, schedules, n_samples)


def check_memory(scenario: Scenario, placed: list[Placed], source: str) -> list[dict]:
    """Raise ConfigError for PEs whose SRAM bound exceeds the PE, unless overflow is allowed; return the overflows."""
    sram = scenario.hardware.pe.sram_bytes
    widths = scenario.model.layers
    over = [p for p in placed if p.memory.total > sram]
    if over and not scenario.allow_sram_overflow:
        problems = [("hardware.pe.sram_bytes",
                     f"{p.description} ({widths[p.layer - 1]}->{widths[p.layer]} on PE {list(p.coord)}) needs "
                     f"{p.memory.total:,} bytes of SRAM ({p.memory.describe()}) but a PE has {sram:,}; raise "
                     "hardware.pe.sram_bytes, narrow model.layers, or set allow_sram_overflow: true to study the "
                     "hypothetical chip anyway") for p in over]
        raise ConfigError(source, problems)
    return [{"layer": p.layer, "role": p.role, "worker": p.worker, "row": p.coord[0], "col": p.coord[1],
             "bytes_needed": p.memory.total, "bytes_available": sram} for p in over]
