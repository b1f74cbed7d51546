"""The dense layer: its arithmetic against NumPy, its costs, and a timing twin with the same interface."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from tests.builders import dense_layer

from wafersim_kernels.reference import activation_backward_ref, delta_to_input_ref, dense_forward_ref, softmax_cross_entropy_ref
from wafersim.layers import Dense, DenseShape, Timing, optimizer_state_bytes, param_bytes, update_macs
from wafersim.optimizers import AdamConfig, MomentumConfig, SGDConfig, constant, make_optimizer


def _random_layer(top=False, first=False, builds_gradient=True, rate=0.1):
    rng = np.random.default_rng(3)
    layer = dense_layer(5, 4, rate=rate, first=first, top=top, builds_gradient=builds_gradient)
    layer.W[...] = rng.normal(size=layer.W.shape).astype(np.float32)
    layer.b[...] = rng.normal(size=layer.b.shape).astype(np.float32)
    return layer, rng.normal(size=5).astype(np.float32), rng.normal(size=4).astype(np.float32)


def test_forward_and_backward_match_numpy():
    layer, x, e = _random_layer()
    h = layer.forward(x)
    np.testing.assert_allclose(h, dense_forward_ref(layer.W, layer.b, x, "relu"), rtol=1e-6, atol=1e-6)
    delta = layer.backward(x, h, e, None)
    dz = activation_backward_ref(h, e, "relu")
    np.testing.assert_allclose(delta, delta_to_input_ref(layer.W, dz), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.grads[0], np.outer(dz, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer.grads[1], dz, rtol=1e-6)


def test_top_layer_gives_the_loss_and_its_delta():
    layer, x, _ = _random_layer(top=True)
    dz, loss = layer.forward_loss(x, 2)
    ref_loss, ref_dz = softmax_cross_entropy_ref(dense_forward_ref(layer.W, layer.b, x, "identity"), 2)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    np.testing.assert_allclose(dz, ref_dz, rtol=1e-5, atol=1e-7)
    assert layer.backward(x, dz, None, None) is None or layer.shape.first is False


def test_first_layer_sends_no_delta_and_a_stashed_version_is_used():
    layer, x, e = _random_layer(first=True)
    assert layer.backward(x, layer.forward(x), e, None) is None
    upper, x, e = _random_layer()
    h = upper.forward(x)
    old = upper.stash()
    upper.W[...] = 0
    dz = activation_backward_ref(h, e, "relu")
    np.testing.assert_allclose(upper.backward(x, h, e, old), delta_to_input_ref(old, dz), rtol=1e-5, atol=1e-6)


def test_streamed_update_equals_the_built_gradient_step():
    streamed, x, e = _random_layer(builds_gradient=False)
    built, _, _ = _random_layer(builds_gradient=True)
    for layer in (streamed, built):
        layer.backward(x, layer.forward(x), e, None)
        layer.update(samples=0, count=1)
    np.testing.assert_allclose(streamed.W, built.W, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(streamed.b, built.b, rtol=1e-6, atol=1e-7)
    assert not built.grads[0].any()  # the buffer is cleared by the update


def test_a_stateful_optimizer_cannot_stream():
    adam = make_optimizer(AdamConfig(), constant(0.01))
    shape = DenseShape(3, 2, True, "relu", first=True, top=False)
    with pytest.raises(ValueError, match="must build its gradient"):
        Dense(shape, np.zeros((2, 3), np.float32), np.zeros(2, np.float32), adam, builds_gradient=False)


def test_costs_come_from_the_shape_and_the_optimizer():
    shape = DenseShape(10, 20, True, "relu", first=False, top=False)
    assert shape.param_count == 220 and param_bytes(shape) == 880
    assert shape.forward_macs() == 200
    assert shape.backward_macs(False) == 20 + 200 and shape.backward_macs(True) == 20 + 400
    assert DenseShape(10, 20, False, "relu", first=True, top=False).backward_macs(False) == 20
    assert shape.stash_bytes == 800 and DenseShape(10, 20, True, "relu", True, False).stash_bytes == 0
    momentum = make_optimizer(MomentumConfig(mu=0.9), constant(0.1))
    assert update_macs(shape, momentum) == 2 * 220 and optimizer_state_bytes(shape, momentum) == 880
    assert update_macs(shape, make_optimizer(SGDConfig(), constant(0.1))) == 220


def test_timing_twin_has_every_method_of_the_dense_layer_and_computes_nothing():
    public = {name for name, _ in inspect.getmembers(Dense, callable) if not name.startswith("_")}
    assert public <= {name for name, _ in inspect.getmembers(Timing, callable)}
    twin = dense_layer(arithmetic=False)
    assert isinstance(twin, Timing) and twin.shape.param_count == 8
    assert twin.forward(None) is None and twin.forward_loss(None, 0) == (None, None)
    assert twin.backward(None, None, None, None) is None and twin.read() is None
    assert twin.optimizer_arrays() == {}
