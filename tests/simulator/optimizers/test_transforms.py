"""Tests of the optimizer transforms, alone and chained, against paper oracles and closed-form trajectories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wafersim_kernels import axpy, momentum_accumulate
from wafersim_kernels.reference_optimizers import (AdadeltaRef, AdagradRef, AdamRef, ConjugateGradientRef, MomentumRef,
                                          NesterovRef, RMSPropRef, SGDRef)
from wafersim.optimizers import (OPTIMIZERS, AdadeltaConfig, AdagradConfig, AdamConfig, ConjugateGradientConfig,
                                  MomentumConfig, NesterovConfig, RMSPropConfig, SGDConfig, UpdateInfo, adam, average,
                                  chain, conjugate_gradient, constant, half_life, learning_rate, make_optimizer,
                                  momentum, state_arrays, step, streaming_coefficient)

SHAPES = [(3, 4), (3,)]  # one layer: W (n_out, n_in), then b (n_out,)
COUNTS = [1, 2, 4, 1, 8, 1]  # powers of two, so that the minibatch mean of a sum is exact in float32


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]


def _gradients(n=6, seed=1):
    """n scripted gradient lists [W-shaped, b-shaped], float32 minibatch means."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(shape).astype(np.float32) for shape in SHAPES] for _ in range(n)]


def _run(optimizer, params, gradient_lists, counts=None, scale=1.0):
    """Step `optimizer` through the gradients, each the mean over counts[i] samples and passed
    summed (as the simulator does); returns the final state."""
    counts = counts or [1] * len(gradient_lists)
    state = optimizer.init(params)
    samples = 0
    for grads, count in zip(gradient_lists, counts):
        summed = [g * np.float32(count) for g in grads]
        state = step(optimizer, params, summed, state, UpdateInfo(samples=samples, count=count), scale)
        samples += count
    return state


# Each optimizer with non-default hyper-parameters where that exercises more of the formula,
# its learning rate, and its paper oracle.
CASES = {
    "sgd": (SGDConfig(), 0.1, lambda lr: SGDRef(lr)),
    "momentum": (MomentumConfig(mu=0.8), 0.05, lambda lr: MomentumRef(lr, 0.8)),
    "nesterov": (NesterovConfig(mu=0.8), 0.05, lambda lr: NesterovRef(lr, 0.8)),
    "adagrad": (AdagradConfig(eps=1e-3), 0.05, lambda lr: AdagradRef(lr, 1e-3)),
    "rmsprop": (RMSPropConfig(decay=0.8, eps=1e-3), 0.01, lambda lr: RMSPropRef(lr, 0.8, 1e-3)),
    "adadelta": (AdadeltaConfig(decay=0.9, eps=1e-4), 1.0, lambda lr: AdadeltaRef(lr, 0.9, 1e-4)),
    "adam": (AdamConfig(beta1=0.8, beta2=0.99, eps=1e-3), 0.01, lambda lr: AdamRef(lr, 0.8, 0.99, 1e-3)),
    "fletcher_reeves": (ConjugateGradientConfig(method="fletcher_reeves"), 0.01,
                        lambda lr: ConjugateGradientRef(lr, "fletcher_reeves")),
    "hestenes_stiefel": (ConjugateGradientConfig(method="hestenes_stiefel"), 0.01,
                         lambda lr: ConjugateGradientRef(lr, "hestenes_stiefel")),
    "fletcher_reeves_restarts": (ConjugateGradientConfig(method="fletcher_reeves", restart_every=2), 0.01,
                                 lambda lr: ConjugateGradientRef(lr, "fletcher_reeves", restart_every=2)),
    "hestenes_stiefel_restarts": (ConjugateGradientConfig(method="hestenes_stiefel", restart_every=4), 0.01,
                                  lambda lr: ConjugateGradientRef(lr, "hestenes_stiefel", restart_every=4)),
}


def test_every_optimizer_has_a_case():
    assert {config.name for config, _, _ in CASES.values()} == set(OPTIMIZERS)


@pytest.mark.parametrize("case", CASES)
def test_optimizer_matches_its_paper_oracle(case):
    """Exact to float32 rounding: the simulator's float32 chain against the float64 oracle."""
    config, lr, make_ref = CASES[case]
    grads = _gradients()
    params = _params()
    expected = [p.copy() for p in params]
    _run(make_optimizer(config, constant(lr)), params, grads, COUNTS)
    ref = make_ref(lr)
    for g in grads:
        ref.step(expected, [x.copy() for x in g])
    for got, want in zip(params, expected):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)
    assert not np.allclose(params[0], _params()[0])  # the parameters did move


