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
from .placement import PlacementError, place, place_data_parallel
from .algorithms.pipeline import op_macs
from .region_checks import max_blocks, reporting_block, uses_regions
from .region_layout import block_memory, block_shapes, largest_block_candidates
from .regions import PackError, Region, balanced_regions, regions_from_list


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
    region: Region | None = None  # the layer's region, if it has one ("layer": its reporting PE; "block": the others)
    block: tuple[int, int] | None = None  # (r, c) within the region

    @property
    def label(self) -> str:
        """Short text for maps and messages: 'L2', 'W1 L2', 'S2', or a region's block 'L2 1,0'."""
        if self.role == "block":
            return f"L{self.layer} {self.block[0]},{self.block[1]}"
        return {"layer": f"L{self.layer}", "worker": f"W{self.worker} L{self.layer}", "shard": f"S{self.layer}",
                "synthetic": f"M{self.layer}"}[self.role]

    @property
    def description(self) -> str:
        if self.region is not None:
            return f"layer {self.layer}'s block {self.block[0]},{self.block[1]} of its {self.region.describe()} region"
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
    regions: list[Region] | None = None  # layer k's region is regions[k - 1], on layer regions

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
        classes = shapes[-1].output_floats
        lr = make_lr_schedule(t.schedule_config, t.learning_rate, n_train, n_samples)
        own = [schedule.layer_optimizer(k, t.optimizer_config, lr) or main for k in range(1, len(shapes) + 1)]
        if uses_regions(scenario.placement):
            return region_layout(scenario, shapes, schedule, own, n_samples)
        coords = place(scenario.placement, mesh.rows, mesh.cols, scenario.n_layers)
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


def region_layout(scenario: Scenario, shapes: list, schedule: Schedule, own: list, n_samples: int) -> Layout:
    """Every block of every layer's region, the first row's end of each standing for its layer."""
    regions = plan_regions(scenario, shapes, schedule, own)
    placed = []
    for k, (shape, region) in enumerate(zip(shapes, regions), start=1):
        memory: dict = {}  # block shape -> its bound: a region has only a few different blocks
        for (r, c), block in block_shapes(shape, region).items():
            role = "layer" if (r, c) == reporting_block(region.rows, region.cols) else "block"
            bound = memory.get(block)
            if bound is None:
                bound = memory[block] = block_memory(schedule, k, block, own[k - 1])
            placed.append(Placed(region.coord(r, c), role, None, k, block, own[k - 1], bound, region, (r, c)))
    return Layout(placed, [schedule], n_samples, regions)


def plan_regions(scenario: Scenario, shapes: list, schedule: Schedule, own: list) -> list[Region]:
    """The regions the placement asks for: its list, or balanced by each layer's MACs per sample within SRAM."""
    if scenario.placement != "balanced":
        return regions_from_list(scenario.placement)
    mesh, sram = scenario.hardware.mesh, scenario.hardware.pe.sram_bytes
    work = [sum(op_macs(shape, schedule, own[k])) for k, shape in enumerate(shapes)]
    # The top layer's region keeps one row: its softmax reads every logit on one PE.
    dims = [(1 if shape.top else min(R, mesh.rows), min(C, mesh.cols))
            for shape, (R, C) in ((shape, max_blocks(shape)) for shape in shapes)]

    bounds: dict[tuple, int] = {}  # (layer, block shape) -> its SRAM bound: the planner asks of many regions

    def bound(k: int, block) -> int:
        total = bounds.get((k, block))
        if total is None:
            total = bounds[(k, block)] = block_memory(schedule, k + 1, block, own[k]).total
        return total

    def fits(k: int, R: int, C: int) -> bool:
        return max(bound(k, b) for b in largest_block_candidates(shapes[k], Region((0, 0), R, C))) <= sram

    # A layer whose B sends no deltas down (the first) adds nothing along its columns: its region is tall.
    column_sums = [not shape.first for shape in shapes]
    try:
        return balanced_regions(work, fits, dims, mesh.rows, mesh.cols, column_sums, scenario.region_pes)
    except PackError as err:
        key = "placement" if scenario.region_pes is None else "region_pes"
        raise PlacementError(key, f"balanced: {err}") from None


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
