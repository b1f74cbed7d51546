"""The compiled timing pass from Python: a pipelined scenario as arrays, its pass, and what it found.

`TimingPlan.of(scenario, prepared)` turns the layout into the per-layer arrays, routes and
rules `pipeline_pass` takes (the same numbers the event engine's programs compute: op cycles
from `Chip.op_cycles`, windows and gates from the schedule, SRAM from the layout);
`plan.run(...)` runs the pass and returns a `Timeline`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..algorithms import ALLREDUCE
from ..algorithms.allreduce import ring_chunks
from ..algorithms.base import DEFAULT_PRIORITY
from ..hardware.cost import op_cycles
from ..hardware.mesh import PORT, Coord, Mesh
from ..algorithms.pipeline import op_macs
from ..layers import FLOAT_BYTES
from . import pipeline_pass as kernel


def unsupported(scenario, layout) -> str | None:
    """Why the compiled engine cannot run this scenario, or None if it can."""
    t = scenario.training
    if t.data_parallel and t.spec.family != ALLREDUCE:
        return (f"algorithm {t.algorithm} is a parameter-server algorithm; the compiled engine runs sgd, cp, "
                "mbgd and allreduce")
    if layout.regions is not None:
        if not scenario.timing_only:
            return ("the compiled engine times layer regions without arithmetic (timing_only: true); with "
                    "arithmetic they run on the event engine")
        return None  # `region_pass` (sgd, cp and mbgd: the algorithms regions take, `region_checks`)
    kinds = sorted({p.shape.kind for p in layout.placed} - {"dense"})
    if kinds:
        return f"the compiled engine runs dense layers; this network has {' and '.join(kinds)} layers"
    schedule = layout.schedules[0]
    if any(s.timing_rules() is None for s in layout.schedules):
        return schedule.why_uncompiled() or f"algorithm {t.algorithm}'s schedule has no compiled form"
    if tuple(schedule.priority) != DEFAULT_PRIORITY:
        return f"algorithm {t.algorithm} chooses ops in the order {''.join(schedule.priority)}, not UFB"
    return None


@dataclass
class LogChunk:
    """The ops a step of a pass started (ops first_op..stop_op-1, in order) and the messages it
    sent (first_message..), with their logs if the pass keeps them."""

    first_op: int
    stop_op: int
    op_layer: np.ndarray
    op_kind: np.ndarray
    op_tag: np.ndarray
    op_aux: np.ndarray
    op_start: np.ndarray
    op_end: np.ndarray
    first_message: int
    messages: np.ndarray  # (7, n)

    @classmethod
    def empty(cls) -> LogChunk:
        """No ops and no messages logged."""
        none = np.empty(0, np.int64)
        return cls(0, 0, none.astype(np.int32), none.astype(np.int8), none, none, none, none, 0,
                   np.empty((7, 0), np.int64))


@dataclass
class Timeline(LogChunk):
    """What the timing pass found: its logs (a `LogChunk`, from op 0) and every counter the metrics need.

    Op columns are per op in the order ops started (PE index w * D + k, kind code, tag,
    aux bits of `pipeline_pass`; start and end cycles if times were kept); message rows
    src, dst (PE index, -1 the port), sent, arrival, nbytes, kind code, tag. Per-PE arrays
    are indexed the same way.
    """

    busy_cycles: np.ndarray  # per PE
    busy_until: np.ndarray
    pe_ops: np.ndarray
    max_in_flight: np.ndarray
    updates: np.ndarray
    reduce_ops: np.ndarray  # R ops (all-reduce)
    sram_peak: np.ndarray
    stale_layer: np.ndarray  # per update of worker 1 (in the order they started): its layer
    stale_value: np.ndarray  # and its staleness
    link_free: np.ndarray  # per link of `TimingPlan.links`
    link_busy: np.ndarray
    link_messages: np.ndarray
    link_wait: np.ndarray
    traffic: np.ndarray  # (kind codes, 3): messages, bytes, byte-hops of each kind
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
    """A pipelined or all-reduce scenario as the compiled pass's inputs: per-PE arrays, rules, routes and network.

    PE p = w * D + k is layer k (0-based) of worker w (one worker for a pipeline).
    """

    coords: list[Coord]  # PE p's coordinates
    depth: int  # D, layers per worker
    cycles: dict[str, np.ndarray]  # "F", "B", "U" -> per PE
    in_bytes: np.ndarray
    out_bytes: np.ndarray
    window: np.ndarray
    anchored: np.ndarray
    stash_bytes: np.ndarray
    sram_static: np.ndarray
    stream: np.ndarray  # (N, S): worker w's sample ids in the order it trains on them
    ring_cycles: np.ndarray  # (D, N): all-reduce R op cycles of layer k's chunk c
    ring_bytes: np.ndarray  # (D, N): and its bytes
    gate_batch: int
    group_batch: int
    route_off: np.ndarray
    route_links: np.ndarray
    links: list[tuple[Coord, Coord]]  # link id -> (src, dst)
    hop_latency: int
    bandwidth: int
    contention: bool
    eval_every: int
    all_reduce: bool  # the programs are `allreduce.RingLayer`s

    logged = kernel.T_MESSAGES  # the index in `totals` of the message log rows made

    @property
    def workers(self) -> int:
        return self.stream.shape[0]

    @property
    def layer_of(self) -> np.ndarray:
        """PE -> its layer, 1-based."""
        return np.arange(len(self.coords), dtype=np.int64) % self.depth + 1

    def link_pairs(self, timeline: Timeline, ids: np.ndarray) -> list[tuple[int, tuple[Coord, Coord]]]:
        """(index into the timeline's link arrays, (src, dst)) of the links `ids`."""
        return [(i, self.links[i]) for i in ids.tolist()]

    @classmethod
    def of(cls, scenario, layout) -> TimingPlan:
        hw = scenario.hardware
        all_reduce = scenario.training.spec.family == ALLREDUCE
        N = len(layout.schedules)
        workers = [layout.worker(w) for w in range(1, N + 1)]
        placed = [p for pes in workers for p in pes]  # in PE order w * D + k
        D = len(workers[0])
        coords = [p.coord for p in placed]

        def cycles(macs: int) -> int:
            return op_cycles(macs, hw.pe.macs_per_cycle, hw.pe.op_overhead_cycles)

        def per_pe(f) -> np.ndarray:
            return np.array([f(i % D + 1, p, layout.schedules[i // D]) for i, p in enumerate(placed)], dtype=np.int64)

        mesh = Mesh(hw.mesh.rows, hw.mesh.cols)
        link_ids: dict[tuple[Coord, Coord], int] = {}
        # Routes: w the port -> worker w's layer 0 (x); N + w the port -> its top (y); 2N + p PE p -> p+1 (x);
        # 2N + P + p PE p -> p-1 (e); 2N + 2P + p PE p -> the same layer of the next worker (ring). Sends that
        # never happen (the top layer's x, layer 0's e, a ring of one) have empty placeholders.
        P = len(placed)
        routes = [(PORT, pes[0].coord) for pes in workers] + [(PORT, pes[-1].coord) for pes in workers]
        routes += [(coords[i], coords[i + 1]) if i % D < D - 1 else None for i in range(P)]
        routes += [(coords[i], coords[i - 1]) if i % D > 0 else None for i in range(P)]
        routes += [(coords[i], coords[(i + D) % P]) if N > 1 else None for i in range(P)]
        offsets, flat = [0], []
        for route in routes:
            for link in (mesh.route(*route) if route else []):
                flat.append(link_ids.setdefault(link, len(link_ids)))
            offsets.append(len(flat))
        rules = layout.schedules[0].timing_rules()
        macs = [op_macs(p.shape, layout.schedules[0], p.optimizer) for p in workers[0]]  # (F, B, U) per layer
        if all_reduce:
            stream = np.array([s.stream for s in layout.schedules], dtype=np.int64).reshape(N, -1)
        else:
            stream = np.arange(layout.n_samples, dtype=np.int64)[None, :]
        chunks = [ring_chunks(p.shape.param_count, N) for p in workers[0]]  # the ring's chunks (floats) per layer
        return cls(
            coords=coords, depth=D,
            cycles={kind: per_pe(lambda k, p, sch: cycles(macs[k - 1][i])) for i, kind in enumerate("FBU")},
            in_bytes=per_pe(lambda k, p, sch: p.shape.input_floats * FLOAT_BYTES),
            out_bytes=per_pe(lambda k, p, sch: p.shape.output_floats * FLOAT_BYTES),
            window=per_pe(lambda k, p, sch: sch.window(k)),
            anchored=per_pe(lambda k, p, sch: int(sch.anchored and p.shape.backward_reads_weights)),
            stash_bytes=per_pe(lambda k, p, sch: p.shape.stash_bytes),
            sram_static=per_pe(lambda k, p, sch: p.memory.static),
            stream=stream,
            ring_cycles=np.array([[cycles(c.stop - c.start) for c in layer] for layer in chunks], dtype=np.int64),
            ring_bytes=np.array([[(c.stop - c.start) * FLOAT_BYTES for c in layer] for layer in chunks],
                                dtype=np.int64),
            gate_batch=rules.gate_batch, group_batch=rules.group_batch,
            route_off=np.array(offsets, dtype=np.int64), route_links=np.array(flat, dtype=np.int64),
            links=sorted(link_ids, key=link_ids.get), hop_latency=hw.noc.hop_latency_cycles,
            bandwidth=hw.noc.link_bytes_per_cycle, contention=hw.noc.contention,
            eval_every=scenario.training.eval_every, all_reduce=all_reduce)

    def begin(self, max_ops: int = -1, record_ops: bool = True, record_times: bool = True) -> PassRun:
        """A pass over every sample (or up to op number `max_ops`), to be advanced a chunk at a time."""
        return PassRun(self, max_ops, record_ops, record_times and record_ops)

    def run(self, max_ops: int = -1, record_ops: bool = True, record_times: bool = True) -> Timeline:
        """The whole pass at once, keeping the logs asked for."""
        run = self.begin(max_ops, record_ops, record_times)
        return run.timeline(run.step())


class StepwisePass:
    """What a timing pass under way has in common, whichever kernel runs it: its state (the tuple
    the kernel's `new_state` makes, named by its STATE_FIELDS), its totals, and whether it paused."""

    kernel = kernel  # the module of the pass: its STATE_FIELDS and totals' indices

    def field(self, name: str) -> np.ndarray:
        return self.state[self.kernel.STATE_FIELDS.index(name)]

    @property
    def totals(self) -> np.ndarray:
        return self.field("totals")

    @property
    def paused(self) -> bool:
        return int(self.totals[self.kernel.T_STATUS]) == self.kernel.PAUSED


class PassRun(StepwisePass):
    """A timing pass under way: its state (`pipeline_pass.new_state`), advanced by `step` until
    it is done, and what it has found so far (`timeline`).

    A step starts at most `max_log_ops` ops (and keeps their logs and their messages' if asked) and
    then pauses, so a long run's logs can be used and dropped a chunk at a time (memory stays
    flat in the number of samples) and a caller can show progress and stop between steps.
    """

    def __init__(self, plan: TimingPlan, max_ops: int, record_ops: bool, record_times: bool):
        self.plan, self.max_ops, self.record_ops, self.record_times = plan, max_ops, record_ops, record_times
        self.state = kernel.new_state(
            plan.cycles["F"], plan.cycles["B"], plan.cycles["U"], plan.in_bytes, plan.out_bytes, plan.window,
            plan.anchored, plan.stash_bytes, plan.sram_static, plan.depth, plan.stream, plan.group_batch,
            len(plan.links))
        P, (N, n) = len(plan.coords), plan.stream.shape
        steps = n if plan.group_batch == 0 else -(-n // plan.group_batch)  # updates per layer
        # Per PE an F and a B per sample, a U and N-1 R per update; per worker 2 messages per layer
        # and sample, and per PE 2 (N-1) chunks per update.
        self.all_ops = P * (2 * n + N * steps) if max_ops < 0 else min(P * (2 * n + N * steps), max_ops)
        self.all_messages = P * (2 * n + 2 * (N - 1) * steps)

    def step(self, max_log_ops: int | None = None) -> LogChunk:
        """Advance the pass until it ends, or (if `max_log_ops`) until it has started that many ops (and
        logged them, if it keeps logs)."""
        plan, totals = self.plan, self.totals
        first_op, first_message = int(totals[kernel.T_OPS]), int(totals[kernel.T_MESSAGES])
        if max_log_ops is None:  # room for the whole run (and the one op more a step makes room for): no pause
            cap_ops, cap_messages = self.all_ops + 1, self.all_messages + self.field("outbox").shape[0]
        else:  # an op sends a few messages; a step that runs out of room for them pauses early
            if self.max_ops >= 0:
                raise ValueError("a pass cut at an op is run whole, not in steps")
            cap_ops, cap_messages = max_log_ops, 4 * max_log_ops + self.field("outbox").shape[0]
        ops = cap_ops if self.record_ops else 0
        times = ops if self.record_times else 0
        logs = (np.empty(ops, np.int32), np.empty(ops, np.int8), np.empty(ops, np.int64), np.empty(ops, np.int64),
                np.empty(times, np.int64), np.empty(times, np.int64),
                np.empty((7, cap_messages if self.record_times else 0), np.int64))
        heap, evals = kernel.pipeline_pass(
            self.state, plan.depth, plan.stream, plan.ring_cycles, plan.ring_bytes, plan.gate_batch,
            plan.group_batch, plan.route_off, plan.route_links, plan.hop_latency, plan.bandwidth, plan.contention,
            plan.eval_every, self.max_ops, max_log_ops or 0, self.record_ops, self.record_times, *logs)
        self.state = self.state[:-2] + (heap, evals)
        k = int(totals[kernel.T_OPS]) - first_op if self.record_ops else 0
        kt = k if self.record_times else 0
        m = int(totals[kernel.T_MESSAGES]) - first_message if self.record_times else 0
        return LogChunk(first_op, int(totals[kernel.T_OPS]), logs[0][:k], logs[1][:k], logs[2][:k], logs[3][:k], logs[4][:kt], logs[5][:kt],
                        first_message, logs[6][:, :m])

    def timeline(self, logs: LogChunk | None = None) -> Timeline:
        """The counters the pass has reached, with `logs` (or none) as its op and message logs."""
        st, totals = self.field("st"), self.totals
        n_evals, n_updates = int(totals[kernel.T_N_EVALS]), int(totals[kernel.T_N_UPDATES])
        evals = self.field("evals")
        logs = LogChunk.empty() if logs is None else logs
        column = {name: st[:, getattr(kernel, f"S_{name.upper()}")].copy() for name in (
            "busy_cycles", "busy_until", "pe_ops", "max_in_flight", "updates", "reduce_ops", "sram_peak")}
        return Timeline(**vars(logs), **column, stale_layer=self.field("stale_layer")[:n_updates],
                        stale_value=self.field("stale_value")[:n_updates], link_free=self.field("link_free"),
                        link_busy=self.field("link_busy"), link_messages=self.field("link_msgs"),
                        link_wait=self.field("link_wait"), traffic=self.field("traffic"),
                        eval_samples=evals[0, :n_evals], eval_cycles=evals[1, :n_evals], eval_ops=evals[2, :n_evals],
                        totals=totals)
