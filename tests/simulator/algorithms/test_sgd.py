"""SGD on the simulator: the NumPy reference loop, one busy PE at a time, cycles in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from wafersim_kernels.reference import sgd_reference
from wafersim.runner import run
from tests.builders import make, scenario_dict
from tests.simulator.algorithms.test_cp import C, DELAY, _reference_inputs


@pytest.mark.parametrize("momentum", [0.0, 0.5])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_sgd_equals_numpy_reference(momentum, activation):
    # Same initial weights, same data order; equal to float32 rounding (the kernels'
    # fastmath sums are reordered relative to NumPy's).
    data = scenario_dict(layers=(8, 12, 6, 4), algorithm="sgd", samples=60, momentum=momentum)
    data["model"]["activation"] = activation
    scenario = make(data)
    result = run(scenario, progress=False)
    weights, biases, dataset, order = _reference_inputs(scenario)
    ref_W, ref_b, _ = sgd_reference(weights, biases, dataset.X_train, dataset.y_train, order, 0.05,
                                    activation, momentum=momentum)
    for k in range(3):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], ref_W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], ref_b[k], rtol=1e-5, atol=1e-6)


def test_sgd_without_bias_leaves_biases_at_zero():
    data = scenario_dict(layers=(8, 8, 4), algorithm="sgd", samples=20)
    data["model"]["bias"] = False
    result = run(make(data), progress=False)
    assert not result.weights["b1"].any() and not result.weights["b2"].any()
    assert not np.array_equal(result.weights["W1"], result.weights["W1_init"])


def test_only_one_pe_computes_at_any_time():
    # Forward and backward ops never overlap anywhere on the chip. A layer's update
    # overlaps only the backward of the layer below, which does not need it.
    result = run(make(scenario_dict(algorithm="sgd", samples=15)), progress=False)
    ops = result.ops
    work = ops["kind"] != 2
    order = np.argsort(ops["start"][work], kind="stable")
    starts, ends = ops["start"][work][order], ops["end"][work][order]
    assert np.all(starts[1:] >= ends[:-1])
    for i in np.flatnonzero(ops["kind"] == 2):
        overlapping = (ops["start"] < ops["end"][i]) & (ops["end"] > ops["start"][i])
        overlapping[i] = False
        for j in np.flatnonzero(overlapping):
            assert ops["kind"][j] == 1 and ops["layer"][j] == ops["layer"][i] - 1


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_cycles_per_sample_closed_form(depth):
    # One sample at a time: D forwards and D-1 messages up, then the top's B, D-1
    # messages and B's down, then layer 1's U (the other U's overlap the walk down);
    # the next input is already waiting. Period = 2DC + 2(D-1)DELAY + C, after the
    # first input's DELAY.
    n = 12
    result = run(make(scenario_dict(layers=tuple([6] * depth + [3]), algorithm="sgd", samples=n)), progress=False)
    period = 2 * depth * C + 2 * (depth - 1) * DELAY + C
    assert result.metrics["total_cycles"] == DELAY + n * period