@pytest.mark.parametrize("case", CASES)
def test_scale_multiplies_the_step(case):
    """`scale` multiplies coef, so one step with scale 0.5 and rate lr is one step with rate lr / 2."""
    config, lr, _ = CASES[case]
    grads = _gradients(1)
    half, scaled = _params(), _params()
    _run(make_optimizer(config, constant(lr / 2)), half, grads)
    _run(make_optimizer(config, constant(lr)), scaled, grads, scale=0.5)
    for a, b in zip(half, scaled):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# Closed-form trajectories on constant or linear gradients.


def _constant_gradient_run(config, lr, g, steps):
    """Params start at 0 and see the constant gradient lists g `steps` times; returns the
    parameters after each step (float64 copies)."""
    optimizer = make_optimizer(config, constant(lr))
    params = [np.zeros_like(x) for x in g]
    state = optimizer.init(params)
    history = []
    for t in range(steps):
        state = step(optimizer, params, [x.copy() for x in g], state, UpdateInfo(samples=t, count=1))
        history.append([p.astype(np.float64) for p in params])
    return history


G = [np.array([[0.5, -2.0, 1e-3], [3.0, -0.25, 1.0]], dtype=np.float32), np.array([-1.5, 0.75], dtype=np.float32)]


def _assert_trajectory(history, expected_step_sum):
    """history[t-1] == -sum_{i<=t} step_i elementwise, with expected_step_sum(t, g) the sum in float64."""
    for t, params in enumerate(history, start=1):
        for p, g in zip(params, G):
            np.testing.assert_allclose(p, -expected_step_sum(t, g.astype(np.float64)), rtol=2e-5, atol=1e-7)


def test_sgd_on_a_quadratic_contracts_geometrically():
    """f(w) = a/2 w^2 has gradient a w, so w_{t+1} = w_t - lr a w_t = (1 - lr a) w_t and
    w_t = (1 - lr a)^t w_0."""
    a, lr, w0 = 3.0, 0.1, np.array([2.0, -1.0], dtype=np.float32)
    optimizer = make_optimizer(SGDConfig(), constant(lr))
    w = [w0.copy()]
    state = optimizer.init(w)
    for t in range(1, 8):
        state = step(optimizer, w, [np.float32(a) * w[0]], state, UpdateInfo(samples=t - 1, count=1))
        np.testing.assert_allclose(w[0], (1 - lr * a) ** t * w0.astype(np.float64), rtol=1e-5)


def test_momentum_on_a_constant_gradient():
    """v_t = mu v_{t-1} + g with v_0 = 0 is v_t = g (1 - mu^t) / (1 - mu), so
    w_t = -lr g sum_{i<=t} (1 - mu^i) / (1 - mu)."""
    mu, lr = 0.5, 0.1
    history = _constant_gradient_run(MomentumConfig(mu=mu), lr, G, 6)
    _assert_trajectory(history, lambda t, g: lr * g * sum((1 - mu ** i) / (1 - mu) for i in range(1, t + 1)))


def test_nesterov_on_a_constant_gradient():
    """b_t = g (1 - mu^t) / (1 - mu) as for momentum, and the direction g + mu b_t =
    g (1 - mu^(t+1)) / (1 - mu), so w_t = -lr g sum_{i<=t} (1 - mu^(i+1)) / (1 - mu)."""
    mu, lr = 0.5, 0.1
    history = _constant_gradient_run(NesterovConfig(mu=mu), lr, G, 6)
    _assert_trajectory(history, lambda t, g: lr * g * sum((1 - mu ** (i + 1)) / (1 - mu) for i in range(1, t + 1)))


def test_adagrad_on_a_constant_gradient():
    """s_i = i g^2, so step i is lr g / (sqrt(i) |g| + eps) and
    w_t = -lr sign(g) sum_{i<=t} |g| / (sqrt(i) |g| + eps)."""
    lr, eps = 0.1, 1e-3
    history = _constant_gradient_run(AdagradConfig(eps=eps), lr, G, 6)
    _assert_trajectory(history, lambda t, g: lr * np.sign(g) * sum(
        np.abs(g) / (math.sqrt(i) * np.abs(g) + eps) for i in range(1, t + 1)))


