"""The compiled timing pass of layer regions from Python: the blocks as arrays, their sends, the pass, and what it found.

`RegionPlan.of(scenario, layout)` turns a layout on layer regions into what `region_pass`
takes: a row of constants per block (`region_pass.S_*`: its layer, flags, op cycles from
`Chip.op_cycles`, window, bytes, SRAM held throughout) and every message a block or the
port sends per sample, each with its destinations in the order `BlockProgram` sends to
them (`region_layout.wiring`). `plan.begin()` starts a pass that `step`s a chunk of ops at
a time, as `timing.PassRun` does, and `timeline()` gives its counters as a `Timeline`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..algorithms.pipeline import op_macs
from ..algorithms.region_program import sum_op_cycles
from ..hardware.cost import op_cycles
from ..hardware.mesh import Coord
from ..layers import FLOAT_BYTES, network_shapes
from ..region_layout import port_targets, wiring
from ..regions import extent
from . import region_pass as kernel
from .timing import LogChunk, StepwisePass, Timeline

QUEUE_SLACK = 4  # a block's queues hold its own window, or the layer below's, and this many samples more


@dataclass(frozen=True)
class RegionPlan:
    """A timing-only network on layer regions as the compiled pass's inputs; PE p is `coords[p]`,
    in the order of `layout.placed` (layer by layer, each region's blocks row by row)."""

    coords: list[Coord]
    pe_r: np.ndarray  # PE -> its row and column
    pe_c: np.ndarray
    layer_of: np.ndarray  # PE -> its layer, 1-based
    depth: int
    st: np.ndarray  # int64[P, region_pass.N_STATE]: the constant columns filled
    cycles: dict[str, np.ndarray]  # "F", "B", "U", "A" -> per PE (A: its row and column sums' together)
    window: np.ndarray
    send_src: np.ndarray  # per message of the plan: its source PE (-1 the port), kind, bytes, destinations
    send_kind: np.ndarray
    send_bytes: np.ndarray
    dst_off: np.ndarray
    dsts: np.ndarray
    port_first: int  # messages port_first..port_stop-1: what the port sends per sample
    port_stop: int
    max_event_log: int  # the most destinations one event sends to
    rows: int  # the mesh as far as the regions reach (`regions.extent`)
    cols: int
    n_samples: int
    gate_batch: int
    group_batch: int
    hop_latency: int
    bandwidth: int
    contention: bool
    eval_every: int
    all_reduce: bool = False
    logged = kernel.T_LOGGED  # the index in `totals` of the message log rows made (one per destination)

    @property
    def n_links(self) -> int:
        return self.rows * (self.cols + 1) * 4

    @classmethod
    def of(cls, scenario, layout) -> RegionPlan:
        hw, schedule = scenario.hardware, layout.schedules[0]
        shapes = network_shapes(scenario.model)
        wires = wiring(shapes, layout.regions)
        placed = layout.placed
        index = {p.coord: i for i, p in enumerate(placed)}
        P = len(placed)
        st = np.zeros((P, kernel.N_STATE), np.int64)
        cycles = {kind: np.zeros(P, np.int64) for kind in "FBUA"}
        window = np.zeros(P, np.int64)
        sends: list[tuple[int, int, int, list[int]]] = []  # (source, kind, bytes, destinations)

        def send(src: int, kind: int, floats: int, coords) -> int:
            sends.append((src, kind, floats * FLOAT_BYTES, [index[c] for c in coords]))
            return len(sends) - 1

        def cost(macs: int) -> int:
            return op_cycles(macs, hw.pe.macs_per_cycle, hw.pe.op_overhead_cycles)

        windows = [schedule.window(k) for k in range(1, len(shapes) + 1)]
        constants: dict[tuple, tuple] = {}  # (layer, block shape) -> its columns that follow from them

        def constant(k: int, shape, optimizer, static: int) -> tuple:
            macs = op_macs(shape, schedule, optimizer)
            a_row, a_col = sum_op_cycles(shape, cost)
            top = getattr(shape, "top", False) and shape.row_end
            flags = ((kernel.ROW_END if shape.row_end else 0) | (kernel.COL_END if shape.column_end else 0)
                     | (kernel.TOP if top else 0) | (kernel.FIRST if shape.first else 0)
                     | (kernel.ANCHORED if schedule.anchored and shape.backward_reads_weights else 0))
            columns = {kernel.S_LAYER: k - 1, kernel.S_FLAGS: flags, kernel.S_R: shape.column_blocks,
                       kernel.S_C: shape.row_blocks, kernel.S_CF: cost(macs[0]), kernel.S_CB: cost(macs[1]),
                       kernel.S_CU: cost(macs[2]), kernel.S_CAR: a_row, kernel.S_CAC: a_col,
                       kernel.S_WINDOW: windows[k - 1],
                       kernel.S_STASH: shape.stash_bytes, kernel.S_COL_BYTES: shape.n_in * FLOAT_BYTES,
                       kernel.S_ROW_BYTES: shape.n_out * FLOAT_BYTES,
                       kernel.S_ROW_PARTS: 1 + shape.row_children, kernel.S_COL_PARTS: 1 + shape.column_children,
                       kernel.S_CAP: max(windows[k - 1], windows[k - 2] if k > 1 else 0) + QUEUE_SLACK,
                       kernel.S_SRAM: static}
            row = np.zeros(kernel.N_STATE, np.int64)
            row[list(columns)] = list(columns.values())
            return row, shape.row_end, shape.row_blocks > 1, not shape.first and shape.column_blocks > 1 and not shape.column_end

        for i, p in enumerate(placed):
            shape, w, k = p.shape, wires[p.coord], p.layer
            key = (k, shape, p.memory.static)
            found = constants.get(key)
            if found is None:
                found = constants[key] = constant(k, shape, p.optimizer, p.memory.static)
            base, row_end, chained_row, chained_column = found
            row = st[i]
            row[:] = base
            if w.reports:
                row[kernel.S_FLAGS] |= kernel.REPORTS | (kernel.COUNTS if k == 1 else 0)
            row[kernel.S_XP], row[kernel.S_EP] = w.x_pieces, w.e_pieces
            if not row_end:  # its sum to its parent on the row's tree (and below, on the column's)
                row[kernel.S_P_SEND] = len(sends)
                sends.append((i, kernel.P, row[kernel.S_ROW_BYTES], [index[w.row_next]]))
            else:
                row[kernel.S_P_SEND] = -1
            row[kernel.S_D_SEND] = send(i, kernel.D_, shape.n_out, w.row_peers) if row_end and chained_row else -1
            if chained_column:
                row[kernel.S_Q_SEND] = len(sends)
                sends.append((i, kernel.Q, row[kernel.S_COL_BYTES], [index[w.column_next]]))
            else:
                row[kernel.S_Q_SEND] = -1
            row[kernel.S_OUT_OFF], row[kernel.S_OUT_N] = len(sends), len(w.out_routes)
            for route in w.out_routes:
                send(i, kernel.X, route.stop - route.start, route.dsts)
            row[kernel.S_BACK_OFF], row[kernel.S_BACK_N] = len(sends), len(w.back_routes)
            for route in w.back_routes:
                send(i, kernel.E, route.stop - route.start, route.dsts)
        for kind, column in (("F", kernel.S_CF), ("B", kernel.S_CB), ("U", kernel.S_CU)):
            cycles[kind][:] = st[:, column]
        cycles["A"][:] = st[:, kernel.S_CAR] + st[:, kernel.S_CAC]
        window[:] = st[:, kernel.S_WINDOW]
        port_first = len(sends)
        for coords, start, stop in port_targets(shapes[0], layout.regions[0]):
            send(-1, kernel.X, stop - start, coords)
        send(-1, kernel.Y, 1, [layout.worker(1)[-1].coord])
        dst_off = np.zeros(len(sends) + 1, np.int64)
        dst_off[1:] = np.cumsum([len(d) for _, _, _, d in sends])
        fanout = np.diff(dst_off)
        # The most destinations one event sends to: an op's finish (all of a block's sends at most)
        # and, for layer 1's reporting block, the port's next sample.
        per_pe = np.zeros(P, np.int64)
        np.add.at(per_pe, np.array([s for s, _, _, _ in sends[:port_first]], np.int64), fanout[:port_first])
        rules = schedule.timing_rules()
        rows, cols = extent(layout.regions)
        return cls(
            coords=[p.coord for p in placed], pe_r=np.array([p.coord[0] for p in placed], np.int64),
            pe_c=np.array([p.coord[1] for p in placed], np.int64), layer_of=np.array([p.layer for p in placed], np.int64),
            depth=len(shapes), st=st, cycles=cycles, window=window,
            send_src=np.array([s for s, _, _, _ in sends], np.int64),
            send_kind=np.array([kd for _, kd, _, _ in sends], np.int64),
            send_bytes=np.array([b for _, _, b, _ in sends], np.int64), dst_off=dst_off,
            dsts=np.array([d for _, _, _, ds in sends for d in ds], np.int64),
            port_first=port_first, port_stop=len(sends),
            max_event_log=int(per_pe.max(initial=0) + fanout[port_first:].sum()),
            rows=rows, cols=cols, n_samples=layout.n_samples,
            gate_batch=rules.gate_batch, group_batch=rules.group_batch, hop_latency=hw.noc.hop_latency_cycles,
            bandwidth=hw.noc.link_bytes_per_cycle, contention=hw.noc.contention,
            eval_every=scenario.training.eval_every)

    def link_pairs(self, timeline: Timeline, ids: np.ndarray) -> list[tuple[int, tuple[Coord, Coord]]]:
        """(index into the timeline's link arrays, (src, dst)) of the links `ids` (node * 4 + direction)."""
        node, d = np.divmod(ids, 4)
        r, c = np.divmod(node, self.cols + 1)
        c = c - 1
        dr, dc = np.array([0, 0, 1, -1])[d], np.array([1, -1, 0, 0])[d]
        return [(i, ((a, b), (a + x, b + y))) for i, a, b, x, y in
                zip(ids.tolist(), r.tolist(), c.tolist(), dr.tolist(), dc.tolist())]

    def begin(self, max_ops: int = -1, record_ops: bool = True, record_times: bool = True) -> RegionPassRun:
        return RegionPassRun(self, max_ops, record_ops, record_times and record_ops)

    def run(self, max_ops: int = -1, record_ops: bool = True, record_times: bool = True) -> Timeline:
        run = self.begin(max_ops, record_ops, record_times)
        return run.timeline(run.step())


class RegionPassRun(StepwisePass):
    """A region timing pass under way (`region_pass.new_state`), advanced by `step` as `timing.PassRun` is."""

    kernel = kernel

    def __init__(self, plan: RegionPlan, max_ops: int, record_ops: bool, record_times: bool):
        self.plan, self.max_ops, self.record_ops, self.record_times = plan, max_ops, record_ops, record_times
        self.state = kernel.new_state(plan.st.copy(), plan.depth, plan.n_samples, plan.n_links)
        P, n = len(plan.coords), plan.n_samples
        # Per block an F, a B and a U per sample at most, and an A per sample at a row's or column's end.
        self.all_ops = 5 * P * n + 1 if max_ops < 0 else min(5 * P * n + 1, max_ops)
        self.all_messages = int(plan.dst_off[-1]) * n + 1

    def step(self, max_log_ops: int | None = None) -> LogChunk:
        plan, totals = self.plan, self.totals
        first_op, first_message = int(totals[kernel.T_OPS]), int(totals[kernel.T_LOGGED])
        if max_log_ops is None:
            cap_ops, cap_messages = self.all_ops + 1, self.all_messages + plan.max_event_log
        else:
            if self.max_ops >= 0:
                raise ValueError("a pass cut at an op is run whole, not in steps")
            cap_ops, cap_messages = max_log_ops, 4 * max_log_ops + plan.max_event_log
        ops = cap_ops if self.record_ops else 0
        times = ops if self.record_times else 0
        logs = (np.empty(ops, np.int32), np.empty(ops, np.int8), np.empty(ops, np.int64),
                np.empty(times, np.int64), np.empty(times, np.int64),
                np.empty((7, cap_messages if self.record_times else 0), np.int64))
        heap, batch, evals = kernel.region_pass(
            self.state, plan.depth, plan.n_samples, plan.gate_batch, plan.group_batch, plan.send_src, plan.send_kind,
            plan.send_bytes, plan.dst_off, plan.dsts, plan.pe_r, plan.pe_c, plan.cols, plan.port_first, plan.port_stop,
            plan.hop_latency, plan.bandwidth, plan.contention, plan.eval_every, self.max_ops, max_log_ops or 0,
            plan.max_event_log, self.record_ops, self.record_times, *logs)
        self.state = self.state[:-3] + (batch, heap, evals)
        k = int(totals[kernel.T_OPS]) - first_op if self.record_ops else 0
        kt = k if self.record_times else 0
        m = int(totals[kernel.T_LOGGED]) - first_message if self.record_times else 0
        return LogChunk(first_op, int(totals[kernel.T_OPS]), logs[0][:k], logs[1][:k], logs[2][:k],
                        np.zeros(k, np.int64), logs[3][:kt], logs[4][:kt], first_message, logs[5][:, :m])

    def timeline(self, logs: LogChunk | None = None) -> Timeline:
        st, totals, links = self.field("st"), self.totals, self.field("links")
        n_evals, n_updates = int(totals[kernel.T_N_EVALS]), int(totals[kernel.T_N_UPDATES])
        evals = self.field("evals")
        logs = LogChunk.empty() if logs is None else logs
        column = {name: st[:, getattr(kernel, f"S_{name.upper()}")].copy() for name in (
            "busy_cycles", "busy_until", "pe_ops", "max_in_flight", "updates", "sram_peak")}
        return Timeline(**vars(logs), **column, reduce_ops=np.zeros(len(st), np.int64),
                        stale_layer=self.field("stale_layer")[:n_updates],
                        stale_value=self.field("stale_value")[:n_updates], link_free=links[:, kernel.L_FREE],
                        link_busy=links[:, kernel.L_BUSY], link_messages=links[:, kernel.L_MSGS],
                        link_wait=links[:, kernel.L_WAIT], traffic=self.field("traffic"),
                        eval_samples=evals[0, :n_evals], eval_cycles=evals[1, :n_evals], eval_ops=evals[2, :n_evals],
                        totals=totals)
