"""A fully connected layer: h = phi(W x + b), W of shape (n_out, n_in); the top layer gives logits and the loss.

`DenseShape` is what the layer is and costs; `Dense` adds its arrays and arithmetic
(Numba kernels from `kernels`, checked against `wafersim_kernels.reference`). A timing-only run
uses `timing.Timing(shape)` instead of `Dense`, so the programs never branch on
whether arithmetic is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wafersim_kernels import (ACTIVATIONS, IDENTITY, accumulate_gradient, activation_backward, axpy, delta_to_input,
                     dense_forward, rank_one_update, zero)
from wafersim_kernels.dense import dense_backward, dense_forward_loss

from ..optimizers import Transform, UpdateInfo, state_arrays, step
from .shape import FLOAT_BYTES


_tuple_new = tuple.__new__
_empty, _F32 = np.empty, np.float32  # np.empty(n, np.float32) with positional dtype: the cheapest fresh vector
NO_DIRECTIONS: list = []  # a streamed update asks the optimizer for its coefficient alone


@dataclass(frozen=True)
class DenseShape:
    """A dense layer n_in -> n_out: its MACs per op and the bytes it keeps and sends."""

    n_in: int
    n_out: int
    bias: bool
    activation: str  # hidden layers; the top layer is linear (logits)
    first: bool
    top: bool
    kind: str = "dense"

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
        """B: dz = delta * phi'(h) (n_out), W^T @ dz unless nothing lies below, and, when the
        gradient is built in a buffer (summed over samples, or for a non-linear optimizer),
        the outer product dz x^T into it."""
        return self.n_out + (0 if self.first else self.n_in * self.n_out) + (
            self.n_in * self.n_out if builds_gradient else 0)

    def input_gradient_macs(self) -> int:
        """The B of a split backward (zb-h1): dz = delta * phi'(h) and W^T @ dz, without the gradient."""
        return self.n_out + (0 if self.first else self.n_in * self.n_out)

    def weight_gradient_macs(self, builds_gradient: bool) -> int:
        """Its W: the outer product dz x^T into the gradient buffer, or nothing if the update streams
        it; so B + W is `backward_macs`."""
        return self.n_in * self.n_out if builds_gradient else 0

    @property
    def stash_bytes(self) -> int:
        """One stashed weight version for the anchored delta rule: W (the backward's W^T);
        the first layer's backward computes no W^T dz, so it stashes nothing."""
        return 0 if self.first else self.n_in * self.n_out * FLOAT_BYTES

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


