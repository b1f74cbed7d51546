"""Sanity tests for the NumPy reference training loops."""

import numpy as np
import pytest

from wafersim_kernels import mbgd_reference, sgd_reference


def _problem(seed=0, sizes=(8, 16, 4), n_samples=30):
    rng = np.random.default_rng(seed)
    weights = [(rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [(0.1 * rng.standard_normal(n_out)).astype(np.float32) for n_out in sizes[1:]]
    X = rng.standard_normal((n_samples, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], n_samples)
    order = rng.permutation(n_samples)
    return weights, biases, X, y, order


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("use_bias", [True, False])
def test_mbgd_batch_one_equals_sgd(act, momentum, use_bias):
    weights, biases, X, y, order = _problem()
    sw, sb, sl = sgd_reference(weights, biases, X, y, order, 0.05, act, momentum, use_bias)
    mw, mb, ml = mbgd_reference(weights, biases, X, y, order, 1, 0.05, act, momentum, use_bias)
    for a, b in zip(sw + sb, mw + mb):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sl, ml)


def test_inputs_untouched_and_bias_flag():
    weights, biases, X, y, order = _problem()
    saved = [p.copy() for p in weights + biases]
    w, b, losses = sgd_reference(weights, biases, X, y, order, 0.1, "relu", use_bias=False)
    for p, q in zip(weights + biases, saved):
        np.testing.assert_array_equal(p, q)
    for p, q in zip(b, biases):
        np.testing.assert_array_equal(p, q)
    assert all(not np.array_equal(p, q) for p, q in zip(w, weights))
    assert losses.dtype == np.float64 and losses.shape == (len(order),)
    assert all(p.dtype == np.float32 for p in w + b)


def test_mbgd_uses_start_of_batch_weights():
    weights, biases, X, y, order = _problem()
    n = len(order)
    # One full batch: every loss is evaluated at the initial weights.
    _, _, frozen = sgd_reference(weights, biases, X, y, order, 0.0, "tanh")
    w, b, losses = mbgd_reference(weights, biases, X, y, order, n, 0.1, "tanh")
    np.testing.assert_array_equal(losses, frozen)
    # Averaged full-batch step equals the mean of single-sample steps taken
    # separately from the initial weights.
    mean_step = [np.zeros_like(W, dtype=np.float64) for W in weights]
    for idx in order:
        w1, _, _ = sgd_reference(weights, biases, X, y, [idx], 0.1, "tanh")
        for k in range(len(weights)):
            mean_step[k] += (w1[k].astype(np.float64) - weights[k]) / n
    for k in range(len(weights)):
        np.testing.assert_allclose(w[k] - weights[k], mean_step[k], rtol=1e-3, atol=1e-6)


def test_mbgd_ragged_last_batch():
    weights, biases, X, y, order = _problem(n_samples=10)
    w, b, losses = mbgd_reference(weights, biases, X, y, order, 4, 0.1, "relu")
    assert losses.shape == (10,)
    # Batches of 4, 4 and 2 give the same result as running them in sequence.
    w2, b2 = weights, biases
    for chunk in (order[:4], order[4:8], order[8:]):
        w2, b2, _ = mbgd_reference(w2, b2, X, y, chunk, len(chunk), 0.1, "relu")
    for p, q in zip(w + b, w2 + b2):
        np.testing.assert_array_equal(p, q)
