"""The transforms optimizers are chained from: mean, momentum, adaptive steps, conjugate gradients, rate.

Each function returns a `Transform` over one layer's parameters (W of shape
(n_out, n_in), then b of shape (n_out,), float32 and C-contiguous). The chain always
ends with `learning_rate`, which sets coef = -lr * coef, so a transform's direction is
the quantity the parameters move *against*: W += coef * direction.

MAC counts follow one convention: a fused multiply-add, a lone multiply, a lone add, a
square root and a division each count as one; negations and copies count as nothing.
The multiply-add that applies the step to the parameter belongs to `learning_rate`.

Where the source survey (and Nervana's code it follows) departs from the original papers
(eps inside the square root, Adam's bias correction by epoch, W = alpha p for conjugate
gradients), these follow the papers; each docstring says which.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from wafersim_kernels import (adadelta_direction, adagrad_direction, adam_direction, cg_direction, dot, hestenes_stiefel_dots,
                     momentum_accumulate, nesterov_direction, rmsprop_direction, spike_direction)

from .base import Transform, UpdateInfo, no_state

CG_METHODS = ("fletcher_reeves", "hestenes_stiefel")


def _zeros(params: list[np.ndarray]) -> list[np.ndarray]:
    """One zero buffer per parameter, same shape and dtype, C-contiguous."""
    return [np.zeros(p.shape, dtype=p.dtype) for p in params]


def average() -> Transform:
    """Divide a summed gradient by the number of samples in it (the minibatch mean).

    No state, no MACs charged, linear. Bit-for-bit the scaling of the old optimizer module.
    """

    def update(directions, coef, state, info):
        if info.count != 1:
            for direction in directions:
                direction *= np.float32(1.0 / info.count)
        return directions, coef, state

    return Transform("average", no_state, update, state_per_param=0, macs_per_param=0, linear=True)


def momentum(mu: float) -> Transform:
    """Heavy-ball momentum (Polyak 1964): v = mu v + g, and the direction is v.

    State 'v' (1 float per parameter); 1 MAC per parameter (the fused mu v + g). The
    directions returned are the v buffers themselves, so no later transform may write
    into them. Bit-for-bit the momentum of the old optimizer module.
    """

    def init(params):
        return {"v": _zeros(params)}

    def update(directions, coef, state, info):
        vs = state["v"]
        for v, g in zip(vs, directions):
            momentum_accumulate(v, g, mu)
        return list(vs), coef, state

    return Transform("momentum", init, update, state_per_param=1, macs_per_param=1, linear=False)


def nesterov(mu: float) -> Transform:
    """Nesterov momentum (Sutskever et al. 2013) in the usual form evaluated at the
    look-ahead point: b = mu b + g, and the direction is g + mu b.

    The survey's v = mu (mu v + alpha g) + alpha g is not used. State 'b' (1 float per
    parameter); 2 MACs per parameter (two fused multiply-adds). The direction is written
    into the gradient buffer.
    """

    def init(params):
        return {"b": _zeros(params)}

    def update(directions, coef, state, info):
        for b, g in zip(state["b"], directions):
            nesterov_direction(b, g, mu)
        return directions, coef, state

    return Transform("nesterov", init, update, state_per_param=1, macs_per_param=2, linear=False)


def spike_compensation(mu: float, delay: int) -> Transform:
    """Heavy-ball momentum with spike compensation for gradients `delay` updates stale
    (Kosson et al. 2021, "Pipelined Backpropagation at Scale"): v = mu v + g, and the
    direction is a v + b g with a = mu^D and b = (1 - mu^D) / (1 - mu).

    A gradient that arrives D updates late has missed the D steps momentum would already
    have taken with it, 1 + mu + ... + mu^(D-1) = b of them: it takes them at once (the
    spike, b g), and its share of v thereafter is scaled by a, so its total weight is
    b + a / (1 - mu) = 1 / (1 - mu), as without delay. D = 0 is plain momentum. State 'v'
    (1 float per parameter); 3 MACs per parameter (mu v + g, then a multiply and a fused
    multiply-add). The direction is written into the gradient buffer.
    """
    a = mu ** delay
    b = (1.0 - a) / (1.0 - mu)

    def init(params):
        return {"v": _zeros(params)}

    def update(directions, coef, state, info):
        for v, g in zip(state["v"], directions):
            spike_direction(v, g, mu, a, b)
        return directions, coef, state

    return Transform("spike_compensation", init, update, state_per_param=1, macs_per_param=3, linear=False)


def delay_rescheduling(delay: int, samples: int) -> Transform:
    """PipeMare's learning-rate rescheduling (Yang et al. 2021, technique T1): the step of a
    stage whose gradients are `delay` updates stale is scaled by tau^-p, tau = max(delay, 1),
    p = 1 - min(t / samples, 1) after t samples: lr / tau at the start, annealed to lr over
    `samples` (0: no rescheduling). The form follows the public re-implementation in
    PluralisResearch/AsyncPP (sync_main.py, "PipeMare type LR correction").

    No state, no MACs (a scalar), linear: it goes before `learning_rate`.
    """
    tau = float(max(delay, 1))

    def update(directions, coef, state, info):
        p = 1.0 - min(info.samples / samples, 1.0) if samples else 0.0
        return directions, coef * tau ** -p, state

    return Transform("delay_rescheduling", no_state, update, state_per_param=0, macs_per_param=0, linear=True)


def adagrad(eps: float) -> Transform:
    """Adagrad (Duchi et al. 2011): s = s + g^2, and the direction is g / (sqrt(s) + eps).

    eps is added outside the square root as in the paper, not inside as in the survey.
    State 's' (1 float per parameter); 4 MACs per parameter (s + g g, sqrt, + eps, divide).
    """

    def init(params):
        return {"s": _zeros(params)}

    def update(directions, coef, state, info):
        for s, g in zip(state["s"], directions):
            adagrad_direction(s, g, eps)
        return directions, coef, state

    return Transform("adagrad", init, update, state_per_param=1, macs_per_param=4, linear=False)


def rmsprop(decay: float, eps: float) -> Transform:
    """RMSProp (Tieleman & Hinton 2012): s = decay s + (1 - decay) g^2, and the direction
    is g / (sqrt(s) + eps).

    eps is added once, outside the square root (the survey adds it twice, inside). State
    's' (1 float per parameter); 6 MACs per parameter (g g, (1 - decay) g^2, + decay s,
    sqrt, + eps, divide).
    """

    def init(params):
        return {"s": _zeros(params)}

    def update(directions, coef, state, info):
        for s, g in zip(state["s"], directions):
            rmsprop_direction(s, g, decay, eps)
        return directions, coef, state

    return Transform("rmsprop", init, update, state_per_param=1, macs_per_param=6, linear=False)


def adadelta(decay: float, eps: float) -> Transform:
    """Adadelta (Zeiler 2012, Algorithm 1): E[g2] = r E[g2] + (1-r) g^2;
    d = g sqrt((E[dx2] + eps) / (E[g2] + eps)); E[dx2] = r E[dx2] + (1-r) d^2; the direction is d.

    The paper's step is dx = -d; here it is additionally multiplied by the learning rate
    (learning rate 1.0 is the paper), and E[dx2] accumulates the paper's unscaled dx so
    that the state does not depend on the schedule. State 'g2' and 'dx2' (2 floats per
    parameter); 11 MACs per parameter (3 for each running mean, two + eps, the quotient,
    its square root, and the product with g).
    """

    def init(params):
        return {"g2": _zeros(params), "dx2": _zeros(params)}

    def update(directions, coef, state, info):
        for g2, dx2, g in zip(state["g2"], state["dx2"], directions):
            adadelta_direction(g2, dx2, g, decay, eps)
        return directions, coef, state

    return Transform("adadelta", init, update, state_per_param=2, macs_per_param=11, linear=False)


def adam(beta1: float, beta2: float, eps: float) -> Transform:
    """Adam (Kingma & Ba 2015, Algorithm 1): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    the step is -lr mhat / (sqrt(vhat) + eps), mhat = m / (1 - b1^t), vhat = v / (1 - b2^t).

    t counts the updates applied (this one included), not epochs as in the survey, and eps
    is outside the square root. The bias corrections are per-update scalars, so they are
    applied in the paper's reordered form (its section 2): the direction is
    m / (sqrt(v) + eps sqrt(1 - b2^t)) and coef is multiplied by sqrt(1 - b2^t) / (1 - b1^t),
    which is the same step exactly. State 'm' and 'v' (2 floats per parameter) and the
    counter 't'; 8 MACs per parameter (2 for m, 3 for v, sqrt, + eps, divide).
    """

    def init(params):
        return {"m": _zeros(params), "v": _zeros(params), "t": 0}

    def update(directions, coef, state, info):
        t = state["t"] + 1
        c1 = 1.0 - beta1 ** t
        root_c2 = math.sqrt(1.0 - beta2 ** t)
        for m, v, g in zip(state["m"], state["v"], directions):
            adam_direction(m, v, g, beta1, beta2, eps * root_c2)
        return directions, coef * (root_c2 / c1), {"m": state["m"], "v": state["v"], "t": t}

    return Transform("adam", init, update, state_per_param=2, macs_per_param=8, linear=False)


def _beta(num: float, den: float) -> float:
    """num / den, or 0 when den is 0 or the quotient is not finite (a restart along -g)."""
    if den == 0:
        return 0.0
    beta = num / den
    return beta if math.isfinite(beta) else 0.0


def conjugate_gradient(method: str = "fletcher_reeves", restart_every: int = 0) -> Transform:
    """Nonlinear conjugate gradients with a fixed step (no line search): p = beta p - g,
    and the parameters move by +lr p, so the direction is -p.

    The survey's W_{t+1} = alpha p_{t+1} is read as W_{t+1} = W_t + alpha p_{t+1}. beta is
    Fletcher-Reeves, g.g / g_prev.g_prev, or Hestenes-Stiefel, g.(g - g_prev) / ((g - g_prev).p),
    the dot products taken over all of the layer's parameters (W and b together); beta = 0
    at the first update (the stored previous values are zero) and whenever the denominator
    is 0 or the quotient is not finite. Fletcher-Reeves keeps 'p' (1 float per parameter)
    and the scalar 'gg' = g_prev.g_prev, 2 MACs per parameter (g g, beta p - g);
    Hestenes-Stiefel keeps 'p' and 'g_prev' (2 floats per parameter), 4 MACs per parameter
    (g - g_prev, g y, y p, beta p - g; the copy of g into g_prev is not arithmetic). Both
    need the whole minibatch gradient before the step. With `restart_every` = n > 0 the
    direction restarts as steepest descent (beta = 0) every n updates (Nocedal & Wright
    2006, section 5.2): without a line search, consecutive stochastic gradients can make
    Fletcher-Reeves' beta exceed 1 again and again, and p grow without bound. The state then
    also counts updates ('t').
    """
    if method not in CG_METHODS:
        raise ValueError(f"unknown conjugate-gradient method {method!r}; expected one of {CG_METHODS}")
    fletcher_reeves = method == "fletcher_reeves"

    def init(params):
        counter = {"t": 0} if restart_every else {}
        if fletcher_reeves:
            return {"p": _zeros(params), "gg": 0.0, **counter}
        return {"p": _zeros(params), "g_prev": _zeros(params), **counter}

    def update(directions, coef, state, info):
        ps = state["p"]
        if fletcher_reeves:
            gg = sum(dot(g, g) for g in directions)
            beta = _beta(gg, state["gg"])
            state = {**state, "gg": gg}
        else:
            num = den = 0.0
            for g, g_prev, p in zip(directions, state["g_prev"], ps):
                n, d = hestenes_stiefel_dots(g, g_prev, p)
                num, den = num + n, den + d
            beta = _beta(num, den)
            for g, g_prev in zip(directions, state["g_prev"]):
                np.copyto(g_prev, g)  # g_t is needed next time; cg_direction overwrites g
        if restart_every:
            if state["t"] % restart_every == 0:
                beta = 0.0
            state = {**state, "t": state["t"] + 1}
        for p, g in zip(ps, directions):
            cg_direction(p, g, beta)
        return directions, coef, state

    state_per_param, macs = (1, 2) if fletcher_reeves else (2, 4)
    return Transform("conjugate_gradient", init, update, state_per_param=state_per_param, macs_per_param=macs,
                     linear=False)


def learning_rate(schedule: Callable[[UpdateInfo], float]) -> Transform:
    """Scale the step by -lr with lr = schedule(info): coef = -lr * coef.

    No state, linear; 1 MAC per parameter, the multiply-add that applies the step to the
    parameter (W += coef * direction).
    """

    def update(directions, coef, state, info):
        lr = schedule(info)
        return directions, -lr * coef, state

    return Transform("learning_rate", no_state, update, state_per_param=0, macs_per_param=1, linear=True)