class Dense:
    """A dense layer with its arrays: parameters, optimizer state and gradient buffer, and the arithmetic of F, B and U.

    `params` is [W, b] (or [W] without bias): the arrays the run trains, evaluates and
    saves. The gradient buffer exists when the layer builds gradients (`builds_gradient`);
    otherwise a per-sample update streams W += c * dz x^T from the factors its backward
    kept, which only a linear, stateless optimizer allows. `flat_gradient` lays the buffer
    out as one flat array (W, then b) so that all-reduce chunks are views of it.
    """

    def __init__(self, shape: DenseShape, W: np.ndarray, b: np.ndarray, optimizer: Transform,
                 builds_gradient: bool, flat_gradient: bool = False):
        if not builds_gradient and not optimizer.linear:
            raise ValueError(f"optimizer {optimizer.name} keeps state: the layer must build its gradient")
        self.shape, self.W, self.b = shape, W, b
        self.params = [W, b] if shape.bias else [W]
        self.param_names = ["W", "b"][: len(self.params)]
        self.optimizer = optimizer
        self.opt_state = optimizer.init(self.params)
        self.act = IDENTITY if shape.top else ACTIVATIONS[shape.activation]
        self.streams = not builds_gradient
        self.factors: tuple | None = None  # (dz, x) a streaming update applies
        # Scratch (n_out,) float32 buffers: the top layer's logits, and a hidden layer's dz, which
        # its update (streamed) or the backward itself (summed) consumes before the next backward.
        self._z = np.empty(shape.n_out, dtype=np.float32) if shape.top else None
        self._dz = None if shape.top else np.empty(shape.n_out, dtype=np.float32)
        self.flat = None
        if flat_gradient:
            size = W.size + (b.size if shape.bias else 0)
            self.flat = np.zeros(size, dtype=np.float32)
            self.grad_W = self.flat[: W.size].reshape(W.shape)
            self.grad_b = self.flat[W.size:] if shape.bias else np.zeros_like(b)
        elif builds_gradient:
            self.grad_W, self.grad_b = np.zeros_like(W), np.zeros_like(b)  # grad_b is summed but unused without bias
        self.grads = [self.grad_W, self.grad_b][: len(self.params)] if builds_gradient else []

    # -- pickling (checkpoints): the flat gradient's W and b parts are views of it --------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.flat is not None:  # pickle copies views apart; they are rebuilt on loading
            for key in ("grad_W", "grad_b", "grads"):
                del state[key]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.flat is not None:
            W, b = self.W, self.b
            self.grad_W = self.flat[: W.size].reshape(W.shape)
            self.grad_b = self.flat[W.size:] if self.shape.bias else np.zeros_like(b)
            self.grads = [self.grad_W, self.grad_b][: len(self.params)]

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

    def stash(self) -> np.ndarray:
        """A copy of the weights the backward reads, kept for samples still in flight (anchored rule)."""
        return self.W.copy()

    # -- U ---------------------------------------------------------------------------
    def update(self, samples: int, count: int) -> None:
        """U: apply the kept gradient of `count` samples through the optimizer, the parameters having
        been updated with `samples` samples before (streamed, or from the buffer, which is then cleared)."""
        info = _tuple_new(UpdateInfo, (samples, count))  # UpdateInfo(samples, count), once per op: the hot path
        if self.streams:
            dz, x = self.factors
            # streaming_coefficient(optimizer, ...) inlined: linear and stateless was checked at construction.
            _, coef, _ = self.optimizer.update(NO_DIRECTIONS, 1.0, self.opt_state, info)
            rank_one_update(self.W, self.b, dz, x, coef, self.shape.bias)
            self.factors = None
            return
        self.opt_state = step(self.optimizer, self.params, self.grads, self.opt_state, info)
        self.clear_gradient()

    def apply_gradient(self, grads: list[np.ndarray], info: UpdateInfo, scale: float = 1.0) -> None:
        """Apply gradients that came from elsewhere (a push to a shard), consuming them."""
        self.opt_state = step(self.optimizer, self.params, grads, self.opt_state, info, scale)

    def clear_gradient(self) -> None:
        zero(self.grad_W)
        zero(self.grad_b)

    # -- parameters as messages (data parallelism) -------------------------------------
    def take_gradient(self) -> list[np.ndarray]:
        """Copies of the summed gradient for a message; the buffer is then cleared."""
        copies = [g.copy() for g in self.grads]
        self.clear_gradient()
        return copies

    def zeros(self) -> list[np.ndarray]:
        """A buffer shaped like the parameters (an accrued gradient)."""
        return [np.zeros_like(p) for p in self.params]

    def accrue_gradient(self, into: list[np.ndarray], alpha: float) -> None:
        """into[i] += alpha * gradient[i] (Downpour's accrued sum of minibatch means)."""
        for acc, g in zip(into, self.grads):
            axpy(acc, g, alpha)

    def take(self, buffers: list[np.ndarray]) -> list[np.ndarray]:
        """Copies of `buffers` for a message; the buffers are then cleared."""
        copies = [a.copy() for a in buffers]
        for a in buffers:
            zero(a)
        return copies

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """A copy of the weights, as a reply message carries them."""
        return self.W.copy(), self.b.copy()

    def install(self, weights: tuple[np.ndarray, np.ndarray]) -> None:
        """Replace the weights by ones that arrived in a message."""
        np.copyto(self.W, weights[0])
        np.copyto(self.b, weights[1])

    def written(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights as they stand (no copy): what a lock-free update leaves behind."""
        return self.W, self.b

    @staticmethod
    def partial_read(before: tuple, after: tuple, rows_done: int) -> tuple[np.ndarray, np.ndarray]:
        """What a lock-free read sees in the middle of an update that writes W row by row:
        output rows [0, rows_done) (and their biases) already updated, the rest not yet."""
        W, b = before[0].copy(), before[1].copy()
        W[:rows_done] = after[0][:rows_done]
        b[:rows_done] = after[1][:rows_done]
        return W, b

    # -- all-reduce chunks of the flat gradient -------------------------------------------
    def chunk(self, part: slice) -> np.ndarray:
        return self.flat[part].copy()

    def add_chunk(self, part: slice, values: np.ndarray) -> None:
        self.flat[part] += values

    def set_chunk(self, part: slice, values: np.ndarray) -> None:
        self.flat[part] = values

    # -- results -------------------------------------------------------------------------
    def optimizer_arrays(self) -> dict[str, np.ndarray]:
        return state_arrays(self.optimizer, self.opt_state, self.param_names)
