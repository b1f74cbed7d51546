"""A 2-D convolution layer: h = phi(conv(x, W) + b), x of shape (C, H, W), W of shape (O, C, K, K).

`ConvShape` is what the layer is and costs; `Conv2D` adds its arrays (`ParamLayer`) and the
arithmetic of F and B with the kernels of `wafersim_kernels.conv` (checked against
`wafersim_kernels.reference_conv`). Samples travel between PEs as flat float32 vectors
(channels, then rows, then columns), which each op views in its (C, H, W) shape. The
gradient of a convolution is no rank-one product, so the layer always builds it in its
buffer.

With `norm` (normalization propagation, Arpit et al. 2016, the CP paper's batch-size-one
normalization) the layer computes u = g * conv(x, W / ||W_f||) + beta with a unit-norm
copy of each filter f, a learnt gain g and shift beta per filter, and outputs
(ReLU(u) - 1/sqrt(2 pi)) / sqrt((1 - 1/pi) / 2): a standard normal pre-activation gives
an output of mean 0 and variance 1, with no statistics of the data. Its `b` holds beta and
g as two rows (shape (2, O)), so a layer's arrays stay W and b. The gradient of W goes
through the normalization: (grad_V - (grad_V . v) v) / ||W_f|| for each filter. Those
kernels are `wafersim_kernels.normprop`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from wafersim_kernels import ACTIVATIONS, IDENTITY, activation_backward, softmax_cross_entropy
from wafersim_kernels.activations import activate_in_place
from wafersim_kernels.conv import conv2d_forward, conv2d_input_gradient, conv2d_output_size, conv2d_weight_gradient
from wafersim_kernels.normprop import (normprop_forward, normprop_input_gradient, normprop_relu_backward,
                                       normprop_weight_gradient)

from ..optimizers import Transform
from .params import ParamLayer
from .shape import FLOAT_BYTES


@dataclass(frozen=True)
class ConvShape:
    """A convolution over a (channels, height, width) input: its MACs per op and the bytes it keeps and sends."""

    channels: int
    height: int
    width: int
    filters: int
    kernel: int
    stride: int
    pad: int
    bias: bool
    activation: str  # hidden layers; the top layer's outputs are the logits
    first: bool
    top: bool
    norm: bool = False  # normalization propagation (see the module)
    kind: str = "conv"
    streamable = False  # its gradient sums a window of products per weight: always built in the buffer

    @cached_property  # read on every op: computed once
    def out_height(self) -> int:
        return conv2d_output_size(self.height, self.kernel, self.stride, self.pad)

    @cached_property
    def out_width(self) -> int:
        return conv2d_output_size(self.width, self.kernel, self.stride, self.pad)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return self.filters, self.out_height, self.out_width

    @property
    def weight_count(self) -> int:
        return self.filters * self.channels * self.kernel * self.kernel

    @property
    def param_count(self) -> int:
        if self.norm:
            return self.weight_count + 2 * self.filters  # W, and beta and g
        return self.weight_count + (self.filters if self.bias else 0)

    @property
    def rows(self) -> int:
        return self.filters  # a lock-free update writes one filter (and its bias) at a time

    @property
    def input_floats(self) -> int:
        return self.channels * self.height * self.width

    @property
    def output_floats(self) -> int:
        return self.filters * self.out_height * self.out_width

    def conv_macs(self) -> int:
        """K*K*C multiply-adds for each output value."""
        return self.output_floats * self.channels * self.kernel * self.kernel

    def forward_macs(self) -> int:
        """F: the convolution; with norm also each filter's norm and its unit copy (two per weight)."""
        return self.conv_macs() + (2 * self.weight_count if self.norm else 0)

    def input_gradient_macs(self) -> int:
        """dz = delta * phi'(h) per output value, and dL/dx (a convolution's MACs) above layer 1."""
        return self.output_floats + (0 if self.first else self.conv_macs())

    def weight_gradient_macs(self, builds_gradient: bool) -> int:
        """dL/dW: one multiply-add per weight and output position, as the forward; with norm also the
        unit filters again (two per weight) and the gain's gradient and the projection through the
        norm (three per weight: G . V, G - r V, times g / ||W||)."""
        return self.conv_macs() + (5 * self.weight_count if self.norm else 0)

    def backward_macs(self, builds_gradient: bool) -> int:
        return self.input_gradient_macs() + self.weight_gradient_macs(builds_gradient)

    @property
    def backward_reads_weights(self) -> bool:
        """Does B read the weights (so the anchored rule keeps the forward's version)? Not on layer 1: no W^T dz."""
        return not self.first

    @property
    def stash_bytes(self) -> int:
        """One stashed version of the filters for the anchored rule (none on layer 1)."""
        return 0 if self.first else self.weight_count * FLOAT_BYTES

    def describe(self) -> str:
        return (f"conv {self.channels}x{self.height}x{self.width}->{self.filters}x{self.out_height}x{self.out_width} "
                f"k{self.kernel}" + (f" s{self.stride}" if self.stride > 1 else "") +
                (f" p{self.pad}" if self.pad else "") + (" norm" if self.norm else ""))

    def initial(self, rng: np.random.Generator, scheme: str) -> tuple[np.ndarray, np.ndarray]:
        """Initial W (O, C, K, K) and b (zeros), float32: glorot draws uniform in +-sqrt(6 / (fan_in +
        fan_out)) with fan_in = C K^2 and fan_out = O K^2; he draws normal with std sqrt(2 / fan_in)."""
        fan_in, fan_out = self.channels * self.kernel ** 2, self.filters * self.kernel ** 2
        shape = (self.filters, self.channels, self.kernel, self.kernel)
        if scheme == "glorot":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, size=shape)
        else:
            W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        if self.norm:  # beta = 0 and g = 1
            return W.astype(np.float32), np.stack([np.zeros(self.filters), np.ones(self.filters)]).astype(np.float32)
        return W.astype(np.float32), np.zeros(self.filters, dtype=np.float32)

    def forward_batch(self, W: np.ndarray, b: np.ndarray, H: np.ndarray) -> np.ndarray:
        """The forward of every row of H (shape (n, C*H*W)), for evaluation: one sample at a time."""
        out = np.empty((H.shape[0], self.output_floats), dtype=np.float32)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # a diverged run has inf/NaN weights
            for i, row in enumerate(np.ascontiguousarray(H, dtype=np.float32)):
                out[i] = conv_forward(self, W, b, row)
        return out


