"""PipeDream (Narayanan et al. 2019) and PipeDream-2BW (Narayanan et al. 2021): asynchronous 1F1B.

Every micro-batch (one sample) updates the stage's weights as soon as its backward is done,
with no flush, so stages never idle once the pipeline is full. Stage k (1..K) holds at
most K-k+1 samples between their forward and their backward and prefers a backward to a
forward; its backward uses the weights its own forward used (weight stashing, the
anchored rule), so it keeps up to K-k+1 weight versions. With uniform ops each update of
stage k is K-k versions stale once the pipeline is full.

PipeDream-2BW instead sums the gradients of M micro-batches into one update and double-
buffers the weights: mini-batch t's micro-batches all read the weights after t-1 updates,
W(t+1) = W(t) - lr mean grad(W(t-1)), whatever the timing, and a stage never keeps more
than two versions.
"""

from __future__ import annotations

from ..layers import FLOAT_BYTES
from ..records import Op
from .base import NoOptions, Schedule
from .gpipe import MicroBatched
from .pipeline import LayerProgram
from .registry import PIPELINE, Algorithm


class PipeDream(Schedule):
    """PipeDream: 1F1B order, an update per sample, the backward on the forward's stashed weights."""

    name = "pipedream"
    anchored = True
    priority = ("U", "B", "F")

    def window(self, layer: int) -> int:
        return self.n_layers - layer + 1

    def may_forward(self, sample: int, version: int) -> bool:
        return True

    def ends_group(self, sample: int) -> bool:
        return True


ALGORITHM = Algorithm(
    name="pipedream", summary="PipeDream: asynchronous 1F1B, an update per sample, weight stashing",
    options=NoOptions, family=PIPELINE,
    schedule=lambda o, n_layers, n_samples: PipeDream(n_layers, n_samples))


class PipeDream2BW(Schedule):
    """PipeDream-2BW: 1F1B order with no flush; the M micro-batches of mini-batch t all run on the
    weights after t-1 updates, and their summed gradient makes update t, so every update is
    exactly one version stale and a stage keeps two versions (double buffering)."""

    name = "pipedream-2bw"
    priority = ("U", "B", "F")

    def __init__(self, n_layers: int, n_samples: int, micro_batches: int):
        super().__init__(n_layers, n_samples)
        self.micro_batches = micro_batches
        self.sums_gradients = micro_batches > 1

    def forward_version(self, sample: int) -> int:
        """The weights mini-batch t's forwards and backwards read: those after t-1 updates (t = 0: the first)."""
        return max(0, sample // self.micro_batches - 1)

    def window(self, layer: int) -> int:
        return self.n_layers - layer + 1

    def may_forward(self, sample: int, version: int) -> bool:
        return self.forward_version(sample) <= version  # the version it reads exists

    def ends_group(self, sample: int) -> bool:
        return (sample + 1) % self.micro_batches == 0 or sample == self.n_samples - 1

    def updates(self) -> int:
        return -(-self.n_samples // self.micro_batches)

    def stash_bytes(self, layer: int, shape) -> int:
        """The second weight buffer: the version before the current one, W and b (layer 1's forward reads it too)."""
        return shape.param_count * FLOAT_BYTES


class TwoBufferProgram(LayerProgram):
    """A PipeDream-2BW stage: before each update it keeps the weights as the shadow version, and a
    forward or backward whose mini-batch reads that version runs on the shadow."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        self.shadow: tuple | None = None  # (W, b) after version - 1 updates, once there has been an update
        self.arithmetic = not scenario.timing_only

    def _on(self, version: int, op):
        """Run op() on the weights of `version`: the current ones, or the shadow (the one before)."""
        if version == self.version or not self.arithmetic:
            return op()
        assert version == self.version - 1, "2BW reads the current or the previous version only"
        layer = self.layer
        current = layer.W, layer.b
        layer.W, layer.b = self.shadow
        try:
            return op()
        finally:
            layer.W, layer.b = current

    def forward(self) -> Op:
        sample = self.inputs[0][0]
        version = self.schedule.forward_version(sample)
        op = self._on(version, super().forward)
        x, h, _ = self.held[sample]
        self.held[sample] = (x, h, version)  # the version it read, for its backward and its update's staleness
        return op

    def backward(self) -> Op:
        return self._on(self.held[self.deltas[0][0]][2], super().backward)

    def update(self) -> Op:
        if self.version == 0:  # the second buffer, from the first update on
            self.sram.alloc(self.schedule.stash_bytes(self.k, self.shape))
        if self.arithmetic:
            self.shadow = (self.layer.W.copy(), self.layer.b.copy())
        return super().update()


TWO_BW = Algorithm(
    name="pipedream-2bw", summary="PipeDream-2BW: asynchronous 1F1B, one update per mini-batch, one version stale",
    options=MicroBatched, family=PIPELINE, layer_program=TwoBufferProgram,
    schedule=lambda o, n_layers, n_samples: PipeDream2BW(n_layers, n_samples, o.micro_batches))