def test_rmsprop_on_a_constant_gradient():
    """s_t = d s_{t-1} + (1 - d) g^2 with s_0 = 0 is s_t = (1 - d^t) g^2, so step i is
    lr g / (sqrt(1 - d^i) |g| + eps)."""
    lr, d, eps = 0.01, 0.9, 1e-3
    history = _constant_gradient_run(RMSPropConfig(decay=d, eps=eps), lr, G, 6)
    _assert_trajectory(history, lambda t, g: lr * sum(
        g / (math.sqrt(1 - d ** i) * np.abs(g) + eps) for i in range(1, t + 1)))


def test_adam_on_a_constant_gradient():
    """m_t = (1 - b1^t) g and v_t = (1 - b2^t) g^2, so the bias-corrected mhat = g and
    vhat = g^2 at every step: each step is lr g / (|g| + eps), and w_t = -t lr g / (|g| + eps)."""
    lr, eps = 0.01, 1e-3
    history = _constant_gradient_run(AdamConfig(eps=eps), lr, G, 6)
    _assert_trajectory(history, lambda t, g: t * lr * g / (np.abs(g) + eps))


def test_adadelta_first_step():
    """From E[g2] = E[dx2] = 0: E[g2]_1 = (1 - r) g^2 and dx_1 = -sqrt(eps) / sqrt((1 - r) g^2 + eps) g."""
    r, eps = 0.95, 1e-6
    (params,) = _constant_gradient_run(AdadeltaConfig(decay=r, eps=eps), 1.0, G, 1)
    for p, g in zip(params, G):
        g = g.astype(np.float64)
        np.testing.assert_allclose(p, -math.sqrt(eps) / np.sqrt((1 - r) * g ** 2 + eps) * g, rtol=2e-5)


def test_fletcher_reeves_on_a_constant_gradient():
    """beta_1 = 0, then beta = g.g / g.g = 1 every step: p_1 = -g, p_t = p_{t-1} - g = -t g,
    so w_t = lr sum_{i<=t} p_i = -lr g t (t + 1) / 2."""
    lr = 0.01
    history = _constant_gradient_run(ConjugateGradientConfig(method="fletcher_reeves"), lr, G, 6)
    _assert_trajectory(history, lambda t, g: lr * g * t * (t + 1) / 2)


def test_hestenes_stiefel_on_a_constant_gradient():
    """g - g_prev = 0 makes the denominator 0, so beta = 0 every step (a restart): p_t = -g
    and w_t = -t lr g, plain SGD."""
    lr = 0.01
    history = _constant_gradient_run(ConjugateGradientConfig(method="hestenes_stiefel"), lr, G, 6)
    _assert_trajectory(history, lambda t, g: t * lr * g)


def test_conjugate_gradient_direction_is_minus_p():
    """The chain ends with coef = -lr, so the direction must be -p for the step +lr p."""
    transform = conjugate_gradient("hestenes_stiefel")
    params = _params()
    state = transform.init(params)
    for grads in _gradients(3):
        directions, coef, state = transform.update([g.copy() for g in grads], 1.0, state, UpdateInfo(0, 1))
        assert coef == 1.0
        for d, p, g_prev, g in zip(directions, state["p"], state["g_prev"], grads):
            np.testing.assert_array_equal(d, -p)
            np.testing.assert_array_equal(g_prev, g)


def test_conjugate_gradient_beta_is_zero_for_a_non_finite_quotient():
    """A huge gradient after a tiny one overflows g.g / g_prev.g_prev in float64; beta falls back to 0."""
    transform = conjugate_gradient("fletcher_reeves")
    params = [np.zeros(2, dtype=np.float32)]
    state = transform.init(params)
    _, _, state = transform.update([np.full(2, 1e-30, dtype=np.float32)], 1.0, state, UpdateInfo(0, 1))
    state = {**state, "gg": 1e-300}
    g = np.full(2, 3e38, dtype=np.float32)
    _, _, state = transform.update([g.copy()], 1.0, state, UpdateInfo(1, 1))
    np.testing.assert_array_equal(state["p"][0], -g)


def test_unknown_conjugate_gradient_method_is_refused():
    with pytest.raises(ValueError, match="polak_ribiere"):
        conjugate_gradient("polak_ribiere")


# Equivalences.


