"""The normalization-propagation kernels against their float64 NumPy oracles."""

import numpy as np
import pytest

from wafersim_kernels.conv import conv2d_output_size
from wafersim_kernels.normprop import (RELU_MEAN, RELU_STD, normprop_forward, normprop_input_gradient,
                                       normprop_relu_backward, normprop_weight_gradient, unit_filters)
from wafersim_kernels.reference_conv import normprop_backward_ref, normprop_conv_forward_ref

# (C, H, W, O, K, stride, pad): a pointwise conv, a padded 3x3, a strided 5x5 on an unequal image
SHAPES = [(3, 6, 6, 4, 1, 1, 0), (2, 7, 7, 3, 3, 1, 1), (4, 9, 8, 5, 5, 2, 2)]


def case(C, H, W, O, K, stride, pad, seed=0):
    rng = np.random.default_rng(seed)
    Ho, Wo = conv2d_output_size(H, K, stride, pad), conv2d_output_size(W, K, stride, pad)
    x = rng.standard_normal((C, H, W)).astype(np.float32)
    Wt = rng.standard_normal((O, C, K, K)).astype(np.float32)
    b = np.stack([rng.standard_normal(O), 1 + 0.3 * rng.standard_normal(O)]).astype(np.float32)
    du = rng.standard_normal((O, Ho, Wo)).astype(np.float32)
    return x, Wt, b, du


def test_unit_filters_have_unit_norm():
    W = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)
    V, norms = np.empty_like(W), np.empty(4, np.float32)
    unit_filters(W, V, norms)
    np.testing.assert_allclose(norms, np.sqrt((W.astype(np.float64) ** 2).sum(axis=(1, 2, 3))), rtol=1e-6)
    np.testing.assert_allclose((V.astype(np.float64) ** 2).sum(axis=(1, 2, 3)), 1, rtol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("top", [False, True])
def test_forward_is_the_oracles(shape, top):
    x, W, b, du = case(*shape)
    out = np.empty(du.shape, np.float32)
    normprop_forward(x, W, b, shape[5], shape[6], top, out)
    np.testing.assert_allclose(out, normprop_conv_forward_ref(x, W, b, shape[5], shape[6], top), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradients_are_the_oracles(shape):
    """dL/dx, and dL/dW and [dL/dbeta; dL/dg] summed into buffers that already hold values."""
    x, W, b, du = case(*shape, seed=2)
    stride, pad = shape[5], shape[6]
    dx_ref, gW_ref, gb_ref = normprop_backward_ref(x, W, b, du, stride, pad)
    dx = np.empty_like(x)
    normprop_input_gradient(W, b, du, stride, pad, dx)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-5)
    gW, gb = np.full_like(W, 0.5), np.full_like(b, -0.25)
    normprop_weight_gradient(x, W, b, du, stride, pad, gW, gb)
    np.testing.assert_allclose(gW, gW_ref + 0.5, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gb, gb_ref - 0.25, rtol=1e-4, atol=1e-5)


def test_the_recentred_relus_slope():
    """du = e / RELU_STD where the output lies above the recentred zero (u > 0), else 0."""
    h = np.array([-RELU_MEAN / RELU_STD - 1e-3, -RELU_MEAN / RELU_STD + 1e-3, 2.0, -1.0], np.float32)
    e = np.array([1.0, 2.0, -3.0, 4.0], np.float32)
    du = np.empty_like(h)
    normprop_relu_backward(h, e, du)
    np.testing.assert_allclose(du, [0, 2 / RELU_STD, -3 / RELU_STD, 0], rtol=1e-6)


def test_the_backward_oracle_is_the_forward_oracles_derivative():
    """The chain-rule oracle against central differences of L = sum(du * u) on the top-layer forward (u itself)."""
    from tests.builders import central_differences

    x, W, b, du = (a.astype(np.float64) for a in case(*SHAPES[1], seed=4))
    dx, gW, gb = normprop_backward_ref(x, W, b, du, 1, 1)

    def loss():
        return float((normprop_conv_forward_ref(x, W, b, 1, 1, top=True) * du).sum())

    for analytic, p in ((dx, x), (gW, W), (gb, b)):
        np.testing.assert_allclose(analytic, central_differences(loss, p), rtol=1e-6, atol=1e-8)
