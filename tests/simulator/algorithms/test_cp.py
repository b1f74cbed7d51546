"""Continuous propagation: the paper's step model, in-flight counts, staleness, utilization, D = 1."""

from __future__ import annotations

import numpy as np
import pytest
from tests.builders import UNIFORM_HARDWARE, make, scenario_dict

from wafersim_kernels.reference import cp_reference
from wafersim.runner import run, sample_order
from wafersim.training.data import load_dataset
from wafersim.training.model import init_params

C = 5  # cycles per op on the uniform hardware: ceil(MACs / 10**6) + 4
DELAY = 1  # cycles per message between neighbours (and from the port): 0 * hops + ceil(bytes / 10**6)


def _reference_inputs(scenario):
    m, t = scenario.model, scenario.training
    data = load_dataset("synthetic", None, scenario.dataset.test_fraction, t.seed,
                        n_features=m.layers[0], n_classes=m.layers[-1], samples=scenario.dataset.samples)
    weights, biases = init_params(m, t.seed)
    return weights, biases, data, sample_order(len(data.y_train), t.samples, t.seed)


@pytest.mark.parametrize("delta_rule", ["immediate", "anchored"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_cp_equals_the_step_model_of_algorithm_1(delta_rule, momentum):
    # With uniform ops the event-driven run does, at each layer, the same sequence of
    # F, B and U as the synchronous step model, so every weight and every staleness
    # value agrees; weights to float32 rounding because the kernels' sums are reordered
    # (fastmath) while the reference uses NumPy's.
    scenario = make(scenario_dict(layers=(8, 8, 8, 4), samples=40, delta_rule=delta_rule, momentum=momentum))
    result = run(scenario, progress=False)
    weights, biases, data, order = _reference_inputs(scenario)
    ref_W, ref_b, ref_losses, ref_staleness = cp_reference(
        weights, biases, data.X_train, data.y_train, order, 0.05, "relu",
        anchored=delta_rule == "anchored", momentum=momentum)
    for k in range(3):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], ref_W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], ref_b[k], rtol=1e-5, atol=1e-6)
        counts = {str(v): ref_staleness[k].count(v) for v in sorted(set(ref_staleness[k]))}
        assert result.metrics["layers"][k]["staleness"]["histogram"] == counts


def test_anchored_and_immediate_rules_train_differently():
    immediate = run(make(scenario_dict(samples=40)), progress=False)
    anchored = run(make(scenario_dict(samples=40, delta_rule="anchored")), progress=False)
    # The first layer's gradient never uses W^T, but layer 1 sees the deltas of layer 2,
    # which do; so every layer below the top differs, and the top does not.
    assert not np.array_equal(immediate.weights["W1"], anchored.weights["W1"])
    assert not np.array_equal(immediate.weights["W2"], anchored.weights["W2"])


@pytest.mark.parametrize("depth", [1, 2, 4, 6])
def test_in_flight_and_staleness_per_layer(depth):
    # Step model: layer k forwards sample s at step s+k-1 and back-propagates it at step
    # s+2D-k-1, so it holds 2(D-k)+1 samples (D^2 in all) and each update is 2(D-k)
    # versions stale once the pipeline is full; the first 2(D-k) updates are 0, 1, ...
    n = 30
    result = run(make(scenario_dict(layers=tuple([6] * depth + [3]), samples=n, dataset_samples=60)), progress=False)
    layers = result.metrics["layers"]
    assert [layer["max_in_flight"] for layer in layers] == [2 * (depth - k) + 1 for k in range(1, depth + 1)]
    assert sum(layer["max_in_flight"] for layer in layers) == depth ** 2
    for k, layer in enumerate(layers, start=1):
        lag = 2 * (depth - k)
        expected = {str(v): 1 for v in range(lag)}
        expected[str(lag)] = n - lag
        assert layer["staleness"]["histogram"] == expected


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [20, 80])
def test_cycles_and_utilization_closed_form(depth, n):
    # Uniform ops of C cycles, DELAY cycles per message. Sample 0 reaches the top layer
    # at DELAY + (D-1)(C+DELAY); from then on the top runs F, B, U of each sample back
    # to back (window 1, the next input always waiting), ending 3CN later. The last
    # delta leaves the top after its B, one C before that end, and each lower layer
    # adds DELAY + B + U: C + DELAY per layer. So
    #     T = DELAY + 2(D-1)(C+DELAY) + 3CN,
    # every layer is busy 3CN cycles, and utilization 3CN / T tends to 1 as N grows.
    result = run(make(scenario_dict(layers=tuple([6] * depth + [3]), samples=n, dataset_samples=120)),
                 progress=False)
    total = DELAY + 2 * (depth - 1) * (C + DELAY) + 3 * C * n
    assert result.metrics["total_cycles"] == total
    for pe in result.metrics["pe_utilization"]:
        if pe["layer"] is not None:
            assert pe["busy_cycles"] == 3 * C * n
            assert pe["utilization"] == 3 * C * n / total


def test_utilization_tends_to_one():
    utils = [run(make(scenario_dict(layers=(6, 6, 6, 6, 3), samples=n, dataset_samples=400)),
                 progress=False).metrics["mean_utilization"] for n in (10, 100, 300)]
    assert utils[0] < utils[1] < utils[2]
    assert 1 - utils[2] == pytest.approx((DELAY + 6 * (C + DELAY)) / (DELAY + 6 * (C + DELAY) + 15 * 300))


def test_cp_with_one_layer_is_sgd():
    cp = run(make(scenario_dict(layers=(8, 4), algorithm="cp", samples=30)), progress=False)
    sgd = run(make(scenario_dict(layers=(8, 4), algorithm="sgd", samples=30)), progress=False)
    for name in ("W1", "b1"):
        np.testing.assert_array_equal(cp.weights[name], sgd.weights[name])
    for column in ("kind", "sample", "start", "end"):
        np.testing.assert_array_equal(cp.ops[column], sgd.ops[column])


def test_window_slack_lets_layers_hold_more():
    hardware = {**UNIFORM_HARDWARE, "noc": {**UNIFORM_HARDWARE["noc"], "hop_latency_cycles": 20}}
    tight = run(make(scenario_dict(samples=40, hardware=hardware)), progress=False).metrics
    loose = run(make(scenario_dict(samples=40, hardware=hardware, in_flight_slack=4)), progress=False).metrics
    # Long links stretch the round trip past what 2(D-k)+1 samples cover; slack hides it.
    assert [layer["in_flight_window"] for layer in loose["layers"]] == [9, 7, 5]
    assert loose["total_cycles"] < tight["total_cycles"]
    assert loose["mean_utilization"] > tight["mean_utilization"]
