"""A pipelined or all-reduce run on the compiled engine: the timing pass, then the arithmetic replayed in its order.

`CompiledSession`, like `session.Session`, is a `run_state.RunState` with `start`,
`advance` and `tables`, so the runner drives either engine alike. Evaluations happen where the event engine makes them:
the pass records, for every evaluation, how many ops had started before it, and the
replay stops there to evaluate. A stop part way (a non-finite loss, Ctrl-C, SIGTERM) cuts
the pass at the op reached, which leaves every counter as the event engine leaves it when
it stops before that op.
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
from .pipeline_pass import DONE, STOPPED
from .fused import FusedReplay, fusable
from .replay import NonFinite, Replay
from .timing import Timeline, TimingPlan
from .views import views

CHUNK_OPS = 200_000  # ops replayed between two looks at the progress bar (and two chances to stop)


class Unsupported(Exception):
    """The timing pass met a case it does not model (an overflowing queue, a backward out of order)."""


class CompiledSession(RunState):
    """One run of a pipelined or all-reduce scenario on the compiled engine, from its timing pass to its result."""

    def __init__(self, scenario: Scenario, prepared, order: np.ndarray, trace: bool):
        super().__init__(scenario, prepared, trace)
        t = scenario.training
        layout = prepared.layout
        self.plan = TimingPlan.of(scenario, layout)
        # A layer object per PE (w * D + k): worker 1's (or the pipeline's) train the run's own arrays.
        self.layers = []
        for w, schedule in enumerate(layout.schedules):
            for k, p in enumerate(layout.worker(w + 1)):
                W, b = (self.weights[k], self.biases[k]) if w == 0 else (self.weights[k].copy(), self.biases[k].copy())
                self.layers.append(layer_types.build(p.shape, W, b, p.optimizer, self.arithmetic,
                                                     builds_gradient(schedule, p.optimizer), self.plan.all_reduce))
        D = self.plan.depth
        self.saved = dict(enumerate(self.layers[:D], 1))
        self.mesh = Mesh(scenario.hardware.mesh.rows, scenario.hardware.mesh.cols)
        self.losses = Losses(prepared.n_samples)
        data = prepared.data
        self.replay = None  # a timing-only run replays nothing
        if self.arithmetic and not self.plan.all_reduce and fusable(self.layers):
            caps = [min(int(w), prepared.n_samples) for w in self.plan.window]
            mu = getattr(t.optimizer_config, "mu", 0.0)
            self.replay = FusedReplay(self.layers, data.X_train, data.y_train, order, self.losses, caps, mu,
                                      [bool(a) for a in self.plan.anchored])
        elif self.arithmetic:
            chunks = [ring_chunks(p.shape.param_count, self.plan.workers) for p in layout.worker(1)]
            self.replay = Replay(self.layers, data.X_train, data.y_train, order, self.losses, D, chunks)
        self.timeline: Timeline | None = None
        self.done = 0  # ops replayed
        self.next_eval = 0  # index of the next evaluation point of the timeline
        self._views = None

    # -- running ---------------------------------------------------------------------------
    def start(self) -> None:
        """The timing pass over the whole run (a stop during it leaves a run stopped before its first op)."""
        try:
            with signals.atomic():
                self.timeline = self._pass()
        except KeyboardInterrupt:  # arrived during the pass
            self._cut(0)
            raise

    def _pass(self, max_ops: int = -1) -> Timeline:
        timeline = self.plan.run(max_ops, record_ops=self.arithmetic or self.trace, record_times=self.trace)
        if timeline.status not in (DONE, STOPPED):
            raise Unsupported(f"the compiled timing pass stopped with code {timeline.status}")
        self._views = None
        return timeline

    def advance(self) -> bool:
        """Replay the arithmetic, evaluating where the event engine does; True once the run is complete."""
        tl = self.timeline
        try:
            while self.next_eval < len(tl.eval_ops) or self.done < tl.n_ops:
                if self.next_eval < len(tl.eval_ops):
                    goal = int(tl.eval_ops[self.next_eval])
                else:
                    goal = tl.n_ops
                self._replay_to(min(goal, self.done + CHUNK_OPS))
                if self.done == goal and self.next_eval < len(tl.eval_ops):
                    self.evaluate(int(tl.eval_samples[self.next_eval]), int(tl.eval_cycles[self.next_eval]))
                    self.next_eval += 1
        except NonFinite as exc:
            self._cut(exc.index)
            raise Diverged(exc.sample, exc.loss, self.timeline.now) from None
        except KeyboardInterrupt:
            self._cut(self.done)
            raise
        return True

    def _replay_to(self, goal: int) -> None:
        with signals.atomic():  # the weights and `done` must agree when a signal stops the run
            if self.arithmetic and goal > self.done:
                self.replay.run(self.timeline, self.done, goal)
            self.done = goal
        if self.bar is not None:
            self.bar.update(self._trained_by(goal) - self.bar.n)

    def _trained_by(self, ops: int) -> int:
        """Samples layer 1 had applied once `ops` ops had started (for the progress bar)."""
        tl = self.timeline
        i = np.searchsorted(tl.eval_ops, ops, side="right")
        return int(tl.eval_samples[i - 1]) if i else 0

    def _cut(self, ops: int) -> None:
        """The run stopped before op number `ops`: the pass up to there, evaluations after it dropped."""
        self.timeline = self._pass(ops)
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

    @property
    def now(self) -> int:
        return self.chip.now

    def take_recent(self) -> list[float]:
        return self.losses.take_recent()

    def _stopped_if_never_started(self) -> None:
        """A run stopped before its timing pass (a signal as it began) is the pass cut before its first op."""
        if self.timeline is None:
            self.timeline = self._pass(0)

    # -- the result ---------------------------------------------------------------------------
    def finish(self) -> None:
        self._stopped_if_never_started()
        super().finish()

    def tables(self) -> tuple[dict, dict]:
        """The op and message tables, as `records.ops_table` and `messages_table` give them (empty without a trace)."""
        if not self.trace:
            return {}, {}
        tl, now = self.timeline, self.timeline.now
        rows = np.array([c[0] for c in self.plan.coords], dtype=np.int64)
        cols = np.array([c[1] for c in self.plan.coords], dtype=np.int64)
        pe = tl.op_layer.astype(np.int64)
        ops = dict(zip(OPS_COLUMNS, (pe % self.plan.depth + 1, tl.op_kind.astype(np.int64), tl.op_tag.astype(np.int64),
                                     tl.op_start.copy(), np.minimum(tl.op_end, now), rows[pe], cols[pe])))
        m = tl.messages
        node_rows, node_cols = np.append(rows, 0), np.append(cols, -1)  # index -1: the I/O port at (0, -1)
        messages = dict(zip(MESSAGE_COLUMNS, (node_rows[m[0]], node_cols[m[0]], node_rows[m[1]], node_cols[m[1]],
                                              m[2].copy(), m[3].copy(), m[4].copy(), m[5].copy(), m[6].copy())))
        return ({k: np.ascontiguousarray(v) for k, v in ops.items()},
                {k: np.ascontiguousarray(v) for k, v in messages.items()})

