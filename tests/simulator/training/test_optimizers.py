"""Optimizers as (init, update) pairs: each transform alone and chained, without the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.training.optimizers import (UpdateInfo, apply_update, average, chain, learning_rate, make_optimizer,
                                           momentum)


def _step(opt, param, grads, counts=None):
    state = opt.init(param)
    applied = 0
    for i, g in enumerate(grads):
        count = counts[i] if counts else 1
        direction, coef, state = opt.update(g.copy(), 1.0, state, UpdateInfo(step=applied, count=count))
        apply_update(param, direction, coef)
        applied += count
    return param


def test_plain_sgd_step():
    param = np.ones(4, dtype=np.float32)
    g = np.array([1, 2, 3, 4], dtype=np.float32)
    _step(learning_rate(0.5), param, [g])
    np.testing.assert_array_equal(param, [0.5, 0.0, -0.5, -1.0])


def test_average_divides_by_the_samples_in_the_gradient():
    param = np.zeros((2, 2), dtype=np.float32)
    _step(chain(average(), learning_rate(1.0)), param, [np.full((2, 2), 8, dtype=np.float32)], counts=[4])
    np.testing.assert_array_equal(param, np.full((2, 2), -2.0))


def test_momentum_matches_the_heavy_ball_recurrence():
    mu, lr = 0.9, 0.1
    grads = [np.array([1.0, -2.0], dtype=np.float32) * (i + 1) for i in range(5)]
    param = _step(chain(momentum(mu), learning_rate(lr)), np.zeros(2, dtype=np.float32), grads)
    v, p = np.zeros(2), np.zeros(2)
    for g in grads:
        v = mu * v + g
        p = p - lr * v
    np.testing.assert_allclose(param, p, rtol=1e-6)


def test_learning_rate_halves_every_half_life():
    opt = learning_rate(0.8, half_life_samples=10)
    for step, expected in [(0, -0.8), (10, -0.4), (20, -0.2), (5, -0.8 / np.sqrt(2))]:
        _, coef, _ = opt.update(np.zeros(1, dtype=np.float32), 1.0, None, UpdateInfo(step=step, count=1))
        assert coef == pytest.approx(expected)


def test_make_optimizer_omits_momentum_state_when_unused():
    assert make_optimizer(0.1).init(np.zeros(3, dtype=np.float32)) == (None, None)
    state = make_optimizer(0.1, mu=0.5).init(np.zeros(3, dtype=np.float32))
    assert state[1].shape == (3,)