def test_momentum_with_mu_zero_is_sgd_bitwise():
    grads = _gradients()
    sgd, heavy = _params(), _params()
    _run(make_optimizer(SGDConfig(), half_life(0.1, 7)), sgd, grads, COUNTS)
    _run(make_optimizer(MomentumConfig(mu=0.0), half_life(0.1, 7)), heavy, grads, COUNTS)
    for a, b in zip(sgd, heavy):
        assert np.array_equal(a, b)


def test_nesterov_with_mu_zero_is_sgd():
    grads = _gradients()
    sgd, nest = _params(), _params()
    _run(make_optimizer(SGDConfig(), constant(0.1)), sgd, grads, COUNTS)
    _run(make_optimizer(NesterovConfig(mu=0.0), constant(0.1)), nest, grads, COUNTS)
    for a, b in zip(sgd, nest):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_adam_with_beta1_zero_is_rmsprop_with_a_bias_corrected_second_moment():
    """With beta1 = 0, m = g and mhat = g: the step is lr g / (sqrt(v / (1 - b2^t)) + eps)."""
    lr, b2, eps = 0.01, 0.9, 1e-3
    grads = _gradients()
    params = _params()
    expected = [p.astype(np.float64) for p in params]
    _run(make_optimizer(AdamConfig(beta1=0.0, beta2=b2, eps=eps), constant(lr)), params, grads)
    v = [np.zeros(shape) for shape in SHAPES]
    for t, gs in enumerate(grads, start=1):
        for i, g in enumerate(gs):
            v[i] = b2 * v[i] + (1 - b2) * g.astype(np.float64) ** 2
            expected[i] -= lr * g / (np.sqrt(v[i] / (1 - b2 ** t)) + eps)
    for got, want in zip(params, expected):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)


def test_nested_chains_equal_flat_chains():
    nested = chain(chain(average(), momentum(0.9)), learning_rate(constant(0.1)))
    flat = chain(average(), momentum(0.9), learning_rate(constant(0.1)))
    assert (nested.state_per_param, nested.macs_per_param, nested.linear) == \
        (flat.state_per_param, flat.macs_per_param, flat.linear)
    grads = _gradients()
    a, b = _params(), _params()
    state_a = _run(nested, a, grads, COUNTS)
    state_b = _run(flat, b, grads, COUNTS)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    names = ["W", "b"]
    arrays_a, arrays_b = state_arrays(nested, state_a, names), state_arrays(flat, state_b, names)
    assert arrays_a.keys() == arrays_b.keys() == {"momentum/v/W", "momentum/v/b"}


def test_streaming_coefficient_of_sgd_is_the_update_coefficient():
    optimizer = make_optimizer(SGDConfig(), half_life(0.8, 10))
    state = optimizer.init(_params())
    info = UpdateInfo(samples=5, count=1)
    _, coef, _ = optimizer.update([g.copy() for g in _gradients(1)[0]], 0.5, state, info)
    assert streaming_coefficient(optimizer, state, info, scale=0.5) == coef == -0.8 * 0.5 ** 0.5 * 0.5


@pytest.mark.parametrize("case", [c for c in CASES if c != "sgd"])
def test_non_linear_optimizers_refuse_to_stream(case):
    config, lr, _ = CASES[case]
    optimizer = make_optimizer(config, constant(lr))
    assert not optimizer.linear
    with pytest.raises(ValueError, match="not linear"):
        streaming_coefficient(optimizer, optimizer.init(_params()), UpdateInfo(0, 1))


# State.


def test_state_arrays_names():
    names = ["W", "b"]
    optimizer = make_optimizer(AdamConfig(), constant(0.01))
    state = _run(optimizer, _params(), _gradients(2))
    arrays = state_arrays(optimizer, state, names)
    assert set(arrays) == {"adam/m/W", "adam/m/b", "adam/v/W", "adam/v/b", "adam/t"}
    assert arrays["adam/m/W"].shape == (3, 4) and arrays["adam/v/b"].shape == (3,)
    assert int(arrays["adam/t"]) == 2
    cg = make_optimizer(ConjugateGradientConfig(), constant(0.01))
    assert set(state_arrays(cg, cg.init(_params()), names)) == {
        "conjugate_gradient/p/W", "conjugate_gradient/p/b", "conjugate_gradient/gg"}
    hs = make_optimizer(ConjugateGradientConfig(method="hestenes_stiefel"), constant(0.01))
    assert set(state_arrays(hs, hs.init(_params()), names)) == {
        "conjugate_gradient/p/W", "conjugate_gradient/p/b", "conjugate_gradient/g_prev/W",
        "conjugate_gradient/g_prev/b"}


