"""A layer's trainable arrays and everything that handles them, whatever the layer computes.

`ParamLayer` holds the parameters (W, then b), the optimizer and its state, the gradient
buffer, and the copies and chunks that messages carry; a layer type (`dense.Dense`,
`conv.Conv2D`) subclasses it and adds its forward and backward. A per-sample update with
a linear, stateless optimizer may stream a rank-one gradient dz x^T straight into a dense
layer's weights (`streams`); every other layer builds its gradient in the buffer.
"""

from __future__ import annotations

import numpy as np

from wafersim_kernels import axpy, rank_one_update, zero

from ..optimizers import Transform, UpdateInfo, state_arrays, step

_tuple_new = tuple.__new__
NO_DIRECTIONS: list = []  # a streamed update asks the optimizer for its coefficient alone


class ParamLayer:
    """A layer's parameters with their optimizer state and gradient buffer: the U op and the arrays messages carry.

    `params` is [W, b] (or [W] without bias): the arrays the run trains, evaluates and
    saves. The gradient buffer exists when the layer builds gradients (`builds_gradient`);
    otherwise a per-sample update streams W += c * dz x^T from the factors its backward
    kept, which only a linear, stateless optimizer allows. `flat_gradient` lays the buffer
    out as one flat array (W, then b) so that all-reduce chunks are views of it.
    """

    def __init__(self, shape, W: np.ndarray, b: np.ndarray, optimizer: Transform, builds_gradient: bool,
                 flat_gradient: bool = False):
        if not builds_gradient and not optimizer.linear:
            raise ValueError(f"optimizer {optimizer.name} keeps state: the layer must build its gradient")
        self.shape, self.W, self.b = shape, W, b
        self.params = [W, b] if shape.bias else [W]
        self.param_names = ["W", "b"][: len(self.params)]
        self.optimizer = optimizer
        self.opt_state = optimizer.init(self.params)
        self.streams = not builds_gradient
        self.factors: tuple | None = None  # (dz, x) a streaming update applies
        self.flat = None
        if flat_gradient:
            size = W.size + (b.size if shape.bias else 0)
            self.flat = np.zeros(size, dtype=np.float32)
            self.grad_W = self.flat[: W.size].reshape(W.shape)
            self.grad_b = self.flat[W.size:].reshape(b.shape) if shape.bias else np.zeros_like(b)
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
            self.grad_b = self.flat[W.size:].reshape(b.shape) if self.shape.bias else np.zeros_like(b)
            self.grads = [self.grad_W, self.grad_b][: len(self.params)]

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
