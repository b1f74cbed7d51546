"""A synthetic-gradient module M_k (Jaderberg et al. 2017): a small MLP that predicts dL/dh_k from h_k.

M_k maps its input u = h_k (or, conditioned, u = [h_k; onehot(y)]) through `hidden`
ReLU layers to a linear output of h_k's width: the predicted gradient g = M_k(u). Its
output layer starts at zero (weights and bias), as in the paper, so every prediction is
zero until M_k has learnt. Training on a target t (the true, or bootstrapped, dL/dh_k) is
one optimizer step on the regression loss 1/2 ||M_k(u) - t||^2, with M_k as it stands
when the target arrives. `SyntheticShape` is what M_k is and costs; `Synthetic` holds its
arrays and does the arithmetic with the dense layers' own kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..optimizers import Transform, UpdateInfo
from .dense import Dense, DenseShape
from .shape import FLOAT_BYTES


@dataclass(frozen=True)
class SyntheticShape:
    """M_k for a layer of `width` outputs: its layers' shapes, MACs per op and bytes."""

    width: int  # floats of h_k, and of the predicted gradient
    classes: int  # label classes appended to the input (conditioned, cDNI), else 0
    hidden: tuple[int, ...]  # widths of the ReLU hidden layers (the paper uses 0, 1 or 2)

    @property
    def layers(self) -> tuple[DenseShape, ...]:
        widths = (self.width + self.classes, *self.hidden, self.width)
        last = len(widths) - 2
        return tuple(DenseShape(n_in, n_out, True, "identity" if i == last else "relu", first=i == 0, top=False)
                     for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])))

    @property
    def param_count(self) -> int:
        return sum(s.param_count for s in self.layers)

    @property
    def input_floats(self) -> int:
        return self.width + self.classes

    def predict_macs(self) -> int:
        """G: the forward of every layer of M_k."""
        return sum(s.forward_macs() for s in self.layers)

    def train_macs(self, optimizer: Transform) -> int:
        """T: the forward again (M_k may have changed since G), the backward of the regression loss
        building every layer's gradient, and the optimizer's step on every parameter."""
        return self.predict_macs() + sum(s.backward_macs(True) for s in self.layers) + (
            self.param_count * optimizer.macs_per_param)

    def describe(self) -> str:
        return "->".join(str(n) for n in (self.width + self.classes, *self.hidden, self.width))


def one_hot_input(h: np.ndarray, label: int, classes: int) -> np.ndarray:
    """M_k's input: h alone, or [h; onehot(label)] when conditioned (classes > 0), float32."""
    if not classes:
        return h
    u = np.zeros(h.size + classes, dtype=np.float32)
    u[: h.size] = h
    u[h.size + label] = 1.0
    return u


class Synthetic:
    """M_k with its arrays: hidden layers drawn glorot from `rng`, the output layer zero."""

    def __init__(self, shape: SyntheticShape, optimizer: Transform, rng: np.random.Generator):
        self.shape, self.optimizer = shape, optimizer
        self.layers = []
        for i, s in enumerate(shape.layers):
            if i < len(shape.layers) - 1:
                W, b = s.initial(rng, "glorot")
            else:
                W, b = np.zeros((s.n_out, s.n_in), dtype=np.float32), np.zeros(s.n_out, dtype=np.float32)
            self.layers.append(Dense(s, W, b, optimizer, builds_gradient=True))
        self.initial = [p.copy() for p in self.params]
        self.updates = 0

    @property
    def params(self) -> list[np.ndarray]:
        """[W1, b1, W2, b2, ...] of M_k's layers, input first."""
        return [p for layer in self.layers for p in layer.params]

    def _forward(self, u: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for input u, the prediction last."""
        outs = []
        for layer in self.layers:
            u = layer.forward(u)
            outs.append(u)
        return outs

    def predict(self, h: np.ndarray, label: int) -> np.ndarray:
        """G: the predicted dL/dh for output h (label used only when conditioned), shape (width,)."""
        return self._forward(one_hot_input(h, label, self.shape.classes))[-1]

    def train(self, h: np.ndarray, label: int, target: np.ndarray) -> float:
        """T: one optimizer step on 1/2 ||M(u) - target||^2 with M as it stands; returns that loss (before the step)."""
        u = one_hot_input(h, label, self.shape.classes)
        outs = self._forward(u)
        residual = (outs[-1] - target).astype(np.float32)  # dL/dg of the regression loss
        loss = 0.5 * float(np.dot(residual.astype(np.float64), residual.astype(np.float64)))
        e = residual
        for i in range(len(self.layers) - 1, -1, -1):
            below = u if i == 0 else outs[i - 1]
            e = self.layers[i].backward(below, outs[i], e, None)
        info = UpdateInfo(self.updates, 1)
        for layer in self.layers:
            layer.update(info.samples, info.count)
        self.updates += 1
        return loss

    def arrays(self, k: int) -> dict[str, np.ndarray]:
        """M_k's parameters for weights.npz: sg/<k>/W<i>, sg/<k>/b<i> (i = 1 at its input), and
        their initial values sg/<k>/W<i>_init, sg/<k>/b<i>_init."""
        names = [f"{name}{i}" for i in range(1, len(self.layers) + 1) for name in ("W", "b")]
        return {**{f"sg/{k}/{n}_init": p for n, p in zip(names, self.initial)},
                **{f"sg/{k}/{n}": p for n, p in zip(names, self.params)}}


def synthetic_bytes(shape: SyntheticShape, optimizer: Transform) -> int:
    """SRAM M_k keeps for the whole run: parameters, gradient buffers and optimizer state."""
    return shape.param_count * (2 + optimizer.state_per_param) * FLOAT_BYTES
