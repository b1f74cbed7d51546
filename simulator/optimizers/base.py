"""Optimizers as (init, update) pairs with explicit state, composed with `chain` (after optax).

A transform works on one layer's parameters at once, as a list of arrays (W, then b):

    opt = chain(average(), momentum(0.9), learning_rate(constant(0.01)))
    state = opt.init(params)                      # a dict of named entries (arrays per parameter, counters)
    directions, coef, state = opt.update(grads, 1.0, state, info)
    apply(params, directions, coef)               # params[i] += coef * directions[i]

An update turns gradients into a step `coef * direction`. For speed the arrays are
updated in place: a direction may be the gradient buffer itself (consumed) or a state
buffer (the momentum trace), and `coef` is a scalar so the learning rate costs no pass
over memory.

Each transform states its own facts, which the simulator charges: `state_per_param`
floats of state per parameter (SRAM), `macs_per_param` multiply-accumulates per
parameter of its update (the U op's cycles; a square root or a division counts as one),
and `linear`: the step is the gradient times a scalar and no state is kept. Only a
linear optimizer lets a per-sample update stream the rank-one gradient `dz x^T` into
the weights without building it (`streaming_coefficient`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from wafersim_kernels import axpy


class UpdateInfo(NamedTuple):
    """What an update knows besides the gradient."""

    samples: int  # samples the parameters were already updated with (learning-rate schedules count these)
    count: int  # samples summed into this gradient (the minibatch mean divides by it)


State = Any  # a dict of named entries for a single transform; a tuple of those for a chain


class Transform(NamedTuple):
    """A gradient transformation: `init(params) -> state`; `update(directions, coef, state, info) -> (directions, coef, state)`.

    `params` and `directions` are lists of arrays, one per parameter of a layer.
    """

    name: str
    init: Callable[[list[np.ndarray]], State]
    update: Callable[[list[np.ndarray], float, State, UpdateInfo], tuple[list[np.ndarray], float, State]]
    state_per_param: int = 0  # floats of state kept per parameter
    macs_per_param: int = 0  # multiply-accumulates per parameter of one update
    linear: bool = True  # step == scalar * gradient, with no state: a rank-one gradient may be streamed
    parts: tuple = ()  # the transforms a chain is made of


def no_state(params: list[np.ndarray]) -> dict:
    return {}


def chain(*transforms: Transform, name: str | None = None) -> Transform:
    """Apply transforms in order; the state is the tuple of their states; the facts add up."""

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(directions, coef, states, info):
        new_states = []
        for t, s in zip(transforms, states):
            directions, coef, s = t.update(directions, coef, s, info)
            new_states.append(s)
        return directions, coef, tuple(new_states)

    return Transform(name or "+".join(t.name for t in transforms), init, update,
                     state_per_param=sum(t.state_per_param for t in transforms),
                     macs_per_param=sum(t.macs_per_param for t in transforms),
                     linear=all(t.linear for t in transforms), parts=tuple(transforms))


def apply(params: list[np.ndarray], directions: list[np.ndarray], coef: float) -> None:
    """params[i] += coef * directions[i], in place."""
    for param, direction in zip(params, directions):
        axpy(param, direction, coef)


def step(optimizer: Transform, params: list[np.ndarray], grads: list[np.ndarray], state: State,
         info: UpdateInfo, scale: float = 1.0) -> State:
    """One optimizer step on a layer's parameters, with the step size scaled by `scale`;
    returns the new state. The gradients are consumed: they may be overwritten."""
    directions, coef, state = optimizer.update(grads, scale, state, info)
    apply(params, directions, coef)
    return state


def streaming_coefficient(optimizer: Transform, state: State, info: UpdateInfo, scale: float = 1.0) -> float:
    """The scalar c of a linear optimizer's step c * g, so that a per-sample update can
    stream W += c * dz x^T without building g."""
    if not optimizer.linear:
        raise ValueError(f"optimizer {optimizer.name} is not linear and stateless: its step cannot be streamed")
    _, coef, _ = optimizer.update([], scale, state, info)
    return coef


def state_arrays(optimizer: Transform, state: State, param_names: list[str]) -> dict[str, np.ndarray]:
    """The state as named arrays, for `weights.npz`: '<transform>/<entry>/<param>' for
    per-parameter arrays, '<transform>/<entry>' for counters and scalars."""
    out: dict[str, np.ndarray] = {}
    if optimizer.parts:
        for part, sub in zip(optimizer.parts, state):
            out.update(state_arrays(part, sub, param_names))
        return out
    for key, value in state.items():
        if isinstance(value, list):
            for pname, array in zip(param_names, value):
                out[f"{optimizer.name}/{key}/{pname}"] = array
        else:
            out[f"{optimizer.name}/{key}"] = np.asarray(value)
    return out
