"""Tests for the element-wise optimiser kernels on 1-D and 2-D arrays."""

import numpy as np
import pytest

from wafersim_kernels import axpy, momentum_accumulate, zero

SHAPES = [(1,), (13,), (64,), (1, 1), (7, 13), (64, 128)]
EPS32 = float(np.finfo(np.float32).eps)


def _assert_fma_or_two_step(result, c, a, b):
    """Check result == round(c + a*b) under either rounding scheme.

    With fastmath "contract" the compiler may fuse c + a*b into one FMA (one
    rounding) or not (product and sum rounded separately), depending on the
    target. Either way the error against the exact float64 value is at most
    about one float32 ulp of |c + a*b| plus one of |a*b|, so compare against
    that bound instead of demanding bit equality with NumPy.
    """
    a64, b64, c64 = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    exact = c64 + a64 * b64  # the float32 product is exact in float64
    bound = EPS32 * (np.abs(exact) + np.abs(a64 * b64))
    assert result.dtype == np.float32
    assert np.all(np.abs(result.astype(np.float64) - exact) <= bound)


@pytest.mark.parametrize("shape", SHAPES)
def test_axpy(shape):
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    y0 = rng.standard_normal(shape).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    alpha = -0.1
    y = y0.copy()
    assert axpy(y, x, alpha) is None
    # The kernel rounds alpha to float32 first, as NumPy does for y += alpha*x.
    _assert_fma_or_two_step(y, y0, np.float32(alpha), x)
    np.testing.assert_allclose(y, y0 + np.float32(alpha) * x, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
def test_momentum_accumulate(shape):
    rng = np.random.default_rng(len(shape) * 100 + shape[0] + 1)
    v0 = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    mu = 0.9
    v = v0.copy()
    momentum_accumulate(v, g, mu)
    _assert_fma_or_two_step(v, g, np.float32(mu), v0)
    np.testing.assert_allclose(v, np.float32(mu) * v0 + g, rtol=1e-6, atol=1e-7)


def test_exact_cases():
    # Products with 0 and 1 and sums with 0 are exact under any rounding.
    y0 = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    y = y0.copy()
    axpy(y, x, 0.0)
    np.testing.assert_array_equal(y, y0)
    axpy(y, x, 1.0)
    np.testing.assert_array_equal(y, y0 + x)
    v = y0.copy()
    momentum_accumulate(v, x, 0.0)
    np.testing.assert_array_equal(v, x)
    v = np.zeros(12, dtype=np.float32)
    momentum_accumulate(v, x.reshape(-1), 0.9)
    np.testing.assert_array_equal(v, x.reshape(-1))


@pytest.mark.parametrize("shape", SHAPES)
def test_zero(shape):
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    zero(a)
    np.testing.assert_array_equal(a, np.zeros(shape, dtype=np.float32))


def test_nan_propagates():
    y = np.ones(5, dtype=np.float32)
    x = np.array([0, 1, np.nan, 1, np.inf], dtype=np.float32)
    axpy(y, x, 0.5)
    assert np.isnan(y[2]) and np.isinf(y[4])
    assert np.all(np.isfinite(y[[0, 1, 3]]))
