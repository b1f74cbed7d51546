"""The synthetic-gradient module M_k: its arithmetic against the NumPy reference, its costs, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest

from wafersim.layers.synthetic import Synthetic, SyntheticShape, one_hot_input, synthetic_bytes
from wafersim.optimizers import AdamConfig, SGDConfig, constant, make_optimizer
from wafersim_kernels.reference_dni import sg_forward, sg_step


def module(hidden=(6,), classes=0, rate=0.05, config=None, seed=1):
    shape = SyntheticShape(8, classes, tuple(hidden))
    return Synthetic(shape, make_optimizer(config or SGDConfig(), constant(rate)), np.random.default_rng(seed))


def reference_params(m: Synthetic):
    return [[layer.W.copy(), layer.b.copy()] for layer in m.layers]


def test_the_output_layer_starts_at_zero_so_every_first_prediction_is_zero():
    m = module(hidden=(6, 5))
    assert not np.any(m.layers[-1].W) and not np.any(m.layers[-1].b) and np.any(m.layers[0].W)
    h = np.random.default_rng(0).normal(size=8).astype(np.float32)
    assert np.array_equal(m.predict(h, -1), np.zeros(8, dtype=np.float32))


@pytest.mark.parametrize("hidden, classes", [((), 0), ((6,), 0), ((6, 5), 3), ((), 3)])
def test_predict_and_train_match_the_reference(hidden, classes):
    m = module(hidden=hidden, classes=classes)
    rng = np.random.default_rng(7)
    for layer in m.layers:  # a module that has learnt something, so that every path carries numbers
        layer.W[...] = rng.normal(scale=0.3, size=layer.W.shape).astype(np.float32)
        layer.b[...] = rng.normal(scale=0.3, size=layer.b.shape).astype(np.float32)
    params = reference_params(m)
    for step in range(5):
        h = rng.normal(size=8).astype(np.float32)
        label, target = int(rng.integers(3)), rng.normal(size=8).astype(np.float32)
        u = one_hot_input(h, label, classes)
        np.testing.assert_allclose(m.predict(h, label), sg_forward(params, u)[-1], rtol=1e-5, atol=1e-6)
        loss = m.train(h, label, target)
        assert loss == pytest.approx(sg_step(params, u, target, 0.05), rel=1e-5)
        for layer, (W, b) in zip(m.layers, params):
            np.testing.assert_allclose(layer.W, W, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(layer.b, b, rtol=1e-5, atol=1e-6)
    assert m.updates == 5


@pytest.mark.parametrize("hidden", [(), (16,)])
def test_training_reduces_the_loss_on_a_fixed_task(hidden):
    """Targets t = A h of a fixed linear map: the module's regression loss falls by far."""
    rng = np.random.default_rng(0)
    A = rng.normal(scale=0.3, size=(8, 8)).astype(np.float32)
    inputs = rng.normal(size=(64, 8)).astype(np.float32)
    m = module(hidden=hidden, rate=0.02)

    def loss() -> float:
        return float(np.mean([0.5 * np.sum((m.predict(h, -1) - A @ h) ** 2) for h in inputs]))

    before = loss()
    for _ in range(30):
        for h in inputs:
            m.train(h, -1, A @ h)
    assert loss() < 0.05 * before


def test_costs_and_bytes():
    shape = SyntheticShape(8, 4, (6,))
    assert shape.describe() == "12->6->8" and shape.param_count == 12 * 6 + 6 + 6 * 8 + 8
    assert shape.predict_macs() == 12 * 6 + 6 * 8
    adam = make_optimizer(AdamConfig(), constant(1e-3))
    # T: forward again; backward (dz and outer product per layer, W^T dz above the first); the optimizer's step
    backward = (6 + 12 * 6) + (8 + 6 * 8 + 6 * 8)
    assert shape.train_macs(adam) == shape.predict_macs() + backward + shape.param_count * adam.macs_per_param
    assert synthetic_bytes(shape, adam) == shape.param_count * (2 + adam.state_per_param) * 4
