"""Plain-NumPy oracles for the optimiser kernels and for every optimiser, written from the papers' formulas.

The kernel oracles return the new values of the buffers a kernel overwrites, computed in
float64 and cast back to the input dtype. The optimiser classes keep their own state in
float64 and write each updated parameter back in its own dtype; one `step(params, grads)`
is one update of one layer, `grads` being the minibatch-mean gradients (W, then b). Their
`lr` attribute may be reassigned between steps to follow a schedule.

Where the source survey (and Nervana's code it follows) departs from the papers, these
follow the papers: eps is added outside the square root, Adam's bias correction counts
updates (not epochs), and conjugate gradients adds the step to the weights.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


# Kernel oracles: same arguments as the kernels in wafersim_kernels.optim, new buffers returned.


def nesterov_direction_ref(b, g, mu):
    """(b', d) with b' = mu b + g and d = g + mu b'."""
    b1 = mu * _f64(b) + _f64(g)
    return b1.astype(b.dtype), (_f64(g) + mu * b1).astype(g.dtype)


def spike_direction_ref(v, g, mu, a, b):
    """(v', d) with v' = mu v + g and d = a v' + b g (spike compensation, Kosson et al. 2021)."""
    v1 = mu * _f64(v) + _f64(g)
    return v1.astype(v.dtype), (a * v1 + b * _f64(g)).astype(g.dtype)


def adagrad_direction_ref(s, g, eps):
    """(s', d) with s' = s + g^2 and d = g / (sqrt(s') + eps)."""
    s1 = _f64(s) + _f64(g) ** 2
    return s1.astype(s.dtype), (_f64(g) / (np.sqrt(s1) + eps)).astype(g.dtype)


def rmsprop_direction_ref(s, g, decay, eps):
    """(s', d) with s' = decay s + (1 - decay) g^2 and d = g / (sqrt(s') + eps)."""
    s1 = decay * _f64(s) + (1.0 - decay) * _f64(g) ** 2
    return s1.astype(s.dtype), (_f64(g) / (np.sqrt(s1) + eps)).astype(g.dtype)


def adadelta_direction_ref(g2, dx2, g, decay, eps):
    """(E[g^2]', E[dx^2]', d) of Zeiler's Algorithm 1, with d = -dx the direction."""
    gg = decay * _f64(g2) + (1.0 - decay) * _f64(g) ** 2
    dx = -(np.sqrt(_f64(dx2) + eps) / np.sqrt(gg + eps)) * _f64(g)
    xx = decay * _f64(dx2) + (1.0 - decay) * dx ** 2
    return gg.astype(g2.dtype), xx.astype(dx2.dtype), (-dx).astype(g.dtype)


def adam_direction_ref(m, v, g, beta1, beta2, eps_hat):
    """(m', v', d) with m' = b1 m + (1-b1) g, v' = b2 v + (1-b2) g^2, d = m' / (sqrt(v') + eps_hat)."""
    m1 = beta1 * _f64(m) + (1.0 - beta1) * _f64(g)
    v1 = beta2 * _f64(v) + (1.0 - beta2) * _f64(g) ** 2
    return m1.astype(m.dtype), v1.astype(v.dtype), (m1 / (np.sqrt(v1) + eps_hat)).astype(g.dtype)


def dot_ref(a, b) -> float:
    """sum(a * b) in float64."""
    return float(np.sum(_f64(a) * _f64(b)))


def hestenes_stiefel_dots_ref(g, g_prev, p) -> tuple[float, float]:
    """(g . y, y . p) with y = g - g_prev, in float64."""
    y = _f64(g) - _f64(g_prev)
    return float(np.sum(_f64(g) * y)), float(np.sum(y * _f64(p)))


def cg_direction_ref(p, g, beta):
    """(p', d) with p' = beta p - g and d = -p'."""
    p1 = beta * _f64(p) - _f64(g)
    return p1.astype(p.dtype), (-p1).astype(g.dtype)


# Optimiser oracles.


class _Reference:
    """An optimiser oracle: float64 state created at the first step, parameters written back in their dtype."""

    def __init__(self, lr: float):
        self.lr = lr
        self.t = 0  # updates applied
        self.state: dict[str, list[np.ndarray]] | None = None

    def _zeros(self, params, *names):
        if self.state is None:
            self.state = {name: [np.zeros(p.shape) for p in params] for name in names}
        return [self.state[name] for name in names]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.t += 1
        for i, (param, grad) in enumerate(zip(params, grads)):
            change = self._change(i, _f64(grad), params)
            param[...] = (_f64(param) + change).astype(param.dtype)

    def _change(self, i: int, g: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class SGDRef(_Reference):
    """Stochastic gradient descent: W -= lr g."""

    def _change(self, i, g, params):
        return -self.lr * g


class MomentumRef(_Reference):
    """Heavy-ball momentum (Polyak 1964): v = mu v + g; W -= lr v."""

    def __init__(self, lr: float, mu: float = 0.9):
        super().__init__(lr)
        self.mu = mu

    def _change(self, i, g, params):
        (v,) = self._zeros(params, "v")
        v[i] = self.mu * v[i] + g
        return -self.lr * v[i]


class NesterovRef(_Reference):
    """Nesterov momentum (Sutskever et al. 2013), reformulated at the look-ahead point:
    b = mu b + g; W -= lr (g + mu b)."""

    def __init__(self, lr: float, mu: float = 0.9):
        super().__init__(lr)
        self.mu = mu

    def _change(self, i, g, params):
        (b,) = self._zeros(params, "b")
        b[i] = self.mu * b[i] + g
        return -self.lr * (g + self.mu * b[i])


class AdagradRef(_Reference):
    """Adagrad (Duchi et al. 2011): s = s + g^2; W -= lr g / (sqrt(s) + eps)."""

    def __init__(self, lr: float, eps: float = 1e-8):
        super().__init__(lr)
        self.eps = eps

    def _change(self, i, g, params):
        (s,) = self._zeros(params, "s")
        s[i] = s[i] + g ** 2
        return -self.lr * g / (np.sqrt(s[i]) + self.eps)


class RMSPropRef(_Reference):
    """RMSProp (Tieleman & Hinton 2012): s = d s + (1 - d) g^2; W -= lr g / (sqrt(s) + eps)."""

    def __init__(self, lr: float, decay: float = 0.9, eps: float = 1e-8):
        super().__init__(lr)
        self.decay, self.eps = decay, eps

    def _change(self, i, g, params):
        (s,) = self._zeros(params, "s")
        s[i] = self.decay * s[i] + (1.0 - self.decay) * g ** 2
        return -self.lr * g / (np.sqrt(s[i]) + self.eps)


class AdadeltaRef(_Reference):
    """Adadelta (Zeiler 2012, Algorithm 1), the step multiplied by lr (lr = 1 is the paper):
    E[g2] = r E[g2] + (1-r) g^2; dx = -(sqrt(E[dx2] + eps) / sqrt(E[g2] + eps)) g;
    E[dx2] = r E[dx2] + (1-r) dx^2; W += lr dx."""

    def __init__(self, lr: float = 1.0, decay: float = 0.95, eps: float = 1e-6):
        super().__init__(lr)
        self.decay, self.eps = decay, eps

    def _change(self, i, g, params):
        g2, dx2 = self._zeros(params, "g2", "dx2")
        r = self.decay
        g2[i] = r * g2[i] + (1.0 - r) * g ** 2
        dx = -(np.sqrt(dx2[i] + self.eps) / np.sqrt(g2[i] + self.eps)) * g
        dx2[i] = r * dx2[i] + (1.0 - r) * dx ** 2
        return self.lr * dx


class AdamRef(_Reference):
    """Adam (Kingma & Ba 2015, Algorithm 1), t the number of updates applied:
    m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; W -= lr mhat / (sqrt(vhat) + eps),
    mhat = m / (1 - b1^t), vhat = v / (1 - b2^t)."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def _change(self, i, g, params):
        m, v = self._zeros(params, "m", "v")
        m[i] = self.beta1 * m[i] + (1.0 - self.beta1) * g
        v[i] = self.beta2 * v[i] + (1.0 - self.beta2) * g ** 2
        m_hat = m[i] / (1.0 - self.beta1 ** self.t)
        v_hat = v[i] / (1.0 - self.beta2 ** self.t)
        return -self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class ConjugateGradientRef(_Reference):
    """Nonlinear conjugate gradients with a fixed step (no line search), over all of a layer's
    parameters at once: p = beta p - g; W += lr p, with beta by Fletcher-Reeves
    (g.g / g_prev.g_prev) or Hestenes-Stiefel (g.(g - g_prev) / ((g - g_prev).p)); beta = 0
    at the first update and whenever the denominator is 0 or the quotient not finite."""

    METHODS = ("fletcher_reeves", "hestenes_stiefel")

    def __init__(self, lr: float, method: str = "fletcher_reeves", restart_every: int = 0):
        super().__init__(lr)
        if method not in self.METHODS:
            raise ValueError(f"unknown conjugate-gradient method {method!r}; expected one of {self.METHODS}")
        self.method = method
        self.restart_every = restart_every  # beta = 0 at updates 1, n+1, 2n+1, ... (0: only the first)

    def step(self, params, grads):
        self.t += 1
        g = [_f64(grad) for grad in grads]
        p, g_prev = self._zeros(params, "p", "g_prev")
        if self.method == "fletcher_reeves":
            num = sum(float(np.sum(gi * gi)) for gi in g)
            den = sum(float(np.sum(qi * qi)) for qi in g_prev)
        else:
            num = sum(float(np.sum(gi * (gi - qi))) for gi, qi in zip(g, g_prev))
            den = sum(float(np.sum((gi - qi) * pi)) for gi, qi, pi in zip(g, g_prev, p))
        beta = num / den if self.t > 1 and den != 0 else 0.0
        if not math.isfinite(beta) or (self.restart_every and (self.t - 1) % self.restart_every == 0):
            beta = 0.0
        for i, param in enumerate(params):
            p[i] = beta * p[i] - g[i]
            g_prev[i] = g[i]
            param[...] = (_f64(param) + self.lr * p[i]).astype(param.dtype)
