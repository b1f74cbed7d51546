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

from ..records import Op
from ..schema import Strict
from .base import Schedule
from .pipeline import LayerProgram, op_macs
from .registry import PIPELINE, Algorithm


class MicroBatched(Strict):
    """Algorithms that cut a mini-batch into micro-batches of one sample."""

    micro_batches: int = Field(default=4, ge=1, description="gpipe, 1f1b, pipedream-2bw, zb-h1: micro-batches (of one "
                                                             "sample each) per mini-batch, M")


class Rematerialized(MicroBatched):
    """GPipe's and 1F1B's keys: the micro-batches, and whether activations are recomputed."""

    rematerialize: bool = Field(default=False, description="gpipe, 1f1b: keep only each stage's input and "
                                                            "recompute its output in the backward")


class GPipe(Schedule):
    """GPipe: all M forwards of a mini-batch at a stage, then all M backwards, then one update."""

    name = "gpipe"
    gates_backward = True

    def __init__(self, n_layers: int, n_samples: int, micro_batches: int, rematerialize: bool = False):
        super().__init__(n_layers, n_samples)
        self.micro_batches = micro_batches
        self.sums_gradients = micro_batches > 1
        self.rematerialize = rematerialize

    def keeps_output(self, layer: int) -> bool:
        """Rematerialized: a stage below the top drops its output after the forward (the next stage
        holds it as its input) and recomputes it in the backward; the top keeps its loss delta."""
        return not self.rematerialize or layer == self.n_layers

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


class RematProgram(LayerProgram):
    """A GPipe or 1F1B stage; rematerialized, it forgets its output after the forward and its
    backward first runs the forward again (its B costs a forward's MACs more)."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        self.recomputes = not self.schedule.keeps_output(self.k)
        if self.recomputes:
            self.cycles_B = self.chip.op_cycles(op_macs(self.shape, self.schedule, self.layer.optimizer)[1]
                                                + self.shape.forward_macs())

    def forward(self) -> Op:
        op = super().forward()
        if self.recomputes:
            x, _, version = self.held[op.tag]
            self.held[op.tag] = (x, None, version)  # h lives on as the next stage's input, and in the message
            self.sram.in_use -= self.out_bytes
        return op

    def backward(self) -> Op:
        if self.recomputes:
            sample = self.deltas[0][0]
            x, _, version = self.held[sample]
            self.held[sample] = (x, self.layer.forward(x), version)  # the same weights: bitwise the same h
            self.sram.alloc(self.out_bytes)
        return super().backward()


GPIPE = Algorithm(
    name="gpipe", summary="GPipe: M micro-batches forward, then backward, then one synchronous update",
    options=Rematerialized, family=PIPELINE, in_order_minibatches=True, layer_program=RematProgram,
    schedule=lambda o, n_layers, n_samples: GPipe(n_layers, n_samples, o.micro_batches, o.rematerialize))

ONE_F_ONE_B = Algorithm(
    name="1f1b", summary="1F1B (PipeDream-flush): GPipe's update, one backward then one forward, K-k+1 in flight",
    options=Rematerialized, family=PIPELINE, in_order_minibatches=True, layer_program=RematProgram,
    schedule=lambda o, n_layers, n_samples: OneFOneB(n_layers, n_samples, o.micro_batches, o.rematerialize))
