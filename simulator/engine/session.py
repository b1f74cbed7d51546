"""A pipelined or all-reduce run on the compiled engine: the timing pass, and the arithmetic replayed in its order.

`CompiledSession`, like `session.Session`, is a `run_state.RunState` with `start`,
`advance` and `tables`, so the runner drives either engine alike. The pass runs a chunk
of ops (CHUNK_OPS) ahead of the replay, which then does that chunk's arithmetic; without
a trace each chunk's log is dropped once replayed, so memory stays flat in the number of
samples. Evaluations happen where the event engine makes them: the pass records, for
every evaluation, how many ops had started before it, and the replay stops there to
evaluate. A stop part way (a non-finite loss, Ctrl-C, SIGTERM) runs the pass again, cut
at the op reached, which leaves every counter as the event engine leaves it when it
stops before that op.
"""

from __future__ import annotations

import numpy as np

from .. import layers as layer_types
from .. import signals
from ..algorithms.allreduce import ring_chunks
from ..algorithms.pipeline import Diverged, Losses
from ..config import Scenario
from ..hardware.mesh import Mesh
from ..memory import builds_gradient
from ..records import MESSAGE_COLUMNS, OPS_COLUMNS
from ..run_state import RunState
from .pipeline_pass import DONE, OUT_OF_ORDER, OVERFLOW, PAUSED, T_N_EVALS, T_STATUS
from .fused import FusedReplay, fusable
from .region_plan import RegionPlan
from .replay import NonFinite, Replay
from .timing import LogChunk, PassRun, Timeline, TimingPlan
from .views import views

CHUNK_OPS = 200_000  # ops the pass runs ahead of the replay: between two looks at the progress bar (and two chances to stop)


class Unsupported(Exception):
    """The timing pass met a case it does not model (an overflowing queue, a backward out of order)."""


