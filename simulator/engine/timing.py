"""The compiled timing pass from Python: a pipelined scenario as arrays, its pass, and what it found.

`TimingPlan.of(scenario, prepared)` turns the layout into the per-layer arrays, routes and
rules `pipeline_pass` takes (the same numbers the event engine's programs compute: op cycles
from `Chip.op_cycles`, windows and gates from the schedule, SRAM from the layout);
`plan.run(...)` runs the pass and returns a `Timeline`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..algorithms.base import DEFAULT_PRIORITY
from ..hardware.cost import op_cycles
from ..hardware.mesh import PORT, Coord, Mesh
from ..algorithms.pipeline import op_macs
from ..layers import FLOAT_BYTES
from . import pipeline_pass as kernel


def unsupported(scenario, layout) -> str | None:
    """Why the compiled engine cannot run this scenario, or None if it can."""
    t = scenario.training
    if t.data_parallel:
        return f"algorithm {t.algorithm} is data-parallel; the compiled engine runs sgd, cp and mbgd"
    schedule = layout.schedules[0]
    if schedule.timing_rules() is None:
        return f"algorithm {t.algorithm}'s schedule has no compiled form"
    if tuple(schedule.priority) != DEFAULT_PRIORITY:
        return f"algorithm {t.algorithm} chooses ops in the order {''.join(schedule.priority)}, not UFB"
    return None


@dataclass
class Timeline:
    """What the timing pass found: the op log, the message log and every counter the metrics need.

    Op columns are per op in the order ops started (layer index 0..D-1, kind code, tag,
    aux bits of `pipeline_pass`; start and end cycles if times were kept); message rows
    src, dst (layer index, -1 the port), sent, arrival, nbytes, kind code, tag.
    """

    op_layer: np.ndarray
    op_kind: np.ndarray
    op_tag: np.ndarray
    op_aux: np.ndarray
    op_start: np.ndarray
    op_end: np.ndarray
    messages: np.ndarray  # (7, n_messages) int64
    busy_cycles: np.ndarray  # per layer
    busy_until: np.ndarray
    pe_ops: np.ndarray
    max_in_flight: np.ndarray
    updates: np.ndarray
    sram_peak: np.ndarray
    stale_layer: np.ndarray  # per update (in the order they started): its layer
    stale_value: np.ndarray  # and its staleness
    link_free: np.ndarray  # per link of `TimingPlan.links`
    link_busy: np.ndarray
    link_messages: np.ndarray
    link_wait: np.ndarray
    traffic: np.ndarray  # (3, 3): x, e, y by messages, bytes, byte-hops
    eval_samples: np.ndarray  # evaluations: samples trained, cycle, ops started before
    eval_cycles: np.ndarray
    eval_ops: np.ndarray
    totals: np.ndarray

    @property
    def now(self) -> int:
        return int(self.totals[kernel.T_NOW])

    @property
    def n_ops(self) -> int:
        return int(self.totals[kernel.T_OPS])

    @property
    def samples_trained(self) -> int:
        return int(self.totals[kernel.T_TRAINED])

    @property
    def status(self) -> int:
        return int(self.totals[kernel.T_STATUS])


@dataclass(frozen=True)
class TimingPlan:
    """A pipelined scenario as the compiled pass's inputs: per-layer arrays, rules, routes and network."""

    coords: list[Coord]  # layer k's PE
    cycles: dict[str, np.ndarray]  # "F", "B", "U" -> per layer
    in_bytes: np.ndarray
    out_bytes: np.ndarray
    window: np.ndarray
    anchored: np.ndarray
    stash_bytes: np.ndarray
    sram_static: np.ndarray
    gate_batch: int
    group_batch: int
    n_samples: int
    route_off: np.ndarray
    route_links: np.ndarray
    links: list[tuple[Coord, Coord]]  # link id -> (src, dst)
    hop_latency: int
    bandwidth: int
    contention: bool
    eval_every: int

    @classmethod
    def of(cls, scenario, layout) -> TimingPlan:
        hw = scenario.hardware
        schedule = layout.schedules[0]
        placed = layout.worker(1)
        D = len(placed)
        coords = [p.coord for p in placed]

        def cycles(macs: int) -> int:
            return op_cycles(macs, hw.pe.macs_per_cycle, hw.pe.op_overhead_cycles)

        def per_layer(f) -> np.ndarray:
            return np.array([f(k, p) for k, p in enumerate(placed, start=1)], dtype=np.int64)

        mesh = Mesh(hw.mesh.rows, hw.mesh.cols)
        link_ids: dict[tuple[Coord, Coord], int] = {}
        # Route 0: port -> layer 0 (x); 1: port -> top (y); 2 + k: layer k -> k+1 (x); 2 + D + k: layer k -> k-1 (e).
        # The top layer sends no x and layer 0 no e: their routes are empty placeholders.
        routes = [(PORT, coords[0]), (PORT, coords[-1])]
        routes += [(coords[k], coords[k + 1]) if k < D - 1 else None for k in range(D)]
        routes += [(coords[k], coords[k - 1]) if k > 0 else None for k in range(D)]
        offsets, flat = [0], []
        for route in routes:
            for link in (mesh.route(*route) if route else []):
                flat.append(link_ids.setdefault(link, len(link_ids)))
            offsets.append(len(flat))
        rules = schedule.timing_rules()
        macs = [op_macs(p.shape, schedule, p.optimizer) for p in placed]  # (F, B, U) per layer
        return cls(
            coords=coords,
            cycles={kind: per_layer(lambda k, p: cycles(macs[k - 1][i])) for i, kind in enumerate("FBU")},
            in_bytes=per_layer(lambda k, p: p.shape.input_floats * FLOAT_BYTES),
            out_bytes=per_layer(lambda k, p: p.shape.output_floats * FLOAT_BYTES),
            window=per_layer(lambda k, p: schedule.window(k)),
            anchored=per_layer(lambda k, p: int(schedule.anchored and not p.shape.first)),
            stash_bytes=per_layer(lambda k, p: p.shape.stash_bytes),
            sram_static=per_layer(lambda k, p: p.memory.static),
            gate_batch=rules.gate_batch, group_batch=rules.group_batch, n_samples=layout.n_samples,
            route_off=np.array(offsets, dtype=np.int64), route_links=np.array(flat, dtype=np.int64),
            links=sorted(link_ids, key=link_ids.get), hop_latency=hw.noc.hop_latency_cycles,
            bandwidth=hw.noc.link_bytes_per_cycle, contention=hw.noc.contention,
            eval_every=scenario.training.eval_every)

    def run(self, max_ops: int = -1, record_ops: bool = True, record_times: bool = True) -> Timeline:
        """The pass over every sample (or up to op number `max_ops`), keeping the logs asked for."""
        out = kernel.pipeline_pass(
            self.cycles["F"], self.cycles["B"], self.cycles["U"], self.in_bytes, self.out_bytes, self.window,
            self.anchored, self.stash_bytes, self.sram_static, self.gate_batch, self.group_batch, self.n_samples,
            self.route_off, self.route_links, len(self.links), self.hop_latency, self.bandwidth, self.contention,
            self.eval_every, max_ops, record_ops, record_times and record_ops)
        return Timeline(*out)
