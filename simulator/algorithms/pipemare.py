"""PipeMare (Yang et al. 2021, "PipeMare: Asynchronous Pipeline Parallel DNN Training"): asynchronous 1F1B without stashing.

PipeDream's schedule (1F1B order, at most K-k+1 samples in flight at stage k, an update
per sample, no flush) with no weight stashing: the forward and the backward both read the
stage's weights as they are, so on uniform ops stage k's forward reads weights
tau_fwd = K-k updates old and its backward the current ones (tau_bkwd = 0: the update
follows it at once). Two corrections, each an option:

- T1, learning-rate rescheduling (`lr_rescheduling_samples: T`): stage k's step is
  lr tau^-p with tau = max(K-k, 1) and p = 1 - min(t/T, 1) after t samples, a step
  inversely proportional to the delay at first, annealed to lr over T samples
  (`optimizers.delay_rescheduling`; the form of the public re-implementation in
  PluralisResearch/AsyncPP, the paper's text not being at hand).
- T2, discrepancy correction (`discrepancy_correction: true`): the backward's W^T dz
  reads u = W - (tau_fwd - tau_bkwd) delta, the current weights moved back along the
  velocity delta, an exponential average of the per-update change of W,
  delta <- gamma delta + (1 - gamma) (W_new - W_old), gamma = `discrepancy_decay`
  (this module's constant; the paper ties it to the delay), toward the weights the forward
  read. Layer 1's backward reads no weights and the top's delay is 0: neither corrects.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..layers import FLOAT_BYTES
from ..optimizers import delay_rescheduling, make_optimizer
from ..records import Op
from ..schema import Strict
from .pipedream import PipeDream
from .pipeline import LayerProgram, op_macs
from .registry import PIPELINE, Algorithm
from .stash import weights_of


class PipeMareOptions(Strict):
    """PipeMare's keys: its two corrections."""

    lr_rescheduling_samples: int = Field(
        default=0, ge=0, description="pipemare: anneal each stage's step from lr / (K-k) to lr over this many "
                                     "samples (T1; 0: off)")
    discrepancy_correction: bool = Field(
        default=False, description="pipemare: the backward reads W - (K-k) delta, delta the weights' average "
                                   "change per update (T2)")
    discrepancy_decay: float = Field(
        default=0.9, ge=0, lt=1, description="pipemare: gamma of delta <- gamma delta + (1 - gamma) (W_new - W_old)")


class PipeMare(PipeDream):
    """PipeMare: PipeDream's order and windows, every op on the current weights, with T1 and T2."""

    name = "pipemare"
    anchored = False

    def __init__(self, n_layers: int, n_samples: int, options: PipeMareOptions):
        super().__init__(n_layers, n_samples)
        self.rescheduling = options.lr_rescheduling_samples
        self.corrects = options.discrepancy_correction
        self.decay = options.discrepancy_decay

    def delay(self, layer: int) -> int:
        """tau_fwd - tau_bkwd of stage k on uniform ops: K-k."""
        return self.n_layers - layer

    def corrected(self, layer: int) -> bool:
        """Does stage k's backward read corrected weights (T2; not layer 1, not the top)?"""
        return self.corrects and 1 < layer < self.n_layers

    def layer_optimizer(self, layer: int, config, lr_schedule):
        if not self.rescheduling:
            return None
        return make_optimizer(config, lr_schedule, (delay_rescheduling(self.delay(layer), self.rescheduling),))

    def stash_bytes(self, layer: int, shape) -> int:
        """T2: delta and the corrected weights u, one W each."""
        return 2 * shape.n_in * shape.n_out * FLOAT_BYTES if self.corrected(layer) else 0


class CorrectingProgram(LayerProgram):
    """A PipeMare stage under discrepancy correction: its backward reads W - (K-k) delta, and each
    update moves delta toward the change it made."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        schedule, shape = self.schedule, self.shape
        self.horizon = np.float32(schedule.delay(self.k))
        self.gamma, self.rest = np.float32(schedule.decay), np.float32(1.0 - schedule.decay)
        self.arithmetic = not scenario.timing_only
        self.delta = np.zeros_like(self.layer.W) if self.arithmetic else None
        weights = shape.n_in * shape.n_out
        _, macs_B, macs_U = op_macs(shape, schedule, self.layer.optimizer)
        # B forms u (a multiply-add per weight); U takes the change and averages it in (three per weight).
        self.cycles_B = self.chip.op_cycles(macs_B + weights)
        self.cycles_U = self.chip.op_cycles(macs_U + 3 * weights)
        self.sram.alloc(schedule.stash_bytes(self.k, shape))  # delta and u, for the whole run

    def backward(self) -> Op:
        if not self.arithmetic:
            return super().backward()
        with weights_of(self.layer, self.layer.W - self.horizon * self.delta):
            return super().backward()

    def update(self) -> Op:
        before = self.layer.W.copy() if self.arithmetic else None
        op = super().update()
        if before is not None:
            self.delta = self.gamma * self.delta + self.rest * (self.layer.W - before)
        return op


def stage_program(*, scenario, schedule, **args) -> LayerProgram:
    """A PipeMare stage: the plain program, or one that corrects its backward's weights (T2)."""
    if schedule.corrected(args["k"]):
        return CorrectingProgram(scenario=scenario, schedule=schedule, **args)
    return LayerProgram(schedule=schedule, **args)


ALGORITHM = Algorithm(
    name="pipemare", summary="PipeMare: asynchronous 1F1B without stashing, with lr rescheduling and "
                             "discrepancy correction",
    options=PipeMareOptions, family=PIPELINE, layer_program=stage_program,
    schedule=lambda o, n_layers, n_samples: PipeMare(n_layers, n_samples, o))
