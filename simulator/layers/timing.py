"""The timing-only twin of any layer: the same shape and costs, no arrays, every piece of arithmetic a no-op.

A timing-only run gives each program a `Timing` instead of an arithmetic layer, so the
programs keep one code path: payloads are None, losses are None, nothing is computed.
"""

from __future__ import annotations

from ..optimizers import Transform, UpdateInfo


class Timing:
    """A layer without arrays: what `Dense` (or any layer type) does, with nothing computed."""

    def __init__(self, shape, optimizer: Transform):
        self.shape = shape
        self.optimizer = optimizer
        self.params: list = []
        self.param_names: list[str] = []

    def forward(self, x):
        return None

    def forward_loss(self, x, label):
        return None, None

    def backward(self, x, out, e, weights):
        return None

    def backward_input(self, x, out, e, weights):
        return None, None

    def backward_weight(self, x, dz) -> None:
        pass

    def stash(self):
        return None

    def update(self, samples: int, count: int) -> None:
        pass

    def apply_gradient(self, grads, info: UpdateInfo, scale: float = 1.0) -> None:
        pass

    def clear_gradient(self) -> None:
        pass

    def take_gradient(self):
        return None

    def zeros(self):
        return None

    def accrue_gradient(self, into, alpha: float) -> None:
        pass

    def take(self, buffers):
        return None

    def read(self):
        return None

    def install(self, weights) -> None:
        pass

    def written(self):
        return None

    @staticmethod
    def partial_read(before, after, rows_done: int):
        return None

    def chunk(self, part: slice):
        return None

    def add_chunk(self, part: slice, values) -> None:
        pass

    def set_chunk(self, part: slice, values) -> None:
        pass

    def optimizer_arrays(self) -> dict:
        return {}
