"""MBGD: weights independent of timing, equal to the reference loop; cycles and utilization in closed form."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from wafersim_kernels.reference import mbgd_reference
from wafersim.runner import run
from tests.builders import UNIFORM_HARDWARE, make, scenario_dict
from tests.simulator.algorithms.test_cp import C, DELAY, _reference_inputs

SMALL_MESH = {
    "name": "small-mesh", "clock_hz": 1.0e9, "mesh": {"rows": 4, "cols": 4},
    "pe": {"macs_per_cycle": 64, "sram_bytes": 1048576, "op_overhead_cycles": 4},
    "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 16, "contention": True},
}


def _variant(**changes):
    hw = copy.deepcopy(SMALL_MESH)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        hw[section][key] = value
    return hw


TIMINGS = {
    "hop latency 1": _variant(),
    "hop latency 9": _variant(noc__hop_latency_cycles=9),
    "no contention": _variant(noc__contention=False),
    "narrow links": _variant(noc__link_bytes_per_cycle=1),
    "slow PEs": _variant(pe__macs_per_cycle=3, pe__op_overhead_cycles=50),
    "uniform": UNIFORM_HARDWARE,
}


def _mbgd(hardware, placement="snake", **training):
    data = scenario_dict(layers=(8, 12, 6, 4), algorithm="mbgd", samples=45, hardware=hardware,
                         batch_size=4, momentum=0.5, **training)
    data["placement"] = placement
    return run(make(data), progress=False)


def test_weights_do_not_depend_on_timing():
    baseline = _mbgd(TIMINGS["hop latency 1"])
    cycles = {baseline.metrics["total_cycles"]}
    for name, hardware in TIMINGS.items():
        for placement in ("snake", "row", [[3, 3], [0, 0], [2, 1]]):
            other = _mbgd(hardware, placement)
            cycles.add(other.metrics["total_cycles"])
            for key, value in baseline.weights.items():
                np.testing.assert_array_equal(other.weights[key], value, err_msg=f"{key} with {name}, {placement}")
    assert len(cycles) > 5  # the timings really differ


def test_mbgd_equals_reference_loop():
    # 45 samples in batches of 4: the last batch has one sample. Equal to float32
    # rounding: the reference divides the summed gradient the same way but sums with NumPy.
    result = _mbgd(TIMINGS["hop latency 1"])
    scenario = make(scenario_dict(layers=(8, 12, 6, 4), algorithm="mbgd", samples=45, batch_size=4, momentum=0.5))
    weights, biases, data, order = _reference_inputs(scenario)
    ref_W, ref_b, _ = mbgd_reference(weights, biases, data.X_train, data.y_train, order, 4, 0.05, "relu", momentum=0.5)
    for k in range(3):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], ref_W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], ref_b[k], rtol=1e-5, atol=1e-6)
    for layer in result.metrics["layers"]:
        assert layer["updates"] == 12
        assert layer["staleness"]["histogram"] == {"0": 12}


def test_batch_of_one_is_sgd():
    mbgd = run(make(scenario_dict(algorithm="mbgd", batch_size=1, samples=20)), progress=False)
    sgd = run(make(scenario_dict(algorithm="sgd", samples=20)), progress=False)
    for key, value in sgd.weights.items():
        np.testing.assert_array_equal(mbgd.weights[key], value)
    assert mbgd.metrics["total_cycles"] == sgd.metrics["total_cycles"]


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("batch", [1, 3, 8])
def test_cycles_and_utilization_closed_form(depth, batch):
    # Uniform ops of C cycles, DELAY cycles per message, batches of B, M batches.
    # Batch m starts when layer 1 has applied update m-1 (its input is already waiting).
    # Forward wave: layer k forwards sample i at (k-1)(C+DELAY) + (i-1)C, back to back,
    # because each input arrives exactly as the previous forward ends (forwards go first).
    # The top layer starts its B's after its last F, at (D-1)(C+DELAY) + BC; the backward
    # wave reaches layer k (D-k)(C+DELAY) later and runs B back-to-back B's; layer 1
    # then applies its U. So one batch takes
    #     P = 2(D-1)(C+DELAY) + 2BC + C,
    # the run T = DELAY + M P, and each layer is busy M(2B+1)C cycles.
    n_batches = 4
    data = scenario_dict(layers=tuple([6] * depth + [3]), algorithm="mbgd", batch_size=batch,
                         samples=n_batches * batch, dataset_samples=80)
    metrics = run(make(data), progress=False).metrics
    period = 2 * (depth - 1) * (C + DELAY) + 2 * batch * C + C
    total = DELAY + n_batches * period
    assert metrics["total_cycles"] == total
    busy = n_batches * (2 * batch + 1) * C
    for layer in metrics["layers"]:
        assert layer["utilization"] == busy / total
        assert layer["max_in_flight"] == batch
