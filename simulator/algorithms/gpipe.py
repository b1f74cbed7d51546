"""GPipe (Huang et al. 2019) and 1F1B / PipeDream-flush (Narayanan et al. 2021): synchronous pipeline schedules.

A mini-batch is M micro-batches of one sample (`micro_batches`), the stages are the layers
k = 1..K. Both sum the M gradients and update once per mini-batch, and neither lets a
stage forward the next mini-batch before its update (the flush), so both train exactly as
MBGD with batch M: the gradients are summed in the same (sample) order, and the weights
are equal bit for bit. They differ in the order of a stage's ops, and so in what it holds:

- GPipe: every forward of the mini-batch, then every backward. A backward waits until the
  stage has forwarded the mini-batch's last micro-batch; each stage holds all M.
- 1F1B: once its first backward can run, a stage alternates one backward and one forward;
  stage k holds at most K-k+1 micro-batches (K-s, s = k-1 counted from 0), so activation
  memory falls with the depth of the stage instead of growing with M.

With uniform ops of C cycles and no link delay both take 2(M+K-1) op slots per mini-batch
plus the update: every stage idles (K-1)/(M+K-1) of the forward and backward slots.
"""

from __future__ import annotations

from pydantic import Field

from ..schema import Strict
from .base import Schedule
from .registry import PIPELINE, Algorithm


class MicroBatched(Strict):
    """Algorithms that cut a mini-batch into micro-batches of one sample."""

    micro_batches: int = Field(default=4, ge=1, description="gpipe, 1f1b, pipedream-2bw: micro-batches (of one "
                                                             "sample each) per mini-batch, M")


class GPipe(Schedule):
    """GPipe: all M forwards of a mini-batch at a stage, then all M backwards, then one update."""

    name = "gpipe"
    gates_backward = True

    def __init__(self, n_layers: int, n_samples: int, micro_batches: int):
        super().__init__(n_layers, n_samples)
        self.micro_batches = micro_batches
        self.sums_gradients = micro_batches > 1

    def last_of(self, sample: int) -> int:
        """The last micro-batch of `sample`'s mini-batch."""
        return min((sample // self.micro_batches + 1) * self.micro_batches, self.n_samples) - 1

    def window(self, layer: int) -> int:
        return self.micro_batches

    def may_forward(self, sample: int, version: int) -> bool:
        return sample // self.micro_batches <= version

    def may_backward(self, sample: int, held: dict) -> bool:
        return self.last_of(sample) in held  # the stage has forwarded the whole mini-batch

    def ends_group(self, sample: int) -> bool:
        return sample == self.last_of(sample)

    def updates(self) -> int:
        return -(-self.n_samples // self.micro_batches)


class OneFOneB(GPipe):
    """1F1B (PipeDream-flush): GPipe's mini-batches and flush, a backward before a forward whenever
    both can run, and at most K-k+1 micro-batches in flight at stage k."""

    name = "1f1b"
    gates_backward = False
    priority = ("U", "B", "F")

    def window(self, layer: int) -> int:
        return min(self.n_layers - layer + 1, self.micro_batches)


GPIPE = Algorithm(
    name="gpipe", summary="GPipe: M micro-batches forward, then backward, then one synchronous update",
    options=MicroBatched, family=PIPELINE, in_order_minibatches=True,
    schedule=lambda o, n_layers, n_samples: GPipe(n_layers, n_samples, o.micro_batches))

ONE_F_ONE_B = Algorithm(
    name="1f1b", summary="1F1B (PipeDream-flush): GPipe's update, one backward then one forward, K-k+1 in flight",
    options=MicroBatched, family=PIPELINE, in_order_minibatches=True,
    schedule=lambda o, n_layers, n_samples: OneFOneB(n_layers, n_samples, o.micro_batches))
