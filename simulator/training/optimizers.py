"""Optimizers as small (init, update) pairs with explicit state, composed with `chain` (after optax).

An update turns a gradient into a step `coef * direction` that `apply_update` adds to the
parameter. For speed the arrays are updated in place: `direction` may be the gradient
buffer itself or a state buffer (the momentum trace), and `coef` is a scalar so that the
learning rate costs no pass over memory.

    opt = chain(average(), momentum(0.9), learning_rate(0.01, half_life_samples=5000))
    state = opt.init(W)
    direction, coef, state = opt.update(grad, state, UpdateInfo(step=0, count=1))
    apply_update(W, direction, coef)
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from kernels import axpy, momentum_accumulate


class UpdateInfo(NamedTuple):
    """What an update knows besides the gradient: samples applied before it, samples in it."""

    step: int  # samples this parameter has already been updated with
    count: int  # samples summed into this gradient


class Transform(NamedTuple):
    """A gradient transformation: `init(param) -> state`; `update(direction, coef, state, info) -> (direction, coef, state)`."""

    init: Callable[[np.ndarray], Any]
    update: Callable[[np.ndarray, float, Any, UpdateInfo], tuple[np.ndarray, float, Any]]


def average() -> Transform:
    """Divide a summed gradient by the number of samples in it (minibatch mean)."""

    def update(direction, coef, state, info):
        if info.count != 1:
            direction *= np.float32(1.0 / info.count)
        return direction, coef, state

    return Transform(lambda param: None, update)


def momentum(mu: float) -> Transform:
    """Heavy-ball momentum: v <- mu * v + g, and the step follows v."""

    def init(param):
        return np.zeros_like(param)

    def update(direction, coef, v, info):
        momentum_accumulate(v, direction, mu)
        return v, coef, v

    return Transform(init, update)


def learning_rate(rate: float, half_life_samples: float | None = None) -> Transform:
    """Scale by -rate, halved every `half_life_samples` samples if given (the paper's half-life form)."""

    def update(direction, coef, state, info):
        lr = rate if half_life_samples is None else rate * 0.5 ** (info.step / half_life_samples)
        return direction, -lr * coef, state

    return Transform(lambda param: None, update)


def chain(*transforms: Transform) -> Transform:
    """Apply transforms in order; the state is the tuple of their states."""

    def init(param):
        return tuple(t.init(param) for t in transforms)

    def update(direction, coef, states, info):
        new_states = []
        for t, s in zip(transforms, states):
            direction, coef, s = t.update(direction, coef, s, info)
            new_states.append(s)
        return direction, coef, tuple(new_states)

    return Transform(init, update)


def apply_update(param: np.ndarray, direction: np.ndarray, coef: float) -> None:
    """param += coef * direction, in place."""
    axpy(param, direction, coef)


def step(optimizer: Transform, params: list[np.ndarray], grads: list[np.ndarray], states: list,
         info: UpdateInfo, scale: float = 1.0) -> list:
    """One optimizer step on every (param, grad) pair, with the step size scaled by `scale`;
    returns the new states. The gradients are consumed: they may be rescaled in place."""
    new_states = []
    for param, grad, state in zip(params, grads, states):
        direction, coef, state = optimizer.update(grad, scale, state, info)
        apply_update(param, direction, coef)
        new_states.append(state)
    return new_states


def make_optimizer(rate: float, mu: float = 0.0, half_life_samples: float | None = None) -> Transform:
    """The optimizer a scenario asks for: minibatch mean, optional momentum, learning-rate schedule."""
    parts = [average()]
    if mu > 0:
        parts.append(momentum(mu))
    parts.append(learning_rate(rate, half_life_samples))
    return chain(*parts)
