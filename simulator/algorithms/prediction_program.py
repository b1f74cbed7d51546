"""The program of a CP layer with linear weight prediction (Kosson et al. 2021): its forward runs on predicted weights.

Layer k's gradient of sample s is applied D_k = 2(D-k) updates after its forward read the
weights, and its backward and update meet the weights as they are by then. The forward
therefore reads W + D_k (W - W_prev), the weights extrapolated along the last step
(the weight-difference form, which for heavy-ball momentum is W - lr D_k v). The layer
keeps the last step (W and b) and a buffer for the predicted weights; predicting costs a
multiply-add per parameter in the forward, and taking the step a subtraction per
parameter in the update. Until its first update the layer forwards on its weights as they are.
"""

from __future__ import annotations

import numpy as np

from ..layers import param_bytes
from ..records import Op
from .pipeline import LayerProgram, op_macs
from .stash import weights_of


class PredictingProgram(LayerProgram):
    """Layer k's program under weight prediction: the plain pipeline with a forward on W + D_k (W - W_prev)."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        self.horizon = np.float32(self.schedule.delay(self.k))
        self.arithmetic = not scenario.timing_only
        self.step: tuple | None = None  # (W - W_prev, b - b_prev) of the last update
        params = self.shape.param_count
        self.cycles_F = self.chip.op_cycles(self.shape.forward_macs() + params)
        self.cycles_U = self.chip.op_cycles(op_macs(self.shape, self.schedule, self.layer.optimizer)[2] + params)
        self.buffers = 2 * param_bytes(self.shape)  # the last step and the predicted weights, from the first update

    def forward(self) -> Op:
        if self.step is None:
            return super().forward()
        layer, (dW, db) = self.layer, self.step
        with weights_of(layer, layer.W + self.horizon * dW, layer.b + self.horizon * db):
            return super().forward()

    def update(self) -> Op:
        if self.version == 0:
            self.sram.alloc(self.buffers)
        before = (self.layer.W.copy(), self.layer.b.copy()) if self.arithmetic else None
        op = super().update()
        if before is not None:
            self.step = (self.layer.W - before[0], self.layer.b - before[1])
        return op
