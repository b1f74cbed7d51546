"""A parameter-server shard on its own PE: one layer's master weights, updated by pushes from the workers.

Messages it takes (`records.Message`, tagged with worker w, 1-based; payloads are None in
timing-only runs):

    push     a `Push`: a gradient from worker w's copy of the layer
    pull     worker w asks for the weights

and sends `weights` ((W, b), version) back to worker w's PE of this layer.

A locking shard (asgd, downpour) runs one op at a time in arrival order (ties by worker):
U applies a push; S serves a pull (the reply leaves when S ends). Under asgd a push also
asks for the weights, which leave once it is applied. A lock-free shard (hogwild) queues
and applies pushes the same way but answers a pull the cycle it arrives, without waiting
for the update in progress: U writes W one output row at a time at an even rate over its
cycles, so a read in the middle sees the rows written so far (with their biases) updated
and the rest not. The read is a DMA: it takes no op slot on the shard.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from ..hardware.chip import Chip
from ..hardware.mesh import Coord
from ..memory import LayerMemory, SramLedger
from ..records import Message, Op
from .pipeline import Recorder
from .store import ParameterStore, rows_written

REQUEST_BYTES = 4  # a pull request: one word naming the worker


@dataclass(frozen=True)
class Push:
    """A gradient on its way to a shard."""

    grads: list[np.ndarray] | None  # one per parameter, summed over `mean_over` samples
    mean_over: int  # the step divides the sum by this (1 for a sum of means)
    samples: int  # training samples it stands for
    base_version: int  # shard version of the weights the gradient was computed with
    reply: bool  # send the weights back once applied (asgd)


class ShardProgram:
    """The program of the PE holding layer k's parameter-server shard."""

    def __init__(self, *, chip: Chip, coord: Coord, k: int, store: ParameterStore, workers: list[Coord],
                 lock_free: bool, cycles_U: int, cycles_S: int, param_bytes: int, recorder: Recorder,
                 memory: LayerMemory):
        self.chip, self.coord, self.k, self.store = chip, coord, k, store
        self.layer = store.layer
        self.workers = workers  # PE of this layer on worker 1, 2, ...
        self.lock_free = lock_free
        self.cycles_U, self.cycles_S, self.param_bytes = cycles_U, cycles_S, param_bytes
        self.recorder = recorder
        self.rows = self.layer.shape.rows
        self.queue: list = []  # heap of (arrival cycle, worker, seq, kind, payload)
        self.seq = 0
        self.updates = 0
        self.reads = 0
        self.max_queue = 0
        self.writing: tuple | None = None  # lock-free: (start, end, weights before, weights after) of U in progress
        self.sram = SramLedger(memory.weights + memory.optimizer_state)

    @property
    def sram_peak(self) -> int:
        return self.sram.peak

    def receive(self, message: Message) -> None:
        kind, worker, payload = message
        if kind == "pull" and self.lock_free:
            self._reply(worker, *self._lock_free_read())
            return
        if kind == "push":
            self.sram.alloc(self.param_bytes)  # the gradient lands in a buffer until applied
        heapq.heappush(self.queue, (self.chip.now, worker, self.seq, kind, payload))
        self.seq += 1
        self.max_queue = max(self.max_queue, len(self.queue))

    def start_next(self):
        if not self.queue:
            return None
        _, worker, _, kind, payload = heapq.heappop(self.queue)
        if kind == "pull":
            weights = self.store.read()
            version = self.store.version
            self.reads += 1
            return Op("S", worker, self.cycles_S, lambda: self._reply(worker, weights, version))
        return self._apply(worker, payload)

    def _apply(self, worker: int, push: Push) -> Op:
        before = self.store.read() if self.lock_free else None
        staleness = self.store.apply(push.grads, push.mean_over, push.samples, push.base_version)
        self.sram.free(self.param_bytes)
        self.recorder.staleness[self.k - 1].append(staleness)
        self.updates += 1
        now = self.chip.now
        if self.lock_free:
            self.writing = (now, now + self.cycles_U, before, self.layer.written())
        reply = (self.store.read(), self.store.version) if push.reply else None
        applied = self.store.applied

        def finish():
            self.writing = None
            if reply is not None:
                self._reply(worker, *reply)
            if self.k == 1:
                self.recorder.trained(applied)

        return Op("U", worker, self.cycles_U, finish)

    def _lock_free_read(self) -> tuple:
        """The weights as a read sees them now, and the version of the last update completed."""
        self.reads += 1
        if self.writing is None or self.chip.now >= self.writing[1]:
            return self.store.read(), self.store.version
        start, end, before, after = self.writing
        weights = self.layer.partial_read(before, after, rows_written(self.rows, start, end, self.chip.now))
        return weights, self.store.version - 1

    def _reply(self, worker: int, weights, version: int) -> None:
        self.chip.send(self.coord, self.workers[worker - 1], self.param_bytes, Message("weights", worker, (weights, version)))

    def stats(self) -> dict:
        return {"op_cycles": {"U": self.cycles_U, "S": self.cycles_S}, "updates": self.updates, "reads": self.reads,
                "max_queued": self.max_queue, "peak_sram_bytes": self.sram.peak}
