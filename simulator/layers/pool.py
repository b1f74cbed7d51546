"""Pooling layers: max or average over size x size windows, or the global average of each channel.

`PoolShape` is what the layer is and costs; `Pool` does its F and B with the kernels of
`wafersim_kernels.conv`. A pooling layer has no parameters: its U changes nothing (the
parameter handling is `Timing`'s, which does nothing), and it keeps, per sample in
flight, its input and its output as any layer does. A max pool's backward finds each
window's maximum again from the kept input (the same compares as its forward, and the
same first maximum on ties) rather than keep the positions. As the top layer (global
pooling in network-in-network) its outputs are the logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from wafersim_kernels import softmax_cross_entropy
from wafersim_kernels.conv import (avgpool_backward, avgpool_forward, conv2d_output_size, global_avgpool_backward,
                                   global_avgpool_forward, maxpool_backward, maxpool_forward)

from .timing import Timing


@dataclass(frozen=True)
class PoolShape:
    """Pooling over a (channels, height, width) input: `mode` max | avg (windows) or global (average)."""

    channels: int
    height: int
    width: int
    mode: str
    size: int  # window height and width (global: the whole map)
    stride: int
    first: bool
    top: bool
    kind: str = "pool"
    streamable = False
    bias = False
    param_count = 0
    rows = 0
    stash_bytes = 0
    backward_reads_weights = False

    @cached_property  # read on every op: computed once
    def out_height(self) -> int:
        return 1 if self.mode == "global" else conv2d_output_size(self.height, self.size, self.stride, 0)

    @cached_property
    def out_width(self) -> int:
        return 1 if self.mode == "global" else conv2d_output_size(self.width, self.size, self.stride, 0)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.channels,) if self.mode == "global" else (self.channels, self.out_height, self.out_width)

    @property
    def input_floats(self) -> int:
        return self.channels * self.height * self.width

    @property
    def output_floats(self) -> int:
        return self.channels * self.out_height * self.out_width

    def forward_macs(self) -> int:
        """F: one compare or add per input value of each window (global: per input value)."""
        if self.mode == "global":
            return self.input_floats
        return self.output_floats * self.size * self.size

    def input_gradient_macs(self) -> int:
        """B: route (max) or spread (average) each output's delta back over its window; nothing on layer 1."""
        return 0 if self.first else self.forward_macs()

    def weight_gradient_macs(self, builds_gradient: bool) -> int:
        return 0

    def backward_macs(self, builds_gradient: bool) -> int:
        return self.input_gradient_macs()

    def describe(self) -> str:
        if self.mode == "global":
            return f"global avg pool {self.channels}x{self.height}x{self.width}->{self.channels}"
        return (f"{self.mode} pool {self.channels}x{self.height}x{self.width}->"
                f"{self.channels}x{self.out_height}x{self.out_width} {self.size}/{self.stride}")

    def initial(self, rng: np.random.Generator, scheme: str) -> tuple[np.ndarray, np.ndarray]:
        """No parameters: empty W and b (weights.npz keeps the layer numbering)."""
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)

    def forward_batch(self, W: np.ndarray, b: np.ndarray, H: np.ndarray) -> np.ndarray:
        """The forward of every row of H (shape (n, C*H*W)), for evaluation."""
        out = np.empty((H.shape[0], self.output_floats), dtype=np.float32)
        for i, row in enumerate(np.ascontiguousarray(H, dtype=np.float32)):
            out[i] = pool_forward(self, row)
        return out


def pool_forward(shape: PoolShape, x: np.ndarray) -> np.ndarray:
    """The pooled values of the flat input x, flat."""
    h = np.empty(shape.output_floats, dtype=np.float32)
    x3 = x.reshape(shape.channels, shape.height, shape.width)
    if shape.mode == "global":
        global_avgpool_forward(x3, h)
    elif shape.mode == "avg":
        avgpool_forward(x3, shape.size, shape.stride, h.reshape(shape.out_shape))
    else:
        maxpool_forward(x3, shape.size, shape.stride, h.reshape(shape.out_shape),
                        np.empty(shape.out_shape, dtype=np.int32))
    return h


class Pool(Timing):
    """A pooling layer's F and B, one sample at a time; no parameters, so U does nothing."""

    def __init__(self, shape: PoolShape, optimizer):
        super().__init__(shape, optimizer)
        self.x_shape = (shape.channels, shape.height, shape.width)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return pool_forward(self.shape, x)

    def forward_loss(self, x: np.ndarray, label: int) -> tuple[np.ndarray, float]:
        """The top layer: the pooled values are the logits; (dL/dz, L) of softmax cross-entropy."""
        z = self.forward(x)
        dz = np.empty_like(z)
        return dz, float(softmax_cross_entropy(z, label, dz))

    def backward_input(self, x: np.ndarray, out: np.ndarray, e: np.ndarray | None, weights=None):
        """(dL/d output, dL/dx): the arriving delta (the top: its kept dz) routed back through the windows."""
        shape = self.shape
        dz = out if shape.top else e
        if shape.first:
            return dz, None
        dx = np.empty(shape.input_floats, dtype=np.float32)
        dx3 = dx.reshape(self.x_shape)
        if shape.mode == "global":
            global_avgpool_backward(dz, dx3)
        elif shape.mode == "avg":
            avgpool_backward(dz.reshape(shape.out_shape), shape.size, shape.stride, dx3)
        else:
            argmax = np.empty(shape.out_shape, dtype=np.int32)
            maxpool_forward(x.reshape(self.x_shape), shape.size, shape.stride, np.empty(shape.out_shape, np.float32),
                            argmax)
            maxpool_backward(dz.reshape(shape.out_shape), argmax, dx3)
        return dz, dx

    def backward_weight(self, x: np.ndarray, dz: np.ndarray) -> None:
        """No parameters, no gradient."""

    def backward(self, x: np.ndarray, out: np.ndarray, e: np.ndarray | None, weights=None):
        return self.backward_input(x, out, e)[1]
