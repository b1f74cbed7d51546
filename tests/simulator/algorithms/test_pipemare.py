"""PipeMare: PipeDream's timing without stashing, its two corrections as update rules, their costs and keys."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml
from tests.builders import UNIFORM_HARDWARE, make, reference_inputs, scenario_dict

from wafersim.config import ConfigError, load_scenario
from wafersim.runner import run
from wafersim_kernels.reference_pipeline import pipemare_reference, stale_reference

N = 40


def scenario(K: int, hop: int = 0, hardware=None, samples: int = N, algorithm: str = "pipemare", **options):
    hw = copy.deepcopy(hardware or UNIFORM_HARDWARE)
    hw["noc"]["hop_latency_cycles"] = hop
    return make(scenario_dict(layers=tuple([6] * K + [3]), algorithm=algorithm, samples=samples, dataset_samples=80,
                              hardware=hw, **options))


def assert_close(result, reference, K: int) -> None:
    W, b, _ = reference
    for k in range(K):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], W[k], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], b[k], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("K", [1, 2, 3, 5])
def test_pipemare_has_pipedreams_timing_without_its_stash(K):
    """Same op order and windows as PipeDream, so the same cycles and staleness (0..K-k-1 once, then
    K-k), but no weight version kept; with neither correction it is PipeDream's step model on the
    current weights: W_k <- W_k - lr grad(forward on W_k K-k updates old, backward on the current W_k)."""
    s = scenario(K)
    mare, dream = run(s, progress=False), run(scenario(K, algorithm="pipedream"), progress=False)
    assert mare.metrics["total_cycles"] == dream.metrics["total_cycles"]
    for m, d in zip(mare.metrics["layers"], dream.metrics["layers"]):
        assert m["staleness"] == d["staleness"] and m["max_in_flight"] == d["max_in_flight"] == K - m["layer"] + 1
        assert m["sram_bound"]["weight_stash"] == 0
    W0, b0, data, order = reference_inputs(s)
    reference = stale_reference(W0, b0, data.X_train, data.y_train, order, 0.05, "relu",
                                [K - k for k in range(1, K + 1)], anchored=False)
    assert_close(mare, reference, K)


@pytest.mark.parametrize("rescheduling, correction", [(25, False), (0, True), (25, True), (0, False)])
@pytest.mark.parametrize("hop", [0, 3])
@pytest.mark.parametrize("K", [2, 3, 4])
def test_each_correction_is_its_update_rule(rescheduling, correction, hop, K):
    """T1 (step lr tau^-p, annealed over T samples) and T2 (backward on W - (K-k) delta) against the
    loop of `pipemare_reference`, to float32 rounding."""
    s = scenario(K, hop, lr_rescheduling_samples=rescheduling, discrepancy_correction=correction,
                 discrepancy_decay=0.8)
    result = run(s, progress=False)
    W0, b0, data, order = reference_inputs(s)
    assert_close(result, pipemare_reference(W0, b0, data.X_train, data.y_train, order, 0.05, "relu", rescheduling,
                                            correction, 0.8), K)


def test_discrepancy_correction_costs_and_sram():
    """T2 on 1 < k < K: B forms u (a multiply-add per weight), U takes the change and averages it in
    (three per weight), and delta and u are kept (two W); layer 1 and the top are plain."""
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["pe"].update(macs_per_cycle=7, op_overhead_cycles=3)
    plain = run(scenario(4, hardware=hw, samples=10), progress=False)
    corrected = run(scenario(4, hardware=hw, samples=10, discrepancy_correction=True), progress=False)
    for p, c in zip(plain.metrics["layers"], corrected.metrics["layers"]):
        k, weights = c["layer"], c["n_in"] * c["n_out"]
        B_macs = c["n_out"] + (weights if k > 1 else 0)
        U_macs = c["parameters"]  # plain SGD streams its step: one multiply-add per parameter
        assert p["op_cycles"]["B"] == math.ceil(B_macs / 7) + 3
        if 1 < k < 4:
            assert c["op_cycles"]["B"] == math.ceil((B_macs + weights) / 7) + 3
            assert c["op_cycles"]["U"] == math.ceil((U_macs + 3 * weights) / 7) + 3
            assert c["sram_bound"]["weight_stash"] == 2 * weights * 4
        else:
            assert c["op_cycles"] == p["op_cycles"] and c["sram_bound"] == p["sram_bound"]
        assert c["peak_sram_bytes"] <= c["sram_bound_bytes"]


def test_timing_only_pipemare_runs_the_same_ops():
    s = scenario(3, lr_rescheduling_samples=10, discrepancy_correction=True)
    timed = run(s.model_copy(update={"timing_only": True}), progress=False)
    full = run(s, progress=False)
    assert timed.metrics["total_cycles"] == full.metrics["total_cycles"]
    for t, f in zip(timed.metrics["layers"], full.metrics["layers"]):
        assert t["peak_sram_bytes"] == f["peak_sram_bytes"]


def refused(tmp_path, algorithm: str, **training) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_dict(layers=(6, 6, 3), algorithm=algorithm, samples=10, **training)))
    with pytest.raises(ConfigError) as err:
        load_scenario(path, [])
    return str(err.value)


def test_the_keys_belong_to_pipemare(tmp_path):
    assert "training.discrepancy_correction" in refused(tmp_path, "pipedream", discrepancy_correction=True)
    assert "training.discrepancy_decay" in refused(tmp_path, "pipemare", discrepancy_decay=1.0)
    assert "training.lr_rescheduling_samples" in refused(tmp_path, "pipemare", lr_rescheduling_samples=-1)
