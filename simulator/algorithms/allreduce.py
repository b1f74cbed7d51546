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

from ..hardware.chip import Chip
from ..hardware.mesh import Coord
from ..layers import FLOAT_BYTES
from ..records import Message, Op
from .dataparallel import DataParallelOptions
from .pipeline import LayerProgram
from .registry import ALLREDUCE, Algorithm

REDUCE, GATHER = 0, 1  # the two phases of the ring


def chunk_taken(worker: int, phase: int, step: int, workers: int) -> int:
    """The chunk worker `worker` (0-based) takes from the previous worker at `step` of `phase`:
    (i-1-t) mod N to reduce, (i-t) mod N to gather. (The compiled engine's kernels state it too.)"""
    return (worker - 1 - step) % workers if phase == REDUCE else (worker - step) % workers


def ring_chunks(params: int, workers: int) -> list[slice]:
    """The floats of each of the N chunks a flat gradient of `params` floats is cut into (as even as can be)."""
    bounds = np.linspace(0, params, workers + 1).astype(np.int64) if workers > 1 else np.array([0, params])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


class Ring:
    """The ring of layer k: its workers' PEs in ring order and the chunks its flat gradient is cut into.

    Built once per layer and shared by the layer's N workers, so a run holds N coordinates
    and N chunks per layer rather than per worker (N^2 D in all).
    """

    def __init__(self, coords: list[Coord], params: int, chip: Chip):
        self.coords = coords  # worker w's PE is coords[w - 1]
        self.chunks = ring_chunks(params, len(coords))
        self.chunk_bytes = [(c.stop - c.start) * FLOAT_BYTES for c in self.chunks]
        self.cycles_R = [chip.op_cycles(c.stop - c.start) for c in self.chunks]  # one MAC per float added

    def __len__(self) -> int:
        return len(self.coords)


class RingLayer(LayerProgram):
    """Layer k of worker w under all-reduce: the pipeline layer program, with a ring exchange before each update."""

    def __init__(self, *, worker: int, ring: Ring, batch_samples: list[int], reports: bool, **pipeline):
        super().__init__(**pipeline)
        self.worker = worker  # 1-based
        self.n = len(ring)
        self.next_pe = ring.coords[worker % self.n]
        self.batch_samples = batch_samples  # samples of each global batch, over all workers
        self.reports = reports  # worker 1 records staleness and samples trained for the run
        # The layer keeps its summed gradient in one flat buffer (W, then b): chunks are slices of it.
        self.chunks, self.chunk_bytes, self.cycles_R = ring.chunks, ring.chunk_bytes, ring.cycles_R
        self.ready = False  # own gradient summed for the current step
        self.inbox: dict[tuple[int, int], object] = {}  # (phase, step) -> chunk from the previous worker
        self.expect = (REDUCE, 0)
        self.steps = 0
        self.reduce_ops = 0

    # -- ring messages ----------------------------------------------------------------
    def receive(self, message: Message) -> None:
        if message.kind != "ring":
            super().receive(message)
            return
        phase, step, chunk = message.payload
        self.inbox[(phase, step)] = chunk

    def _send(self, phase: int, step: int, index: int) -> None:
        chunk = self.layer.chunk(self.chunks[index])
        self.chip.send(self.coord, self.next_pe, self.chunk_bytes[index], Message("ring", self.worker, (phase, step, chunk)))

    def gradient_ready(self) -> None:
        if self.n == 1:
            self.pending_update = True
            return
        self.ready = True
        self._send(REDUCE, 0, (self.worker - 1) % self.n)

    def priority(self) -> tuple[str, ...]:
        return ("R",) + self.schedule.priority  # the ring's chunks first: the other workers wait for them

    def extra_pickers(self) -> dict:
        return {"R": self._pick_ring}

    def _pick_ring(self) -> Op | None:
        return self._ring_step() if self.ready and not self.pending_update else None

    def _ring_step(self) -> Op | None:
        """Take the next expected chunk if it is here: add it (op R), or copy it on (gather)."""
        while self.expect in self.inbox:
            phase, step = self.expect
            chunk = self.inbox.pop(self.expect)
            index = chunk_taken(self.worker - 1, phase, step, self.n)
            last = step == self.n - 2
            self.expect = (phase, step + 1) if not last else ((GATHER, 0) if phase == REDUCE else None)
            if phase == REDUCE:
                self.layer.add_chunk(self.chunks[index], chunk)
                self.reduce_ops += 1

                def finish(index=index, step=step, last=last):
                    # The chunk just summed travels on: to be reduced further, or (complete) gathered.
                    self._send(GATHER if last else REDUCE, 0 if last else step + 1, index)

                return Op("R", self.steps, self.cycles_R[index], finish)
            self.layer.set_chunk(self.chunks[index], chunk)
            if not last:
                self._send(GATHER, step + 1, index)
            else:
                self.ready = False
                self.expect = (REDUCE, 0)
                self.pending_update = True
                return None
        return None

    def update(self) -> Op:
        """Apply the all-reduced gradient of the global batch, as every other worker does."""
        self.pending_update = False
        count = self.batch_samples[self.steps]
        self.layer.update(self.applied, count)
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

        return Op("U", self.group_last, self.cycles_U, finish)

    def stats(self) -> dict:
        return {**super().stats(), "reduce_ops": self.reduce_ops}


def _chunk_bytes(params: int, workers: int) -> int:
    """A worker layer lands one ring chunk (the largest) from the previous worker."""
    return -(-params // (workers * FLOAT_BYTES)) * FLOAT_BYTES if workers > 1 else 0


ALGORITHM = Algorithm(
    name="allreduce", summary="synchronous data parallelism: a ring all-reduce sums the workers' gradients",
    options=DataParallelOptions, family=ALLREDUCE, in_order_minibatches=True, program=RingLayer,
    exchange_bytes=_chunk_bytes)
