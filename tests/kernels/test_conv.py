"""Tests for the convolution and pooling kernels against NumPy oracles and finite differences."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from tests.builders import central_differences

from wafersim_kernels.conv import (
    avgpool_backward,
    avgpool_forward,
    conv2d_forward,
    conv2d_input_gradient,
    conv2d_output_size,
    conv2d_weight_gradient,
    global_avgpool_backward,
    global_avgpool_forward,
    maxpool_backward,
    maxpool_forward,
)
from wafersim_kernels.reference_conv import (
    avgpool_backward_ref,
    avgpool_forward_ref,
    conv2d_forward_ref,
    conv2d_input_gradient_ref,
    conv2d_weight_gradient_ref,
    global_avgpool_backward_ref,
    global_avgpool_forward_ref,
    maxpool_backward_ref,
    maxpool_forward_ref,
)

# (C, H, W, O, K, stride, pad): 1x1 convs (pointwise, strided, padded past the image), stride
# 2 and 3, pad 0/1/2, odd and unequal sizes, an even kernel, a kernel wider than the image.
CONV_SHAPES = [
    (1, 5, 5, 1, 1, 1, 0),
    (3, 8, 7, 4, 1, 1, 0),
    (3, 7, 9, 2, 1, 2, 0),
    (1, 3, 4, 2, 1, 1, 2),
    (2, 9, 7, 3, 3, 1, 1),
    (3, 11, 10, 4, 3, 2, 1),
    (2, 7, 6, 3, 3, 1, 0),
    (2, 5, 5, 3, 3, 1, 2),
    (2, 8, 8, 5, 5, 1, 2),
    (3, 9, 9, 2, 5, 2, 2),
    (4, 6, 5, 3, 2, 2, 1),
    (2, 4, 3, 2, 5, 1, 2),
    (2, 10, 10, 3, 3, 3, 1),
]
# (C, H, W, size, stride): overlapping windows (size 3 stride 2, size 3 stride 1), tiling ones
# (2/2), gaps between windows (2/3), ragged edges (floor), one window, 1x1.
POOL_SHAPES = [
    (2, 9, 9, 3, 2),
    (2, 13, 12, 3, 2),
    (3, 8, 8, 2, 2),
    (1, 7, 6, 3, 1),
    (2, 6, 7, 2, 3),
    (2, 5, 5, 5, 1),
    (3, 4, 5, 1, 1),
]

# float32 kernels (BLAS products and fastmath sums in another order) against float64
# oracles: agreement to float32 rounding of O(1)-O(10) values, not bit for bit.
RTOL = 1e-5
ATOL = 1e-5


def _conv_problem(rng, C, H, W, O, K, stride, pad):
    x = rng.standard_normal((C, H, W)).astype(np.float32)
    Wt = (rng.standard_normal((O, C, K, K)) / np.sqrt(C * K * K)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    Ho, Wo = conv2d_output_size(H, K, stride, pad), conv2d_output_size(W, K, stride, pad)
    dz = rng.standard_normal((O, Ho, Wo)).astype(np.float32)
    return x, Wt, b, dz


def _pool_out(H, W, size, stride):
    return (H - size) // stride + 1, (W - size) // stride + 1


def test_output_size():
    assert conv2d_output_size(28, 5, 1, 2) == 28
    assert conv2d_output_size(13, 3, 2, 1) == 7
    assert conv2d_output_size(10, 3, 3, 0) == 3


@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv2d_forward(shape):
    rng = np.random.default_rng(1)
    x, W, b, dz = _conv_problem(rng, *shape)
    stride, pad = shape[5], shape[6]
    out = np.full(dz.shape, np.nan, dtype=np.float32)
    assert conv2d_forward(x, W, b, stride, pad, out) is None
    np.testing.assert_allclose(out, conv2d_forward_ref(x, W, b, stride, pad), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv2d_input_gradient(shape):
    rng = np.random.default_rng(2)
    x, W, b, dz = _conv_problem(rng, *shape)
    stride, pad = shape[5], shape[6]
    # Garbage first: the kernel overwrites dx, including pixels no window reads (stride 3).
    dx = np.full(x.shape, 123.0, dtype=np.float32)
    conv2d_input_gradient(W, dz, stride, pad, dx)
    np.testing.assert_allclose(dx, conv2d_input_gradient_ref(W, dz, stride, pad, x.shape), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv2d_weight_gradient(shape):
    rng = np.random.default_rng(3)
    x, W, b, dz = _conv_problem(rng, *shape)
    stride, pad = shape[5], shape[6]
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    conv2d_weight_gradient(x, dz, stride, pad, gW, gb)
    rW, rb = conv2d_weight_gradient_ref(x, dz, stride, pad, W.shape[2])
    np.testing.assert_allclose(gW, rW, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gb, rb, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", [CONV_SHAPES[1], CONV_SHAPES[5], CONV_SHAPES[8]])
def test_conv2d_weight_gradient_accumulates(shape):
    rng = np.random.default_rng(4)
    x, W, b, dz = _conv_problem(rng, *shape)
    x2, _, _, dz2 = _conv_problem(rng, *shape)
    stride, pad = shape[5], shape[6]
    one_w, one_b = np.zeros_like(W), np.zeros_like(b)
    conv2d_weight_gradient(x, dz, stride, pad, one_w, one_b)
    g0w, g0b = rng.standard_normal(W.shape).astype(np.float32), rng.standard_normal(b.shape).astype(np.float32)
    gW, gb = g0w.copy(), g0b.copy()
    conv2d_weight_gradient(x, dz, stride, pad, gW, gb)
    # Added, not stored: exactly g0 + the gradient computed from zero (one float32 add each).
    np.testing.assert_array_equal(gW, g0w + one_w)
    np.testing.assert_array_equal(gb, g0b + one_b)
    # Two samples summed: the sum of their oracle gradients.
    sw, sb = np.zeros_like(W), np.zeros_like(b)
    conv2d_weight_gradient(x, dz, stride, pad, sw, sb)
    conv2d_weight_gradient(x2, dz2, stride, pad, sw, sb)
    r1, r2 = (conv2d_weight_gradient_ref(xi, di, stride, pad, W.shape[2]) for xi, di in ((x, dz), (x2, dz2)))
    np.testing.assert_allclose(sw, r1[0].astype(np.float64) + r2[0], rtol=RTOL, atol=2 * ATOL)
    np.testing.assert_allclose(sb, r1[1].astype(np.float64) + r2[1], rtol=RTOL, atol=2 * ATOL)


# Kernels in float32 against float64 central differences of the float64 oracles (accurate to
# ~1e-9): the gap is the kernels' float32 rounding.
FD_RTOL = 1e-4
FD_ATOL = 1e-5


@pytest.mark.parametrize("shape", [(2, 6, 5, 3, 3, 1, 1), (2, 7, 7, 2, 3, 2, 2), (3, 5, 4, 2, 1, 2, 1),
                                   (1, 6, 6, 2, 5, 1, 2)])
def test_conv2d_gradients_match_finite_differences(shape):
    rng = np.random.default_rng(5)
    x, W, b, dz = _conv_problem(rng, *shape)
    stride, pad = shape[5], shape[6]
    R = dz.astype(np.float64)  # L = sum(out * R), so dL/dout = R
    x64, W64, b64 = x.astype(np.float64), W.astype(np.float64), b.astype(np.float64)

    def loss():
        return float(np.sum(conv2d_forward_ref(x64, W64, b64, stride, pad) * R))

    dx = np.empty_like(x)
    conv2d_input_gradient(W, dz, stride, pad, dx)
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    conv2d_weight_gradient(x, dz, stride, pad, gW, gb)
    np.testing.assert_allclose(dx, central_differences(loss, x64), rtol=FD_RTOL, atol=FD_ATOL)
    np.testing.assert_allclose(gW, central_differences(loss, W64), rtol=FD_RTOL, atol=FD_ATOL)
    np.testing.assert_allclose(gb, central_differences(loss, b64), rtol=FD_RTOL, atol=FD_ATOL)


@pytest.mark.parametrize("shape", POOL_SHAPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_maxpool_forward(shape, index_dtype):
    C, H, W, size, stride = shape
    rng = np.random.default_rng(6)
    x = rng.standard_normal((C, H, W)).astype(np.float32)
    Ho, Wo = _pool_out(H, W, size, stride)
    out = np.full((C, Ho, Wo), np.nan, dtype=np.float32)
    argmax = np.full((C, Ho, Wo), -1, dtype=index_dtype)
    maxpool_forward(x, size, stride, out, argmax)
    ref_out, ref_arg = maxpool_forward_ref(x, size, stride)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(argmax, ref_arg)
    np.testing.assert_array_equal(x.reshape(-1)[argmax], out)


@pytest.mark.parametrize("shape", [(2, 9, 9, 3, 2), (3, 8, 8, 2, 2), (1, 7, 6, 3, 1)])
def test_maxpool_ties_take_first_max_and_nan_propagates(shape):
    C, H, W, size, stride = shape
    rng = np.random.default_rng(7)
    # Few distinct values: most windows hold their max more than once.
    x = rng.integers(0, 3, (C, H, W)).astype(np.float32)
    x[0, 1, 1] = np.nan
    x[0, 2, 1] = np.nan
    Ho, Wo = _pool_out(H, W, size, stride)
    out = np.empty((C, Ho, Wo), dtype=np.float32)
    argmax = np.empty((C, Ho, Wo), dtype=np.int64)
    maxpool_forward(x, size, stride, out, argmax)
    ref_out, ref_arg = maxpool_forward_ref(x, size, stride)  # np.argmax: first max, first NaN
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(argmax, ref_arg)
    assert np.isnan(out[0, 0, 0])


@pytest.mark.parametrize("shape", POOL_SHAPES)
def test_maxpool_backward(shape):
    C, H, W, size, stride = shape
    rng = np.random.default_rng(8)
    # Coarse values so overlapping windows often share their max: the index repeats and adds up.
    x = rng.integers(0, 4, (C, H, W)).astype(np.float32)
    Ho, Wo = _pool_out(H, W, size, stride)
    out = np.empty((C, Ho, Wo), dtype=np.float32)
    argmax = np.empty((C, Ho, Wo), dtype=np.int32)
    maxpool_forward(x, size, stride, out, argmax)
    dout = rng.standard_normal((C, Ho, Wo)).astype(np.float32)
    dx = np.full(x.shape, 5.0, dtype=np.float32)
    maxpool_backward(dout, argmax, dx)
    np.testing.assert_allclose(dx, maxpool_backward_ref(dout, argmax, x.shape), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", POOL_SHAPES)
def test_avgpool_forward_and_backward(shape):
    C, H, W, size, stride = shape
    rng = np.random.default_rng(9)
    x = rng.standard_normal((C, H, W)).astype(np.float32)
    Ho, Wo = _pool_out(H, W, size, stride)
    out = np.full((C, Ho, Wo), np.nan, dtype=np.float32)
    avgpool_forward(x, size, stride, out)
    np.testing.assert_allclose(out, avgpool_forward_ref(x, size, stride), rtol=RTOL, atol=ATOL)
    dout = rng.standard_normal((C, Ho, Wo)).astype(np.float32)
    dx = np.full(x.shape, 5.0, dtype=np.float32)
    avgpool_backward(dout, size, stride, dx)
    np.testing.assert_allclose(dx, avgpool_backward_ref(dout, size, stride, x.shape), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 6, 6), (10, 5, 7)])
def test_global_avgpool(shape):
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shape).astype(np.float32)
    out = np.full(shape[0], np.nan, dtype=np.float32)
    global_avgpool_forward(x, out)
    np.testing.assert_allclose(out, global_avgpool_forward_ref(x), rtol=RTOL, atol=ATOL)
    dout = rng.standard_normal(shape[0]).astype(np.float32)
    dx = np.full(shape, 5.0, dtype=np.float32)
    global_avgpool_backward(dout, dx)
    np.testing.assert_allclose(dx, global_avgpool_backward_ref(dout, shape), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", [(2, 9, 9, 3, 2), (3, 8, 8, 2, 2), (2, 7, 6, 3, 1)])
def test_pool_backwards_match_finite_differences(shape):
    C, H, W, size, stride = shape
    rng = np.random.default_rng(11)
    x = rng.standard_normal((C, H, W)).astype(np.float32)  # distinct values: max is smooth locally
    Ho, Wo = _pool_out(H, W, size, stride)
    R = rng.standard_normal((C, Ho, Wo)).astype(np.float32)
    R64, x64 = R.astype(np.float64), x.astype(np.float64)

    out = np.empty((C, Ho, Wo), dtype=np.float32)
    argmax = np.empty((C, Ho, Wo), dtype=np.int64)
    maxpool_forward(x, size, stride, out, argmax)
    dx = np.empty_like(x)
    maxpool_backward(R, argmax, dx)
    numeric = central_differences(lambda: float(np.sum(maxpool_forward_ref(x64, size, stride)[0] * R64)), x64)
    np.testing.assert_allclose(dx, numeric, rtol=FD_RTOL, atol=FD_ATOL)

    avgpool_backward(R, size, stride, dx)
    numeric = central_differences(lambda: float(np.sum(avgpool_forward_ref(x64, size, stride) * R64)), x64)
    np.testing.assert_allclose(dx, numeric, rtol=FD_RTOL, atol=FD_ATOL)

    g = R[:, 0, 0].copy()
    global_avgpool_backward(g, dx)
    numeric = central_differences(lambda: float(np.sum(global_avgpool_forward_ref(x64) * g.astype(np.float64))), x64)
    np.testing.assert_allclose(dx, numeric, rtol=FD_RTOL, atol=FD_ATOL)


def _conv_all(x, W, b, dz, stride, pad):
    out = np.empty(dz.shape, dtype=np.float32)
    conv2d_forward(x, W, b, stride, pad, out)
    dx = np.empty_like(x)
    conv2d_input_gradient(W, dz, stride, pad, dx)
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    conv2d_weight_gradient(x, dz, stride, pad, gW, gb)
    return out, dx, gW, gb


def test_deterministic():
    rng = np.random.default_rng(12)
    # Big enough (the benchmark's 5x5 32->64 layer on 13x13) that OpenBLAS would use several
    # threads: the bits must not depend on how many it is allowed.
    for shape in [(32, 13, 13, 64, 5, 1, 2), (64, 6, 6, 64, 3, 1, 1), (32, 28, 28, 32, 1, 1, 0), CONV_SHAPES[5]]:
        x, W, b, dz = _conv_problem(rng, *shape)
        first = _conv_all(x, W, b, dz, shape[5], shape[6])
        again = _conv_all(x, W, b, dz, shape[5], shape[6])
        with threadpool_limits(limits=1, user_api="blas"):
            single = _conv_all(x, W, b, dz, shape[5], shape[6])
        for a, c, s in zip(first, again, single):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(a, s)
    x = rng.standard_normal((3, 13, 13)).astype(np.float32)
    d = rng.standard_normal((3, 6, 6)).astype(np.float32)
    results = []
    for _ in range(2):
        out, arg, dx = np.empty((3, 6, 6), np.float32), np.empty((3, 6, 6), np.int32), np.empty_like(x)
        maxpool_forward(x, 3, 2, out, arg)
        maxpool_backward(d, arg, dx)
        aout, adx = np.empty_like(out), np.empty_like(x)
        avgpool_forward(x, 3, 2, aout)
        avgpool_backward(d, 3, 2, adx)
        results.append((out, arg, dx, aout, adx))
    for a, c in zip(*results):
        np.testing.assert_array_equal(a, c)
