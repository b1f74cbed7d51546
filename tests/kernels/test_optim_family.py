"""Tests of the Nesterov, Adagrad, RMSProp, Adadelta, Adam and conjugate-gradient kernels against their oracles."""

import math

import numpy as np
import pytest

from wafersim_kernels import (adadelta_direction, adagrad_direction, adam_direction, cg_direction, dot, hestenes_stiefel_dots,
                     nesterov_direction, rmsprop_direction, spike_direction)
from wafersim_kernels.reference_optimizers import (adadelta_direction_ref, adagrad_direction_ref, adam_direction_ref,
                                          cg_direction_ref, dot_ref, hestenes_stiefel_dots_ref, nesterov_direction_ref,
                                          rmsprop_direction_ref, spike_direction_ref)

SHAPES = [(1,), (13,), (64,), (1, 1), (7, 13), (64, 128)]
# A few float32 operations in a row, one of them a division that fastmath may turn into
# a reciprocal multiply: a few ulps of relative error. Sums such as mu * b + g may cancel,
# so a result near 0 is off by a few ulps of its O(1) operands instead.
RTOL, ATOL = 4e-6, 1e-6


def _arrays(shape, n, positive=()):
    """n float32 arrays of `shape`; those at the indices in `positive` are |N(0, 1)| (second moments)."""
    rng = np.random.default_rng(sum(shape) * 10 + len(shape))
    out = [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]
    for i in positive:
        out[i] = np.abs(out[i])
    return out


def _check(results, expected):
    for got, want in zip(results, expected):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_nesterov_direction(shape):
    b, g = _arrays(shape, 2)
    expected = nesterov_direction_ref(b, g, 0.9)
    nesterov_direction(b, g, 0.9)
    _check([b, g], expected)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("delay", [0, 1, 4])
def test_spike_direction(shape, delay):
    v, g = _arrays(shape, 2)
    a = 0.9 ** delay
    b = (1 - a) / (1 - 0.9)
    expected = spike_direction_ref(v, g, 0.9, a, b)
    spike_direction(v, g, 0.9, a, b)
    _check([v, g], expected)


@pytest.mark.parametrize("shape", SHAPES)
def test_adagrad_direction(shape):
    s, g = _arrays(shape, 2, positive=[0])
    expected = adagrad_direction_ref(s, g, 1e-8)
    adagrad_direction(s, g, 1e-8)
    _check([s, g], expected)


@pytest.mark.parametrize("shape", SHAPES)
def test_rmsprop_direction(shape):
    s, g = _arrays(shape, 2, positive=[0])
    expected = rmsprop_direction_ref(s, g, 0.9, 1e-8)
    rmsprop_direction(s, g, 0.9, 1e-8)
    _check([s, g], expected)


@pytest.mark.parametrize("shape", SHAPES)
def test_adadelta_direction(shape):
    g2, dx2, g = _arrays(shape, 3, positive=[0, 1])
    expected = adadelta_direction_ref(g2, dx2, g, 0.95, 1e-6)
    adadelta_direction(g2, dx2, g, 0.95, 1e-6)
    _check([g2, dx2, g], expected)


@pytest.mark.parametrize("shape", SHAPES)
def test_adam_direction(shape):
    m, v, g = _arrays(shape, 3, positive=[1])
    expected = adam_direction_ref(m, v, g, 0.9, 0.999, 1e-8 * math.sqrt(1 - 0.999 ** 3))
    adam_direction(m, v, g, 0.9, 0.999, 1e-8 * math.sqrt(1 - 0.999 ** 3))
    _check([m, v, g], expected)


@pytest.mark.parametrize("shape", SHAPES)
def test_dot(shape):
    a, b = _arrays(shape, 2)
    got = dot(a, b)
    assert isinstance(got, float)
    # float64 accumulation of exact float64 products: only summation rounding remains.
    assert got == pytest.approx(dot_ref(a, b), rel=1e-12, abs=1e-12)
    assert dot(a, a) == pytest.approx(math.fsum(float(x) ** 2 for x in a.reshape(-1)), rel=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_hestenes_stiefel_dots(shape):
    g, g_prev, p = _arrays(shape, 3)
    num, den = hestenes_stiefel_dots(g, g_prev, p)
    want_num, want_den = hestenes_stiefel_dots_ref(g, g_prev, p)
    assert num == pytest.approx(want_num, rel=1e-12, abs=1e-12)
    assert den == pytest.approx(want_den, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_cg_direction(shape):
    p, g = _arrays(shape, 2)
    expected = cg_direction_ref(p, g, 0.7)
    cg_direction(p, g, 0.7)
    _check([p, g], expected)
    np.testing.assert_array_equal(g, -p)


def test_exact_cases():
    # With decay/mu/beta 0 and eps 0 the kernels reduce to operations that are exact in float32.
    g0 = np.array([[1.0, -2.0], [4.0, -0.5]], dtype=np.float32)
    b, g = np.full_like(g0, 3.0), g0.copy()
    nesterov_direction(b, g, 0.0)
    np.testing.assert_array_equal(b, g0)
    np.testing.assert_array_equal(g, g0)
    s, g = np.zeros_like(g0), g0.copy()
    adagrad_direction(s, g, 0.0)
    np.testing.assert_array_equal(s, g0 * g0)
    np.testing.assert_array_equal(g, np.sign(g0))
    p, g = np.full_like(g0, 5.0), g0.copy()
    cg_direction(p, g, 0.0)
    np.testing.assert_array_equal(p, -g0)
    np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("kernel, args", [
    (adagrad_direction, (1e-8,)), (rmsprop_direction, (0.9, 1e-8)), (nesterov_direction, (0.9,)),
])
def test_nan_propagates(kernel, args):
    state = np.zeros(4, dtype=np.float32)
    g = np.array([1.0, np.nan, -1.0, np.inf], dtype=np.float32)
    kernel(state, g, *args)
    assert np.isnan(g[1]) and not np.all(np.isfinite(g[3:]))
    assert np.all(np.isfinite(g[[0, 2]]))


def test_adam_nan_propagates():
    m, v = np.zeros(3, dtype=np.float32), np.zeros(3, dtype=np.float32)
    g = np.array([1.0, np.nan, -1.0], dtype=np.float32)
    adam_direction(m, v, g, 0.9, 0.999, 1e-8)
    assert np.isnan(g[1]) and np.isnan(m[1]) and np.isnan(v[1])
    assert np.all(np.isfinite(g[[0, 2]]))
