"""Build the programs of a run on the chip: layer programs, worker layers, shards and I/O ports."""

from __future__ import annotations

import numpy as np

from .algorithms.allreduce import RingLayer
from .algorithms.pipeline import LayerProgram, Port, Recorder
from .algorithms.shard import ShardProgram
from .algorithms.store import ParameterStore
from .algorithms.worker import WorkerLayer
from .config import Scenario
from .hardware.chip import Chip
from .hardware.cost import update_macs
from .hardware.mesh import Coord
from .layout import Layout
from .memory import param_bytes
from .training.data import Dataset
from .training.optimizers import make_optimizer


def assemble(scenario: Scenario, layout: Layout, data: Dataset, order: np.ndarray, chip: Chip,
             weights: list[np.ndarray], biases: list[np.ndarray], recorder: Recorder) -> tuple[dict, list[Port]]:
    """Put a program on every PE of `layout`; return {coord: program} and the ports to start.

    `weights` and `biases` become the arrays the run evaluates and saves: the layers' own
    (pipelined), the shards' master copy (parameter server) or worker 1's (all-reduce).
    """
    t, m = scenario.training, scenario.model
    arithmetic = not scenario.timing_only
    half_life = t.lr_half_life_epochs * len(data.y_train) if t.lr_half_life_epochs else None
    server_momentum = t.momentum if t.parameter_server else 0.0
    worker_momentum = t.momentum - server_momentum

    def port_for(w: int) -> Port:
        pes = layout.worker(w)
        stream = layout.schedules[w - 1].stream if t.data_parallel else None
        return Port(chip, data.X_train, data.y_train, order, pes[0].coord, pes[-1].coord, arithmetic, stream)

    def layer_args(w: int, k: int, W: np.ndarray, b: np.ndarray, port: Port) -> dict:
        pes = layout.worker(w)
        return dict(chip=chip, schedule=layout.schedules[w - 1], layer=k, coords=[p.coord for p in pes], W=W, b=b,
                    activation=m.activation, bias=m.bias,
                    optimizer=make_optimizer(t.learning_rate, worker_momentum, half_life),
                    momentum=worker_momentum > 0, port=port, recorder=recorder, arithmetic=arithmetic,
                    memory=pes[k - 1].memory)

    programs: dict[Coord, object] = {}
    ports = []
    n_workers = t.workers if t.data_parallel else 1
    # All-reduce: samples of each global batch, over all workers (the count each step's mean divides by).
    step_samples = []
    if t.algorithm == "allreduce":
        n_steps = len(layout.schedules[0].batches)
        step_samples = [sum(len(s.batches[i]) for s in layout.schedules) for i in range(n_steps)]
    for w in range(1, n_workers + 1):
        port = port_for(w)
        ports.append(port)
        for p in layout.worker(w):
            k = p.layer
            own = w == 1 and not t.parameter_server  # worker 1 (or the pipeline) trains the run's own arrays
            W, b = (weights[k - 1], biases[k - 1]) if own else (weights[k - 1].copy(), biases[k - 1].copy())
            args = layer_args(w, k, W, b, port)
            n_in, n_out = W.shape[1], W.shape[0]
            if not t.data_parallel:
                program = LayerProgram(**args)
            elif t.algorithm == "allreduce":
                ring = [q.coord for q in layout.of_role("worker") if q.layer == k]
                program = RingLayer(worker=w, ring=ring, batch_samples=step_samples, reports=w == 1, **args)
            else:
                shard = next(q.coord for q in layout.of_role("shard") if q.layer == k)
                program = WorkerLayer(worker=w, shard=shard, variant=t.algorithm, param_bytes=param_bytes(n_in, n_out, m.bias),
                                      n_fetch=t.n_fetch, n_push=t.n_push, **args)
            programs[p.coord] = program

    for p in layout.of_role("shard"):
        k = p.layer
        W, b = weights[k - 1], biases[k - 1]
        n_in, n_out = W.shape[1], W.shape[0]
        store = ParameterStore(W, b, m.bias, make_optimizer(t.learning_rate, server_momentum, half_life),
                               t.staleness_aware)
        workers = [q.coord for q in layout.of_role("worker") if q.layer == k]
        programs[p.coord] = ShardProgram(
            chip=chip, coord=p.coord, layer=k, store=store, workers=workers, lock_free=t.algorithm == "hogwild",
            cycles_U=chip.op_cycles(update_macs(n_in, n_out, m.bias, server_momentum > 0)),
            cycles_S=scenario.hardware.pe.op_overhead_cycles, param_bytes=param_bytes(n_in, n_out, m.bias),
            recorder=recorder, memory=p.memory, arithmetic=arithmetic)

    for coord, program in programs.items():
        chip.add_pe(coord, program)
    return programs, ports