class CompiledSession(RunState):
    """One run of a pipelined or all-reduce scenario on the compiled engine, from its timing pass to its result."""

    def __init__(self, scenario: Scenario, prepared, order: np.ndarray, trace: bool):
        super().__init__(scenario, prepared, trace)
        t = scenario.training
        layout = prepared.layout
        regions = layout.regions is not None  # timing only (`timing.unsupported`): no layer objects
        self.plan = RegionPlan.of(scenario, layout) if regions else TimingPlan.of(scenario, layout)
        # A layer object per PE (w * D + k): worker 1's (or the pipeline's) train the run's own arrays.
        self.layers = []
        for w, schedule in enumerate([] if regions else layout.schedules):
            for k, p in enumerate(layout.worker(w + 1)):
                W, b = (self.weights[k], self.biases[k]) if w == 0 else (self.weights[k].copy(), self.biases[k].copy())
                builds = builds_gradient(schedule, p.optimizer, p.shape)
                self.layers.append(layer_types.build(p.shape, W, b, p.optimizer, self.arithmetic, builds,
                                                     self.plan.all_reduce))
        D = self.plan.depth
        self.saved = dict(enumerate(self.layers[:D], 1))
        self.mesh = Mesh(scenario.hardware.mesh.rows, scenario.hardware.mesh.cols)
        self.losses = Losses(prepared.n_samples)
        data = prepared.data
        self.replay = None  # a timing-only run replays nothing
        chunks = [] if regions else [ring_chunks(p.shape.param_count, self.plan.workers) for p in layout.worker(1)]
        if self.arithmetic and fusable(self.layers):
            caps = [min(int(w), prepared.n_samples) for w in self.plan.window]
            mu = getattr(t.optimizer_config, "mu", 0.0)
            self.replay = FusedReplay(self.layers, data.X_train, data.y_train, order, self.losses, caps, mu,
                                      [bool(a) for a in self.plan.anchored], D, chunks)
        elif self.arithmetic:
            self.replay = Replay(self.layers, data.X_train, data.y_train, order, self.losses, D, chunks)
        self.run: PassRun | None = None  # the timing pass under way
        self.chunk: LogChunk | None = None  # its ops being replayed
        self.kept: list[LogChunk] = []  # with a trace, every chunk of the logs
        self.timeline: Timeline | None = None  # the counters, once the run has ended (or stopped)
        self.done = 0  # ops replayed
        self.next_eval = 0  # index of the next evaluation point
        self._views = None

    # -- running ---------------------------------------------------------------------------
    def start(self) -> None:
        """Set the timing pass up; it runs a chunk of ops ahead of the replay (`advance`)."""
        self.run = self.plan.begin(record_ops=self.arithmetic or self.trace, record_times=self.trace)

    def _step(self) -> None:
        """The pass's next chunk of ops (a stop during it comes once it is made)."""
        with signals.atomic():
            self.chunk = self.run.step(CHUNK_OPS)
        status = int(self.run.totals[T_STATUS])
        if status not in (DONE, PAUSED):
            why = {OVERFLOW: "a queue overflowed", OUT_OF_ORDER: "a message or a backward came out of order"}
            raise Unsupported(f"the compiled timing pass met a case it does not model ({why.get(status, status)}); "
                              "the event engine ran it")
        if self.trace:
            self.kept.append(self.chunk)

    def _evals(self) -> np.ndarray:
        """The evaluation points the pass has found so far: rows samples trained, cycle, ops started before."""
        return self.run.field("evals")[:, : int(self.run.totals[T_N_EVALS])]

    def advance(self) -> bool:
        """Replay the arithmetic a chunk of the pass at a time, evaluating where the event engine
        does; True once the run is complete."""
        try:
            while True:
                if self.chunk is None or (self.done == self.chunk.stop_op and self.run.paused):
                    self._step()
                evals = self._evals()
                evaluating = self.next_eval < evals.shape[1]
                goal = int(evals[2, self.next_eval]) if evaluating else self.chunk.stop_op
                self._replay_to(min(goal, self.chunk.stop_op))
                if evaluating and self.done == goal:
                    self.evaluate(int(evals[0, self.next_eval]), int(evals[1, self.next_eval]))
                    self.next_eval += 1
                elif self.done == self.chunk.stop_op and not self.run.paused:
                    break
        except NonFinite as exc:
            self._cut(self.chunk.first_op + exc.index)
            raise Diverged(exc.sample, exc.loss, self.timeline.now) from None
        except KeyboardInterrupt:
            self._cut(self.done)
            raise
        self.timeline = self.run.timeline()
        self.run = None  # its queues and rings (hundreds of MB at wafer scale) are no longer needed
        self._views = None
        return True

    def _replay_to(self, goal: int) -> None:
        chunk = self.chunk
        with signals.atomic():  # the weights and `done` must agree when a signal stops the run
            if self.arithmetic and goal > self.done:
                self.replay.run(chunk, self.done - chunk.first_op, goal - chunk.first_op)
            self.done = goal
        self.show_progress(self._trained_by(goal))

    def _trained_by(self, ops: int) -> int:
        """Samples layer 1 had applied once `ops` ops had started (for the progress bar)."""
        evals = self._evals()
        i = np.searchsorted(evals[2], ops, side="right")
        return int(evals[0, i - 1]) if i else 0

    def _cut(self, ops: int) -> None:
        """The run stopped before op number `ops`: the pass run again up to there for its counters
        (evaluations after it dropped), the logs kept cut there too."""
        self.timeline = self.plan.run(ops, record_ops=False, record_times=False)
        self._views = None
        self.done = ops

    # -- what the run has reached ------------------------------------------------------------
    @property
    def chip(self):
        """The pass's counters seen as a chip (`views.ChipView`): `now` is the cycle reached."""
        return self.measured()[0]

    def measured(self) -> tuple:
        self._stopped_if_never_started()
        if self._views is None:
            self._views = views(self.plan, self.timeline, self.mesh)
        return self._views

    @property
    def samples_trained(self) -> int:
        return self.timeline.samples_trained if self.timeline is not None else 0

    def take_recent(self) -> list[float]:
        return self.losses.take_recent()

    def _stopped_if_never_started(self) -> None:
        """A run stopped before its end without counters (a signal as it began) is the pass cut where the replay was."""
        if self.timeline is None:
            self._cut(self.done)

    # -- the result ---------------------------------------------------------------------------
    def finish(self) -> None:
        self._stopped_if_never_started()
        super().finish()

    def tables(self) -> tuple[dict, dict]:
        """The op and message tables, as `records.ops_table` and `messages_table` give them (empty without a trace)."""
        if not self.trace:
            return {}, {}
        tl, now = self.timeline, self.timeline.now
        n_ops, n_messages = tl.n_ops, int(tl.totals[self.plan.logged])  # a stopped run's logs are cut where it stopped

        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(c, name) for c in self.kept] or [np.empty(0, np.int64)])[:n_ops]

        rows = np.array([c[0] for c in self.plan.coords], dtype=np.int64)
        cols = np.array([c[1] for c in self.plan.coords], dtype=np.int64)
        pe = joined("op_layer").astype(np.int64)
        ops = dict(zip(OPS_COLUMNS, (self.plan.layer_of[pe], joined("op_kind").astype(np.int64),
                                     joined("op_tag").astype(np.int64), joined("op_start"),
                                     np.minimum(joined("op_end"), now), rows[pe], cols[pe])))
        m = np.concatenate([c.messages for c in self.kept] or [np.empty((7, 0), np.int64)], axis=1)[:, :n_messages]
        node_rows, node_cols = np.append(rows, 0), np.append(cols, -1)  # index -1: the I/O port at (0, -1)
        messages = dict(zip(MESSAGE_COLUMNS, (node_rows[m[0]], node_cols[m[0]], node_rows[m[1]], node_cols[m[1]],
                                              m[2], m[3], m[4], m[5], m[6])))
        return ({k: np.ascontiguousarray(v) for k, v in ops.items()},
                {k: np.ascontiguousarray(v) for k, v in messages.items()})
