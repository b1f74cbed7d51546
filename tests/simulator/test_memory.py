"""SRAM bounds per layer: weights, buffers, optimizer state, activations in flight, stashed weights."""

from __future__ import annotations

from wafersim.algorithms import SGD, ContinuousPropagation, MinibatchGD
from wafersim.layers import DenseShape
from wafersim.memory import layer_memory
from wafersim.optimizers import AdamConfig, MomentumConfig, SGDConfig, constant, make_optimizer

SGD_OPT = make_optimizer(SGDConfig(), constant(0.1))
MOMENTUM = make_optimizer(MomentumConfig(mu=0.9), constant(0.1))


def _shape(k, n_in=10, n_out=20, bias=True):
    return DenseShape(n_in, n_out, bias, "relu", first=k == 1, top=False)


def test_cp_bound_from_windows():
    cp = ContinuousPropagation(n_layers=3, n_samples=100)
    # Layer 2 of 3: window 3; inputs bounded by layer 1's window 5.
    mem = layer_memory(cp, 2, _shape(2), SGD_OPT)
    assert mem.weights == (10 * 20 + 20) * 4
    assert mem.gradient_buffer == 0 and mem.optimizer_state == 0 and mem.weight_stash == 0
    assert mem.activations == (5 * 10 + 3 * 20) * 4
    first = layer_memory(cp, 1, _shape(1, bias=False), MOMENTUM)
    assert first.activations == ((5 + 1) * 10 + 5 * 20) * 4
    assert first.optimizer_state == first.weights == 10 * 20 * 4
    # A stateful optimizer cannot stream the rank-one update: the layer builds its gradient.
    assert first.gradient_buffer == first.weights


def test_optimizer_state_is_the_optimizers_own_figure():
    adam = make_optimizer(AdamConfig(), constant(1e-3))
    mem = layer_memory(MinibatchGD(2, 100, 8), 2, _shape(2), adam)
    assert mem.optimizer_state == 2 * mem.weights  # m and v
    assert "optimizer state" in mem.describe()


def test_anchored_rule_adds_one_weight_copy_per_window_slot_above_layer_one():
    cp = ContinuousPropagation(n_layers=3, n_samples=100, delta_rule="anchored")
    assert layer_memory(cp, 1, _shape(1), SGD_OPT).weight_stash == 0
    assert layer_memory(cp, 2, _shape(2), SGD_OPT).weight_stash == 3 * 10 * 20 * 4


def test_mbgd_keeps_a_gradient_buffer_and_a_batch_of_activations():
    mbgd = MinibatchGD(n_layers=2, n_samples=100, batch_size=8)
    mem = layer_memory(mbgd, 2, _shape(2), SGD_OPT)
    assert mem.gradient_buffer == mem.weights
    assert mem.activations == (8 * 10 + 8 * 20) * 4
    assert layer_memory(SGD(2, 100), 2, _shape(2), SGD_OPT).gradient_buffer == 0
    assert mem.total == mem.weights * 2 + mem.activations
    assert "gradient buffer" in mem.describe()
