"""Tests for the dense-layer kernels against NumPy oracles and finite differences."""

import numpy as np
import pytest

from wafersim_kernels import (
    rank_one_update,
    IDENTITY,
    RELU,
    TANH,
    accumulate_gradient,
    activation_backward,
    activation_backward_ref,
    delta_to_input,
    delta_to_input_ref,
    dense_forward,
    dense_forward_ref,
    gradient_ref,
    softmax_cross_entropy,
    softmax_cross_entropy_ref,
)

SHAPES = [(1, 1), (7, 13), (13, 7), (64, 128)]
ACTS = [RELU, TANH, IDENTITY]

# The kernels run in float32 with fastmath reassociation, so dot-product sums
# are added in a different (vectorised) order than the float64 oracle; results
# agree to a few float32 ulps of the O(1) values, not bit for bit.
RTOL = 1e-5
ATOL = 1e-6


def _layer(rng, n_out, n_in):
    # Scaled as in a standard initialisation so pre-activations are O(1).
    W = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    return W, b


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("act", ACTS)
def test_dense_forward(shape, act):
    rng = np.random.default_rng(1)
    W, b = _layer(rng, *shape)
    x = rng.standard_normal(shape[1]).astype(np.float32)
    out = np.full(shape[0], np.nan, dtype=np.float32)
    assert dense_forward(W, b, x, out, act) is None
    np.testing.assert_allclose(out, dense_forward_ref(W, b, x, act), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_delta_to_input(shape):
    rng = np.random.default_rng(2)
    W, _ = _layer(rng, *shape)
    dz = rng.standard_normal(shape[0]).astype(np.float32)
    # Start from garbage to check the kernel zeroes its output first.
    out = np.full(shape[1], 123.0, dtype=np.float32)
    delta_to_input(W, dz, out)
    np.testing.assert_allclose(out, delta_to_input_ref(W, dz), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("n", [1, 7, 64])
@pytest.mark.parametrize("act", ACTS)
def test_activation_backward(n, act):
    rng = np.random.default_rng(3)
    h = rng.standard_normal(n).astype(np.float32)
    if act == TANH:
        h = np.tanh(h)
    e = rng.standard_normal(n).astype(np.float32)
    out = np.empty(n, dtype=np.float32)
    activation_backward(h, e, out, act)
    np.testing.assert_allclose(out, activation_backward_ref(h, e, act), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_accumulate_gradient(shape):
    rng = np.random.default_rng(4)
    gW0 = rng.standard_normal(shape).astype(np.float32)
    gb0 = rng.standard_normal(shape[0]).astype(np.float32)
    dz = rng.standard_normal(shape[0]).astype(np.float32)
    x = rng.standard_normal(shape[1]).astype(np.float32)
    gW, gb = gW0.copy(), gb0.copy()
    accumulate_gradient(gW, gb, dz, x)
    outer, gdz = gradient_ref(dz, x)
    # gW + dz*x may be contracted to one FMA, so allow a couple of ulps.
    np.testing.assert_allclose(gW, gW0 + outer, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(gb, gb0 + gdz)


def _loss64(weights, biases, x, label, act):
    """Loss of a 2-layer net from the float64 NumPy oracles."""
    h = dense_forward_ref(weights[0], biases[0], x, act)
    z = dense_forward_ref(weights[1], biases[1], h, IDENTITY)
    return softmax_cross_entropy_ref(z, label)[0]


def _kernel_gradients(weights, biases, x, label, act):
    """Backward pass of a 2-layer net assembled from the kernels."""
    (W1, W2), (b1, b2) = weights, biases
    h = np.empty(W1.shape[0], dtype=x.dtype)
    z = np.empty(W2.shape[0], dtype=x.dtype)
    dense_forward(W1, b1, x, h, act)
    dense_forward(W2, b2, h, z, IDENTITY)
    dz2 = np.empty_like(z)
    softmax_cross_entropy(z, label, dz2)
    e1 = np.empty_like(h)
    delta_to_input(W2, dz2, e1)
    dz1 = np.empty_like(h)
    activation_backward(h, e1, dz1, act)
    grads = [np.zeros_like(p) for p in (W1, b1, W2, b2)]
    accumulate_gradient(grads[0], grads[1], dz1, x)
    accumulate_gradient(grads[2], grads[3], dz2, h)
    return grads


@pytest.mark.parametrize("act", [RELU, TANH])
def test_backward_matches_finite_differences(act):
    # Run in float64 (the kernels are dtype-generic) so central differences
    # with a small step are accurate to ~1e-9 and the check can be tight.
    rng = np.random.default_rng(5)
    n_in, n_hidden, n_classes = 5, 6, 3
    W1 = rng.standard_normal((n_hidden, n_in)) / np.sqrt(n_in)
    b1 = rng.standard_normal(n_hidden) * 0.5
    W2 = rng.standard_normal((n_classes, n_hidden)) / np.sqrt(n_hidden)
    b2 = rng.standard_normal(n_classes) * 0.5
    x = rng.standard_normal(n_in)
    label = 1
    params = [W1, b1, W2, b2]
    grads = _kernel_gradients([W1, W2], [b1, b2], x, label, act)
    eps = 1e-6
    for param, grad in zip(params, grads):
        numeric = np.empty_like(param)
        flat, flat_num = param.reshape(-1), numeric.reshape(-1)
        for k in range(flat.size):
            saved = flat[k]
            flat[k] = saved + eps
            plus = _loss64([W1, W2], [b1, b2], x, label, act)
            flat[k] = saved - eps
            minus = _loss64([W1, W2], [b1, b2], x, label, act)
            flat[k] = saved
            flat_num[k] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 128)])
@pytest.mark.parametrize("update_bias", [True, False])
def test_rank_one_update_matches_oracle(shape, update_bias):
    rng = np.random.default_rng(11)
    n_out, n_in = shape
    W = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    dz = rng.standard_normal(n_out).astype(np.float32)
    x = rng.standard_normal(n_in).astype(np.float32)
    W0, b0 = W.copy(), b.copy()
    rank_one_update(W, b, dz, x, -0.05, update_bias)
    # Not exact: the kernel may contract the multiply-add into an FMA.
    np.testing.assert_allclose(W, W0 - 0.05 * np.outer(dz.astype(np.float64), x), rtol=1e-5, atol=1e-6)
    if update_bias:
        np.testing.assert_allclose(b, b0 - 0.05 * dz.astype(np.float64), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(b, b0)


# The chained kernels must give the bits of their parts called one after the other: the event
# simulator calls them, and its results are pinned bit for bit.
CHAIN_SHAPES = [(1, 1), (3, 2), (7, 13), (13, 7), (64, 128), (128, 128), (784, 256), (256, 10)]


@pytest.mark.parametrize("n_in, n_out", CHAIN_SHAPES)
@pytest.mark.parametrize("act", [RELU, TANH])
def test_dense_backward_is_its_parts_bit_for_bit(n_in, n_out, act):
    from wafersim_kernels.dense import dense_backward

    rng = np.random.default_rng(n_in * 1000 + n_out)
    for _ in range(5):
        W, _ = _layer(rng, n_out, n_in)
        h = np.tanh(rng.standard_normal(n_out)).astype(np.float32)
        if act == RELU:
            h = np.maximum(h, 0)
        e = rng.standard_normal(n_out).astype(np.float32)
        dz, delta = np.empty(n_out, np.float32), np.empty(n_in, np.float32)
        activation_backward(h, e, dz, act)
        delta_to_input(W, dz, delta)
        dz2, delta2 = np.full(n_out, np.nan, np.float32), np.full(n_in, np.nan, np.float32)
        dense_backward(W, h, e, dz2, delta2, act)
        assert dz2.tobytes() == dz.tobytes() and delta2.tobytes() == delta.tobytes()


@pytest.mark.parametrize("n_in, n_out", CHAIN_SHAPES)
def test_dense_forward_loss_is_its_parts_bit_for_bit(n_in, n_out):
    from wafersim_kernels.dense import dense_forward_loss

    rng = np.random.default_rng(n_in * 1000 + n_out)
    for label in range(min(n_out, 3)):
        W, b = _layer(rng, n_out, n_in)
        x = rng.standard_normal(n_in).astype(np.float32)
        z, dz = np.empty(n_out, np.float32), np.empty(n_out, np.float32)
        dense_forward(W, b, x, z, IDENTITY)
        loss = softmax_cross_entropy(z, label, dz)
        z2, dz2 = np.empty(n_out, np.float32), np.empty(n_out, np.float32)
        loss2 = dense_forward_loss(W, b, x, z2, label, dz2)
        assert z2.tobytes() == z.tobytes() and dz2.tobytes() == dz.tobytes()
        assert np.float64(loss2).tobytes() == np.float64(loss).tobytes()


def test_dense_forward_loss_of_non_finite_logits_is_not_finite():
    from wafersim_kernels.dense import dense_forward_loss

    W = np.array([[np.inf, 0.0], [0.0, 1.0]], np.float32)
    loss = dense_forward_loss(W, np.zeros(2, np.float32), np.ones(2, np.float32), np.empty(2, np.float32), 1,
                              np.empty(2, np.float32))
    assert not np.isfinite(loss)
