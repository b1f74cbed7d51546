"""Tests for the fused batch-size-1 SGD loop against the NumPy reference."""

import numpy as np
import pytest
from numba.typed import List

from wafersim_kernels import RELU, sgd_reference, train_sgd, train_sgd_fused


def _problem(sizes, n_samples, seed=0):
    rng = np.random.default_rng(seed)
    weights = [(rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [(0.1 * rng.standard_normal(n_out)).astype(np.float32) for n_out in sizes[1:]]
    X = rng.standard_normal((n_samples, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], n_samples)
    order = rng.permutation(np.repeat(np.arange(n_samples), 2))
    return weights, biases, X, y, order


@pytest.mark.parametrize("act", ["relu", "tanh", "identity"])
@pytest.mark.parametrize("sizes", [(8, 16, 4), (7, 13, 5, 3), (5, 3)])
def test_matches_sgd_reference(act, sizes):
    weights, biases, X, y, order = _problem(sizes, 50)
    ref_w, ref_b, ref_losses = sgd_reference(weights, biases, X, y, order, 0.05, act)
    losses = train_sgd(weights, biases, X, y, order, 0.05, act)
    assert losses.dtype == np.float64 and losses.shape == order.shape
    # The fused loop folds -lr into dz before the outer product and uses
    # fastmath sums, so float32 rounding differs slightly from the reference;
    # over 100 steps the drift stays far below these tolerances.
    for got, want in zip(weights + biases, ref_w + ref_b):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-6)


def test_jit_function_with_typed_lists():
    weights, biases, X, y, order = _problem((8, 16, 4), 20)
    ref_w, ref_b, ref_losses = sgd_reference(weights, biases, X, y, order, 0.1, "relu")
    tw, tb = List(weights), List(biases)
    losses = train_sgd_fused(tw, tb, X, y, order.astype(np.int64), 0.1, RELU)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-6)
    # Typed lists hold references, so the original arrays were updated.
    for got, want in zip(weights + biases, ref_w + ref_b):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_non_finite_weights_give_non_finite_losses():
    weights, biases, X, y, order = _problem((8, 16, 4), 10)
    weights[0][3, 2] = np.nan
    losses = train_sgd(weights, biases, X, y, order, 0.1, "relu")
    assert not np.any(np.isfinite(losses))


def test_wrapper_validates_inputs():
    weights, biases, X, y, order = _problem((8, 16, 4), 10)
    with pytest.raises(TypeError):
        train_sgd([w.astype(np.float64) for w in weights], biases, X, y, order, 0.1, "relu")
    with pytest.raises(ValueError):
        train_sgd(weights[::-1], biases[::-1], X, y, order, 0.1, "relu")
    with pytest.raises(ValueError):
        train_sgd(weights, biases, X, y + 4, order, 0.1, "relu")
    with pytest.raises(ValueError):
        train_sgd(weights, biases, X, y, order, 0.1, "softplus")
