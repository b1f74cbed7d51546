"""Minibatch gradient descent (paper Alg. 2, Fig. 1b): the pipeline fills and drains every batch."""

from __future__ import annotations

from .base import Batched, Schedule, TimingRules
from .registry import PIPELINE, Algorithm


class MinibatchGD(Schedule):
    """MBGD: batch m's samples stream through with the weights of version m; each layer sums
    their gradients and applies the mean once the last one has passed back, and no layer
    forwards batch m+1 before that update. Because every update waits for its whole batch,
    the trained weights cannot depend on any timing parameter.
    """

    name = "mbgd"

    def __init__(self, n_layers: int, n_samples: int, batch_size: int):
        super().__init__(n_layers, n_samples)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.sums_gradients = batch_size > 1

    def window(self, layer: int) -> int:
        return self.batch_size

    def may_forward(self, sample: int, version: int) -> bool:
        return sample // self.batch_size <= version

    def ends_group(self, sample: int) -> bool:
        return (sample + 1) % self.batch_size == 0 or sample == self.n_samples - 1

    def updates(self) -> int:
        return -(-self.n_samples // self.batch_size)

    def timing_rules(self) -> TimingRules:
        return TimingRules(gate_batch=self.batch_size, group_batch=self.batch_size)


ALGORITHM = Algorithm(
    name="mbgd", summary="minibatch gradient descent: each batch streams through, then every layer updates once",
    options=Batched, family=PIPELINE, in_order_minibatches=True,
    schedule=lambda o, n_layers, n_samples: MinibatchGD(n_layers, n_samples, o.batch_size))
