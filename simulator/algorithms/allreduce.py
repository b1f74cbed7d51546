"""Synchronous data parallelism: workers sum their gradients with a ring all-reduce over the mesh.

Layer k of every worker forms a ring, worker 1 -> 2 -> ... -> N -> 1, each hop a real
message along the XY route between their PEs. The flat gradient (W, then b) is cut into N
chunks. Reduce-scatter: in step t = 0..N-2 worker i sends chunk (i - t) mod N to worker
i+1, which adds it into its own copy (op R, one MAC per float); after N-1 steps worker i
holds the full sum of chunk (i+1) mod N. All-gather: N-1 more steps pass the finished
chunks round the ring (a copy, no op). Every worker then holds the same sum, bit for bit,
and applies it with the same optimizer state, so all replicas stay identical.

The sum of chunk c is added in ring order starting at worker c, ((g_c + g_c+1) + ...),
while MBGD sums sample by sample: the two agree to float32 rounding, not bitwise.
"""

from __future__ import annotations

import numpy as np

from ..hardware.cost import op_cycles
from ..hardware.mesh import Coord
from ..memory import FLOAT_BYTES
from ..training.optimizers import UpdateInfo
from .pipeline import LayerProgram

REDUCE, GATHER = 0, 1  # the two phases of the ring


class RingLayer(LayerProgram):
    """Layer k of worker w under all-reduce: the pipeline layer program, with a ring exchange before each update."""

    def __init__(self, *, worker: int, ring: list[Coord], batch_samples: list[int], reports: bool, **pipeline):
        super().__init__(**pipeline)
        self.worker = worker  # 1-based
        self.n = len(ring)
        self.next_pe = ring[worker % self.n]
        self.batch_samples = batch_samples  # samples of each global batch, over all workers
        self.reports = reports  # worker 1 records staleness and samples trained for the run
        # One flat buffer holds the summed gradient, so ring chunks are views of it.
        size = self.W.size + (self.b.size if self.bias else 0)
        self.flat = np.zeros(size, dtype=np.float32)
        self.grad_W = self.flat[: self.W.size].reshape(self.W.shape)
        if self.bias:
            self.grad_b = self.flat[self.W.size:]
        self.grads = [self.grad_W, self.grad_b][: len(self.params)]
        bounds = np.linspace(0, size, self.n + 1).astype(np.int64) if self.n > 1 else np.array([0, size])
        self.chunks = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self.chunk_bytes = [(c.stop - c.start) * FLOAT_BYTES for c in self.chunks]
        macs_per_cycle = self.chip.hardware.pe.macs_per_cycle
        overhead = self.chip.hardware.pe.op_overhead_cycles
        self.cycles_R = [op_cycles(c.stop - c.start, macs_per_cycle, overhead) for c in self.chunks]
        self.ready = False  # own gradient summed for the current step
        self.inbox: dict[tuple[int, int], object] = {}  # (phase, step) -> chunk from the previous worker
        self.expect = (REDUCE, 0)
        self.steps = 0
        self.reduce_ops = 0

    # -- ring messages ----------------------------------------------------------------
    def receive(self, message: tuple) -> None:
        if message[0] != "ring":
            super().receive(message)
            return
        phase, step, chunk = message[2]
        self.inbox[(phase, step)] = chunk

    def _send(self, phase: int, step: int, index: int) -> None:
        chunk = self.flat[self.chunks[index]].copy() if self.arithmetic else None
        self.chip.send(self.coord, self.next_pe, self.chunk_bytes[index], ("ring", self.worker, (phase, step, chunk)))

    def _chunk_index(self, phase: int, step: int) -> int:
        """The chunk worker i receives in this phase and step: (i-1-t) mod N to reduce, (i-t) mod N to gather."""
        i = self.worker - 1
        return (i - 1 - step) % self.n if phase == REDUCE else (i - step) % self.n

    def _group_done(self) -> None:
        if self.n == 1:
            self.pending_update = True
            return
        self.ready = True
        self._send(REDUCE, 0, (self.worker - 1) % self.n)

    def start_next(self):
        if self.ready and not self.pending_update:
            op = self._ring_step()
            if op is not None:
                return op
        return super().start_next()

    def _ring_step(self):
        """Take the next expected chunk if it is here: add it (op R), or copy it on (gather)."""
        while self.expect in self.inbox:
            phase, step = self.expect
            chunk = self.inbox.pop(self.expect)
            index = self._chunk_index(phase, step)
            last = step == self.n - 2
            self.expect = (phase, step + 1) if not last else ((GATHER, 0) if phase == REDUCE else None)
            if phase == REDUCE:
                if chunk is not None:
                    self.flat[self.chunks[index]] += chunk
                self.reduce_ops += 1

                def finish(index=index, step=step, last=last):
                    # The chunk just summed travels on: to be reduced further, or (complete) gathered.
                    self._send(GATHER if last else REDUCE, 0 if last else step + 1, index)

                return "R", self.steps, self.cycles_R[index], finish
            if chunk is not None:
                self.flat[self.chunks[index]] = chunk
            if not last:
                self._send(GATHER, step + 1, index)
            else:
                self.ready = False
                self.expect = (REDUCE, 0)
                self.pending_update = True
                return None
        return None

    def _update(self):
        """Apply the all-reduced gradient of the global batch, as every other worker does."""
        self.pending_update = False
        count = self.batch_samples[self.steps]
        if self.arithmetic:
            self._apply_gradient(UpdateInfo(step=self.applied, count=count))
        if self.reports:
            self.recorder.staleness[self.k - 1].append(0)
        self.version += 1
        self.updates += 1
        self.applied += count
        self.steps += 1
        self.group = []
        applied, report = self.applied, self.reports and self.k == 1

        def finish():
            if report:
                self.recorder.trained(applied)

        return "U", self.group_last, self.cycles_U, finish

    def stats(self) -> dict:
        return {**super().stats(), "reduce_ops": self.reduce_ops}
