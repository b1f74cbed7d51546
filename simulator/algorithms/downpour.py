"""Downpour SGD (Dean et al. 2012): local steps, accrued pushes every n_push steps, non-blocking fetches every n_fetch.

The layer applies its gradient locally (op U, with the learning rate and schedule but
plain SGD: the scenario's optimizer, momentum included, runs on the shard) and adds it
to an accrued gradient, pushed after every n_push-th step (and after its last); at the
start of every n_fetch-th step it asks for the weights without waiting. Fetched weights
replace the local copy at the next minibatch boundary: before that step's local update if
it is in progress (so the step's own gradient lands on top, as in Dean et al.'s client
loop), else before the next step's first forward.
"""

from __future__ import annotations

from pydantic import Field

from ..records import Op
from .dataparallel import ParameterServerOptions
from .registry import PARAMETER_SERVER, Algorithm
from .worker import PushLayer


class DownpourOptions(ParameterServerOptions):
    """The keys of `training` Downpour reads."""

    n_fetch: int = Field(default=1, ge=1, description="downpour: fetch weights every n_fetch steps")
    n_push: int = Field(default=1, ge=1, description="downpour: push accrued gradients every n_push steps")


class DownpourLayer(PushLayer):
    """Layer k of a Downpour worker: a local step per minibatch, with the server exchange on its own rhythm."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.n_fetch, self.n_push = self.options.n_fetch, self.options.n_push
        self.accrued = self.layer.zeros()  # sum of minibatch-mean gradients since the last push
        self.accrued_samples = 0
        self.group_base = 0  # base version of the first step in the accrued gradient
        self.step_base = 0  # base version of the step in progress
        self.fetched: tuple | None = None  # weights that arrived, waiting for a minibatch boundary

    def weights_arrived(self, weights, version: int) -> None:
        self.fetched = (weights, version)

    def _install_fetched(self) -> None:
        if self.fetched is not None:
            self.install(*self.fetched)
            self.fetched = None

    def forward(self) -> Op:
        sample = self.inputs[0][0]
        batch = self.schedule.batch_of[sample]
        if sample == self.schedule.batches[batch][0]:
            self._install_fetched()
            self.step_base = self.base_version
            if batch % self.n_fetch == 0:
                self.pull()
        return super().forward()

    def gradient_ready(self) -> None:
        self.pending_update = True  # the local step, then maybe a push

    def update(self) -> Op:
        """The local step: install fetched weights, accrue the gradient, apply it, maybe push."""
        self.pending_update = False
        self._install_fetched()
        samples = len(self.group)
        if self.accrued_samples == 0:
            self.group_base = self.step_base
        self.layer.accrue_gradient(self.accrued, 1.0 / samples)
        self.layer.update(self.applied, samples)
        self.accrued_samples += samples
        self.applied += samples
        self.version += 1
        self.updates += 1
        self.steps += 1
        self.group = []
        last_step = self.steps == len(self.schedule.batches)
        push = None
        if self.steps % self.n_push == 0 or last_step:
            push = (self.layer.take(self.accrued), self.accrued_samples, self.group_base)
            self.accrued_samples = 0

        def finish():
            if push is not None:
                grads, samples_in, base = push
                self.push(grads, 1, samples_in, base, reply=False)

        return Op("U", self.group_last, self.cycles_U, finish)


ALGORITHM = Algorithm(
    name="downpour", summary="Downpour SGD: local steps, pushes every n_push steps, fetches every n_fetch",
    options=DownpourOptions, family=PARAMETER_SERVER, program=DownpourLayer,
    exchange_bytes=lambda params, workers: 2 * params)  # the accrued gradient and a landing buffer for fetched weights
