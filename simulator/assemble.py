"""Build the programs of a run on the chip: layer programs, worker layers, shards and I/O ports."""

from __future__ import annotations

import numpy as np

from . import layers
from .algorithms import ALLREDUCE
from .algorithms.allreduce import Ring
from .algorithms.dni_program import ModuleProgram
from .algorithms.pipeline import LayerProgram, Port, Recorder
from .algorithms.region_program import BlockProgram
from .algorithms.shard import ShardProgram
from .algorithms.store import ParameterStore
from .config import Scenario
from .hardware.chip import Chip
from .hardware.mesh import Coord
from .layers.block import RegionArrays
from .layout import Layout, Placed
from .memory import builds_gradient
from .region_layout import block_spans, port_targets, wiring
from .training.data import Dataset


def assemble(scenario: Scenario, layout: Layout, data: Dataset, order: np.ndarray, chip: Chip,
             weights: list[np.ndarray], biases: list[np.ndarray], recorder: Recorder) -> tuple[dict, list[Port], dict]:
    """Put a program on every PE of `layout`; return {coord: program}, the ports to start,
    and {layer k: the layer object whose arrays and optimizer state the run saves}.

    `weights` and `biases` become the arrays the run evaluates and saves: the layers' own
    (pipelined), the shards' master copy (parameter server) or worker 1's (all-reduce).
    """
    t = scenario.training
    algorithm = t.spec
    arithmetic = not scenario.timing_only

    def layer_object(p: Placed, own: bool, flat: bool = False):
        k = p.layer
        W, b = (weights[k - 1], biases[k - 1]) if own else (weights[k - 1].copy(), biases[k - 1].copy())
        schedule = layout.schedules[(p.worker or 1) - 1]
        builds = p.role == "shard" or builds_gradient(schedule, p.optimizer, p.shape)
        return layers.build(p.shape, W, b, p.optimizer, arithmetic, builds, flat)

    if layout.regions is not None:
        return assemble_regions(scenario, layout, data, order, chip, weights, biases, recorder)
    programs: dict[Coord, object] = {}
    saved: dict[int, object] = {}
    ports = []
    n_workers = t.options.workers if algorithm.data_parallel else 1
    # All-reduce: samples of each global batch, over all workers (the count each step's mean divides by),
    # and one ring per layer, shared by that layer's N workers (built once: N coordinates and N chunks).
    step_samples, rings = [], {}
    if algorithm.family == ALLREDUCE:
        n_steps = len(layout.schedules[0].batches)
        step_samples = [sum(len(s.batches[i]) for s in layout.schedules) for i in range(n_steps)]
        rings = {p.layer: Ring([q.coord for q in layout.of_layer("worker", p.layer)], p.shape.param_count, chip)
                 for p in layout.worker(1)}
    for w in range(1, n_workers + 1):
        pes = layout.worker(w)
        coords = [q.coord for q in pes]  # shared by the worker's layers (a list per PE would cost D^2)
        stream = layout.schedules[w - 1].stream if algorithm.data_parallel else None
        port = Port(chip, data.X_train, data.y_train, order, pes[0].coord, pes[-1].coord, stream)
        ports.append(port)
        for p in pes:
            own = w == 1 and not algorithm.parameter_server  # worker 1 (or the pipeline) trains the run's own arrays
            layer = layer_object(p, own, flat=algorithm.family == ALLREDUCE)
            if own:
                saved[p.layer] = layer
            args = dict(chip=chip, schedule=layout.schedules[w - 1], k=p.layer, coords=coords,
                        layer=layer, port=port, recorder=recorder, memory=p.memory)
            if not algorithm.data_parallel and algorithm.layer_program is not None:
                program = algorithm.layer_program(scenario=scenario, **args)
                if program.wants_labels:
                    port.label_to(p.coord)
            elif not algorithm.data_parallel:
                program = LayerProgram(**args)
            elif algorithm.family == ALLREDUCE:
                program = algorithm.program(worker=w, ring=rings[p.layer], batch_samples=step_samples,
                                            reports=w == 1, **args)
            else:
                shard = layout.of_layer("shard", p.layer)[0].coord
                program = algorithm.program(worker=w, shard=shard, options=t.options, **args)
            programs[p.coord] = program

    for p in layout.of_role("shard"):
        layer = layer_object(p, own=True)
        saved[p.layer] = layer
        workers = [q.coord for q in layout.of_layer("worker", p.layer)]
        programs[p.coord] = ShardProgram(
            chip=chip, coord=p.coord, k=p.layer, store=ParameterStore(layer, t.staleness_aware), workers=workers,
            lock_free=algorithm.lock_free, cycles_U=chip.op_cycles(layers.update_macs(p.shape, p.optimizer)),
            cycles_S=scenario.hardware.pe.op_overhead_cycles, param_bytes=layers.param_bytes(p.shape),
            recorder=recorder, memory=p.memory)

    for p in layout.of_role("synthetic"):  # dni's modules on PEs of their own, next to their layers
        layer_at = layout.of_layer("layer", p.layer)[0].coord
        module = ModuleProgram(scenario=scenario, schedule=layout.schedules[0], chip=chip, coord=p.coord, k=p.layer,
                               width=p.shape.output_floats, layer_at=layer_at, memory=p.memory)
        programs[layer_at].attach(module)
        if p.layer + 1 <= scenario.n_layers:  # the layer above sends M_k its targets
            programs[layout.of_layer("layer", p.layer + 1)[0].coord].delta_to = p.coord
        if module.wants_labels:
            ports[0].label_to(p.coord)
        programs[p.coord] = module

    for coord, program in programs.items():
        chip.add_pe(coord, program)
    return programs, ports, saved


def assemble_regions(scenario: Scenario, layout: Layout, data: Dataset, order: np.ndarray, chip: Chip,
                     weights: list[np.ndarray], biases: list[np.ndarray], recorder: Recorder):
    """`assemble` on layer regions: a BlockProgram on every PE of every region, each block holding its
    piece of the run's W_k and b_k (gathered back by the RegionArrays that `saved` maps layer k to)."""
    arithmetic = not scenario.timing_only
    schedule, regions = layout.schedules[0], layout.regions
    shapes = layers.network_shapes(scenario.model)
    wires = wiring(shapes, regions)
    anchors = layout.worker(1)
    coords = [p.coord for p in anchors]
    port = Port(chip, data.X_train, data.y_train, order, coords[0], coords[-1],
                pieces=port_targets(shapes[0], regions[0]))
    programs: dict[Coord, object] = {}
    saved: dict[int, object] = {}
    for k, (shape, region) in enumerate(zip(shapes, regions), start=1):
        pes = {p.coord: p for p in layout.of_layer("layer", k) + layout.of_layer("block", k)}

        def make(p: Placed, W: np.ndarray, b: np.ndarray):
            builds = builds_gradient(schedule, p.optimizer, p.shape)
            return layers.build(p.shape, W, b, p.optimizer, arithmetic, builds)

        saved[k] = arrays = RegionArrays.split(weights[k - 1], biases[k - 1], block_spans(shape, region),
                                               lambda rc, W, b: make(pes[region.coord(*rc)], W, b))
        for rc, layer in arrays.layers.items():
            coord = region.coord(*rc)
            programs[coord] = BlockProgram(wiring=wires[coord], chip=chip, schedule=schedule, k=k, coords=coords,
                                           layer=layer, port=port, recorder=recorder, memory=pes[coord].memory)
    for coord, program in programs.items():
        chip.add_pe(coord, program)
    return programs, [port], saved
