"""A fully connected layer: h = phi(W x + b), W of shape (n_out, n_in); the top layer gives logits and the loss.

`DenseShape` is what the layer is and costs; `Dense` adds its arrays and arithmetic
(Numba kernels from `kernels`, checked against `wafersim_kernels.reference`). A timing-only run
uses `timing.Timing(shape)` instead of `Dense`, so the programs never branch on
whether arithmetic is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wafersim_kernels import (ACTIVATIONS, IDENTITY, accumulate_gradient, activation_backward, delta_to_input,
                     dense_forward)
from wafersim_kernels.dense import dense_backward, dense_forward_loss

from ..optimizers import Transform
from .params import ParamLayer
from .shape import FLOAT_BYTES

_empty, _F32 = np.empty, np.float32  # np.empty(n, np.float32) with positional dtype: the cheapest fresh vector


class MatrixCounts:
    """What an n_out x n_in weight matrix (with its biases if `bias`) costs and holds, for any shape that
    has one: a dense layer (`DenseShape`) or a region's block of one (`block.BlockShape`). The shape
    says how much its B adds first (`input_gradient_macs`)."""

    @property
    def param_count(self) -> int:
        return self.n_in * self.n_out + (self.n_out if self.bias else 0)

    @property
    def rows(self) -> int:
        return self.n_out

    @property
    def input_floats(self) -> int:
        return self.n_in

    @property
    def output_floats(self) -> int:
        return self.n_out

    def forward_macs(self) -> int:
        """F: one matrix-vector product W @ x (bias add and activation ride along in the overhead)."""
        return self.n_in * self.n_out

    def backward_macs(self, builds_gradient: bool) -> int:
        """B: `input_gradient_macs` and, when the gradient is built in a buffer (summed over samples,
        or for a non-linear optimizer), the outer product dz x^T into it."""
        return self.input_gradient_macs() + self.weight_gradient_macs(builds_gradient)

    def weight_gradient_macs(self, builds_gradient: bool) -> int:
        """Its W: the outer product dz x^T into the gradient buffer, or nothing if the update streams
        it; so B + W is `backward_macs`."""
        return self.n_in * self.n_out if builds_gradient else 0

    @property
    def backward_reads_weights(self) -> bool:
        """Does B read the weights (so the anchored rule keeps the forward's version)? Not on layer 1: no W^T dz."""
        return not self.first

    @property
    def stash_bytes(self) -> int:
        """One stashed weight version for the anchored delta rule: W (the backward's W^T);
        the first layer's backward computes no W^T dz, so it stashes nothing."""
        return 0 if self.first else self.n_in * self.n_out * FLOAT_BYTES


@dataclass(frozen=True)
class DenseShape(MatrixCounts):
    """A dense layer n_in -> n_out: its MACs per op and the bytes it keeps and sends."""

    n_in: int
    n_out: int
    bias: bool
    activation: str  # hidden layers; the top layer is linear (logits)
    first: bool
    top: bool
    kind: str = "dense"
    streamable = True  # its per-sample gradient is the rank-one dz x^T

    def input_gradient_macs(self) -> int:
        """The B of a split backward (zb-h1): dz = delta * phi'(h) and W^T @ dz, without the gradient."""
        return self.n_out + (0 if self.first else self.n_in * self.n_out)

    def describe(self) -> str:
        return f"{self.n_in}->{self.n_out}"

    def initial(self, rng: np.random.Generator, scheme: str) -> tuple[np.ndarray, np.ndarray]:
        """Initial W (n_out, n_in) and b (zeros), float32: glorot draws uniform in
        +-sqrt(6 / (n_in + n_out)); he draws normal with std sqrt(2 / n_in)."""
        if scheme == "glorot":
            limit = np.sqrt(6.0 / (self.n_in + self.n_out))
            W = rng.uniform(-limit, limit, size=(self.n_out, self.n_in))
        else:
            W = rng.normal(0.0, np.sqrt(2.0 / self.n_in), size=(self.n_out, self.n_in))
        return np.ascontiguousarray(W, dtype=np.float32), np.zeros(self.n_out, dtype=np.float32)

    def forward_batch(self, W: np.ndarray, b: np.ndarray, H: np.ndarray) -> np.ndarray:
        """The forward of every row of H (shape (n, n_in)) at once, for evaluation: logits on the top layer."""
        with np.errstate(invalid="ignore", over="ignore"):  # a diverged run has inf/NaN weights
            Z = H @ W.T + b
        if self.top:
            return Z
        return np.maximum(Z, 0) if self.activation == "relu" else np.tanh(Z)


class Dense(ParamLayer):
    """A dense layer with its arrays (`ParamLayer`) and the arithmetic of its F and B."""

    def __init__(self, shape: DenseShape, W: np.ndarray, b: np.ndarray, optimizer: Transform,
                 builds_gradient: bool, flat_gradient: bool = False):
        super().__init__(shape, W, b, optimizer, builds_gradient, flat_gradient)
        self.act = IDENTITY if shape.top else ACTIVATIONS[shape.activation]
        # Scratch (n_out,) float32 buffers: the top layer's logits, and a hidden layer's dz, which
        # its update (streamed) or the backward itself (summed) consumes before the next backward.
        self._z = np.empty(shape.n_out, dtype=np.float32) if shape.top else None
        self._dz = None if shape.top else np.empty(shape.n_out, dtype=np.float32)

    # -- F ---------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """h = phi(W x + b), shape (n_out,)."""
        h = _empty(self.shape.n_out, _F32)
        dense_forward(self.W, self.b, x, h, self.act)
        return h

    def forward_loss(self, x: np.ndarray, label: int) -> tuple[np.ndarray, float]:
        """The top layer: logits z = W x + b (in the scratch buffer), then (dL/dz, L) of softmax cross-entropy."""
        dz = _empty(self.shape.n_out, _F32)
        return dz, dense_forward_loss(self.W, self.b, x, self._z, label, dz)

    # -- B ---------------------------------------------------------------------------
    def backward(self, x: np.ndarray, out: np.ndarray, e: np.ndarray | None, weights: np.ndarray | None):
        """B of one sample: dz = dL/dz from the kept output h and the arriving dL/dh (the top layer
        kept dz itself); keep its gradient dz x^T (summed into the buffer, or its factors kept to
        stream); return dL/dx = W^T dz, with `weights` (a stashed version) or the current W,
        or None on the first layer."""
        shape = self.shape
        delta = None
        if shape.top:
            dz = out
        else:
            dz = self._dz
            if shape.first:
                activation_backward(out, e, dz, self.act)
            else:  # activation_backward and delta_to_input in one call
                delta = _empty(shape.n_in, _F32)
                dense_backward(self.W if weights is None else weights, out, e, dz, delta, self.act)
        if self.streams:
            self.factors = (dz, x)
        else:
            accumulate_gradient(self.grad_W, self.grad_b, dz, x)
        if shape.top and not shape.first:
            delta = _empty(shape.n_in, _F32)
            delta_to_input(self.W if weights is None else weights, dz, delta)
        return delta

    def backward_input(self, x: np.ndarray, out: np.ndarray, e: np.ndarray | None,
                       weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The B of a split backward (zb-h1): `backward` without the gradient, returning (dz, dL/dx).
        dz is a fresh array (it waits for its W while later samples run their B); the kernels and
        their inputs are `backward`'s, so dz and dL/dx are bitwise its."""
        shape = self.shape
        delta = None
        if shape.top:
            dz = out
        else:
            dz = _empty(shape.n_out, _F32)
            if shape.first:
                activation_backward(out, e, dz, self.act)
            else:
                delta = _empty(shape.n_in, _F32)
                dense_backward(self.W if weights is None else weights, out, e, dz, delta, self.act)
        if shape.top and not shape.first:
            delta = _empty(shape.n_in, _F32)
            delta_to_input(self.W if weights is None else weights, dz, delta)
        return dz, delta

    def backward_weight(self, x: np.ndarray, dz: np.ndarray) -> None:
        """Its W: keep the gradient dz x^T of one sample as `backward` does (summed into the buffer,
        or its factors kept to stream); run in sample order, the buffer sums as `backward`'s do."""
        if self.streams:
            self.factors = (dz, x)
        else:
            accumulate_gradient(self.grad_W, self.grad_b, dz, x)
