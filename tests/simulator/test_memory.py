"""SRAM bounds per layer: weights, buffers, activations in flight, stashed weights."""

from __future__ import annotations

from simulator.algorithms import SGD, ContinuousPropagation, MinibatchGD
from simulator.memory import layer_memory


def test_cp_bound_from_windows():
    cp = ContinuousPropagation(n_layers=3, n_samples=100)
    # Layer 2 of 3: window 3; inputs bounded by layer 1's window 5.
    mem = layer_memory(cp, 2, n_in=10, n_out=20, bias=True, momentum=False)
    assert mem.weights == (10 * 20 + 20) * 4
    assert mem.gradient_buffer == 0 and mem.momentum_buffer == 0 and mem.weight_stash == 0
    assert mem.activations == (5 * 10 + 3 * 20) * 4
    first = layer_memory(cp, 1, n_in=10, n_out=20, bias=False, momentum=True)
    assert first.activations == ((5 + 1) * 10 + 5 * 20) * 4
    assert first.momentum_buffer == first.weights == 10 * 20 * 4


def test_anchored_rule_adds_one_weight_copy_per_window_slot_above_layer_one():
    cp = ContinuousPropagation(n_layers=3, n_samples=100, delta_rule="anchored")
    assert layer_memory(cp, 1, 10, 20, True, False).weight_stash == 0
    assert layer_memory(cp, 2, 10, 20, True, False).weight_stash == 3 * 10 * 20 * 4


def test_mbgd_keeps_a_gradient_buffer_and_a_batch_of_activations():
    mbgd = MinibatchGD(n_layers=2, n_samples=100, batch_size=8)
    mem = layer_memory(mbgd, 2, 10, 20, True, False)
    assert mem.gradient_buffer == mem.weights
    assert mem.activations == (8 * 10 + 8 * 20) * 4
    assert layer_memory(SGD(2, 100), 2, 10, 20, True, False).gradient_buffer == 0
    assert mem.total == mem.weights * 2 + mem.activations
    assert "gradient buffer" in mem.describe()