def test_adam_counts_updates_not_samples():
    transform = adam(0.9, 0.999, 1e-8)
    state = transform.init(_params())
    for samples in (0, 16):
        _, _, state = transform.update([g.copy() for g in _gradients(1)[0]], 1.0, state, UpdateInfo(samples, 16))
    assert state["t"] == 2


@pytest.mark.parametrize("case", CASES)
def test_state_buffers_match_the_parameters(case):
    config, lr, _ = CASES[case]
    optimizer = make_optimizer(config, constant(lr))
    state = optimizer.init(_params())
    per_param = [v for s in state for v in s.values() if isinstance(v, list)]
    assert len(per_param) == optimizer.state_per_param
    for buffers in per_param:
        assert [(b.shape, b.dtype, b.flags.c_contiguous) for b in buffers] == [(s, np.float32, True) for s in SHAPES]
        assert all(not b.any() for b in buffers)


# Ported from the old module's tests (tests/simulator/training/test_optimizers.py).


def test_plain_sgd_step():
    param = [np.ones(4, dtype=np.float32)]
    g = np.array([1, 2, 3, 4], dtype=np.float32)
    opt = learning_rate(constant(0.5))
    step(opt, param, [g], opt.init(param), UpdateInfo(samples=0, count=1))
    np.testing.assert_array_equal(param[0], [0.5, 0.0, -0.5, -1.0])


def test_average_divides_by_the_samples_in_the_gradient():
    param = [np.zeros((2, 2), dtype=np.float32)]
    opt = chain(average(), learning_rate(constant(1.0)))
    step(opt, param, [np.full((2, 2), 8, dtype=np.float32)], opt.init(param), UpdateInfo(samples=0, count=4))
    np.testing.assert_array_equal(param[0], np.full((2, 2), -2.0))


def test_momentum_matches_the_heavy_ball_recurrence():
    mu, lr = 0.9, 0.1
    grads = [[np.array([1.0, -2.0], dtype=np.float32) * (i + 1)] for i in range(5)]
    param = [np.zeros(2, dtype=np.float32)]
    _run(chain(momentum(mu), learning_rate(constant(lr))), param, grads)
    v, p = np.zeros(2), np.zeros(2)
    for (g,) in grads:
        v = mu * v + g
        p = p - lr * v
    np.testing.assert_allclose(param[0], p, rtol=1e-6)


def test_sgd_keeps_no_state_and_momentum_one_buffer_per_parameter():
    params = _params()
    assert make_optimizer(SGDConfig(), constant(0.1)).init(params) == ({}, {})
    state = make_optimizer(MomentumConfig(mu=0.5), constant(0.1)).init(params)
    assert [v.shape for v in state[1]["v"]] == SHAPES


def test_sgd_and_momentum_are_the_old_arithmetic_bitwise():
    """The old module's update, written out: g *= float32(1 / count); [v = mu v + g;] W += (-lr * scale) g."""
    lr, scale, mu = 0.05, 0.5, 0.9
    schedule = half_life(lr, 9.0)
    for config in (SGDConfig(), MomentumConfig(mu=mu)):
        grads = _gradients()
        params, expected = _params(), _params()
        _run(make_optimizer(config, schedule), params, grads, COUNTS, scale=scale)
        v = [np.zeros(shape, dtype=np.float32) for shape in SHAPES]
        samples = 0
        for gs, count in zip(grads, COUNTS):
            for i, g in enumerate(gs):
                g = g * np.float32(count)
                if count != 1:
                    g *= np.float32(1.0 / count)
                if config.name == "momentum":
                    momentum_accumulate(v[i], g, mu)
                    g = v[i]
                axpy(expected[i], g, -(lr * 0.5 ** (samples / 9.0)) * scale)
            samples += count
        for a, b in zip(params, expected):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("method", ["fletcher_reeves", "hestenes_stiefel"])
def test_conjugate_gradients_restarting_every_update_is_sgd(method):
    """restart_every = 1 sets beta = 0 at every update: p = -g and W += lr p is plain SGD."""
    grads = _gradients()
    cg, sgd = _params(), _params()
    _run(make_optimizer(ConjugateGradientConfig(method=method, restart_every=1), constant(0.05)), cg, grads, COUNTS)
    _run(make_optimizer(SGDConfig(), constant(0.05)), sgd, grads, COUNTS)
    for a, b in zip(cg, sgd):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