def conv_forward(shape: ConvShape, W: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """h = phi(conv(x, W) + b) for the flat input x, flat (O*Ho*Wo,); with norm the recentred ReLU of
    g conv(x, V) + beta (the top layer: that pre-activation, the logits)."""
    h = np.empty(shape.output_floats, dtype=np.float32)
    x3, h3 = x.reshape(shape.channels, shape.height, shape.width), h.reshape(shape.out_shape)
    if shape.norm:
        normprop_forward(x3, W, b, shape.stride, shape.pad, shape.top, h3)
        return h
    conv2d_forward(x3, W, b, shape.stride, shape.pad, h3)
    activate_in_place(h, IDENTITY if shape.top else ACTIVATIONS[shape.activation])
    return h


class Conv2D(ParamLayer):
    """A convolution layer with its arrays (`ParamLayer`) and the arithmetic of its F and B, one sample at a time."""

    def __init__(self, shape: ConvShape, W: np.ndarray, b: np.ndarray, optimizer: Transform,
                 builds_gradient: bool = True, flat_gradient: bool = False):
        super().__init__(shape, W, b, optimizer, True, flat_gradient)
        self.conv = shape  # the convolution's own shape (a conv_pool group's PE shape is `self.shape`)
        self.act = IDENTITY if shape.top else ACTIVATIONS[shape.activation]
        self.x_shape = (shape.channels, shape.height, shape.width)
        self.out_shape = shape.out_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        """`conv_forward` with the layer's own weights."""
        return conv_forward(self.conv, self.W, self.b, x)

    def forward_loss(self, x: np.ndarray, label: int) -> tuple[np.ndarray, float]:
        """The top layer: logits z = conv(x, W) + b, then (dL/dz, L) of softmax cross-entropy."""
        z = self.forward(x)
        dz = np.empty_like(z)
        return dz, float(softmax_cross_entropy(z, label, dz))

    def backward_input(self, x: np.ndarray, out: np.ndarray, e: np.ndarray | None,
                       weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """dz = e * phi'(h) (the top layer kept dz), and dL/dx through `weights` (a stashed version)
        or the current W, None on layer 1."""
        shape = self.conv
        W = self.W if weights is None else weights
        if shape.top:
            dz = out
        else:
            dz = np.empty(shape.output_floats, dtype=np.float32)
            if shape.norm:
                normprop_relu_backward(out, e, dz)
            else:
                activation_backward(out, e, dz, self.act)
        if shape.first:
            return dz, None
        delta = np.empty(shape.input_floats, dtype=np.float32)
        if shape.norm:  # through g V: dz scaled by each filter's gain, back through the unit filters
            normprop_input_gradient(W, self.b, dz.reshape(self.out_shape), shape.stride, shape.pad,
                                    delta.reshape(self.x_shape))
        else:
            conv2d_input_gradient(W, dz.reshape(self.out_shape), shape.stride, shape.pad, delta.reshape(self.x_shape))
        return dz, delta

    def backward_weight(self, x: np.ndarray, dz: np.ndarray) -> None:
        """Add this sample's dL/dW and dL/db into the gradient buffer (with norm: dL/dbeta and dL/dg as b's rows)."""
        shape = self.conv
        x3, dz3 = x.reshape(self.x_shape), dz.reshape(self.out_shape)
        if shape.norm:
            normprop_weight_gradient(x3, self.W, self.b, dz3, shape.stride, shape.pad, self.grad_W, self.grad_b)
        else:
            conv2d_weight_gradient(x3, dz3, shape.stride, shape.pad, self.grad_W, self.grad_b)

    def backward(self, x: np.ndarray, out: np.ndarray, e: np.ndarray | None, weights: np.ndarray | None):
        """B of one sample: its input gradient (returned, None on layer 1), and its weight gradient summed in."""
        dz, delta = self.backward_input(x, out, e, weights)
        self.backward_weight(x, dz)
        return delta
