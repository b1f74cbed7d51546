"""A worker replica's layer in parameter-server training: asgd, hogwild and downpour.

Each worker runs the layer pipeline of `pipeline.py` on its own PEs with a `DataParallel`
schedule: its minibatches stream forward and back, and each layer sums the minibatch's
gradient. What happens at the end of a minibatch is what tells the variants apart:

- asgd: the layer pushes the gradient to its shard and waits; the shard applies it and
  sends the new weights back, which the next minibatch uses (push after every minibatch,
  pull before the next one).
- hogwild: the layer pushes and at once asks for the weights; the lock-free shard answers
  on arrival, possibly in the middle of another worker's update (see `shard.py`).
- downpour (Dean et al. 2012): the layer applies its gradient locally (op U, with the
  learning rate and schedule but no momentum: momentum lives on the shard)
  adds it to an accrued gradient, pushed after every n_push-th step (and after its
  last); at the start of every n_fetch-th step it asks for the weights without waiting.
  Fetched weights replace the local copy at the next minibatch boundary: before that
  step's local update if it is in progress (so the step's own gradient lands on top, as
  in Dean et al.'s client loop), else before the next step's first forward.
"""

from __future__ import annotations

import numpy as np

from kernels import axpy, zero

from ..hardware.mesh import Coord
from ..training.optimizers import UpdateInfo
from .pipeline import LayerProgram
from .shard import REQUEST_BYTES, Push


class WorkerLayer(LayerProgram):
    """Layer k of worker w: the pipeline layer program, with the server exchange at minibatch ends."""

    def __init__(self, *, worker: int, shard: Coord, variant: str, param_bytes: int, n_fetch: int = 1,
                 n_push: int = 1, **pipeline):
        super().__init__(**pipeline)
        self.worker, self.shard, self.variant = worker, shard, variant
        self.param_bytes, self.n_fetch, self.n_push = param_bytes, n_fetch, n_push
        self.base_version = 0  # shard version of the weights this layer computes with
        self.steps = 0  # minibatches finished
        self.pushes = 0
        if variant == "downpour":
            self.accrued = [np.zeros_like(p) for p in self.params]  # sum of minibatch-mean gradients
            self.accrued_samples = 0
            self.group_base = 0  # base version of the first step in the accrued gradient
            self.step_base = 0  # base version of the step in progress
            self.fetched: tuple | None = None  # weights that arrived, waiting for a minibatch boundary

    # -- messages -------------------------------------------------------------------
    def receive(self, message: tuple) -> None:
        if message[0] != "weights":
            super().receive(message)
            return
        weights, version = message[2]
        if self.variant == "downpour":
            self.fetched = (weights, version)
            return
        self._install(weights, version)
        self.version += 1  # the next minibatch may start

    def _install(self, weights, version: int) -> None:
        if weights is not None:
            np.copyto(self.W, weights[0])
            np.copyto(self.b, weights[1])
        self.base_version = version

    # -- minibatch boundaries ----------------------------------------------------------
    def _forward(self):
        sample = self.inputs[0][0]
        batch = self.schedule.batch_of[sample]
        if self.variant == "downpour" and sample == self.schedule.batches[batch][0]:
            if self.fetched is not None:
                self._install(*self.fetched)
                self.fetched = None
            self.step_base = self.base_version
            if batch % self.n_fetch == 0:
                self.chip.send(self.coord, self.shard, REQUEST_BYTES, ("pull", self.worker, None))
        return super()._forward()

    def _group_done(self) -> None:
        if self.variant == "downpour":
            self.pending_update = True  # the local step, then maybe a push
            return
        samples = len(self.group)
        self._push(self._take(self.grads), samples, samples, self.base_version, reply=self.variant == "asgd")
        self.group = []
        self.steps += 1
        if self.variant == "hogwild":
            self.chip.send(self.coord, self.shard, REQUEST_BYTES, ("pull", self.worker, None))

    def _take(self, buffers: list[np.ndarray]) -> list[np.ndarray] | None:
        """Copies of `buffers` for a message, which are then cleared (None in timing-only runs)."""
        if not self.arithmetic:
            return None
        copies = [g.copy() for g in buffers]
        for g in buffers:
            zero(g)
        if buffers is self.grads:
            zero(self.grad_b)
        return copies

    def _push(self, grads, mean_over: int, samples: int, base_version: int, reply: bool) -> None:
        push = Push(grads, mean_over, samples, base_version, reply)
        self.chip.send(self.coord, self.shard, self.param_bytes, ("push", self.worker, push))
        self.pushes += 1

    def _update(self):
        """downpour's local step: install fetched weights, apply the gradient, accrue it, maybe push."""
        self.pending_update = False
        if self.fetched is not None:
            self._install(*self.fetched)
            self.fetched = None
        samples = len(self.group)
        if self.accrued_samples == 0:
            self.group_base = self.step_base
        if self.arithmetic:
            for acc, g in zip(self.accrued, self.grads):
                axpy(acc, g, 1.0 / samples)
            self._apply_gradient(UpdateInfo(step=self.applied, count=samples))
        self.accrued_samples += samples
        self.applied += samples
        self.version += 1
        self.updates += 1
        self.steps += 1
        self.group = []
        last_step = self.steps == len(self.schedule.batches)
        push = None
        if self.steps % self.n_push == 0 or last_step:
            push = (self._take(self.accrued), self.accrued_samples, self.group_base)
            self.accrued_samples = 0

        def finish():
            if push is not None:
                grads, samples_in, base = push
                self._push(grads, 1, samples_in, base, reply=False)

        return "U", self.group_last, self.cycles_U, finish

    def stats(self) -> dict:
        return {**super().stats(), "pushes": self.pushes}
