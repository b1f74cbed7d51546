"""CP with spike compensation and linear weight prediction: their update rules, costs, SRAM and errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml
from tests.builders import UNIFORM_HARDWARE, assert_resumes_seamlessly, make, reference_inputs, scenario_dict

from wafersim.config import ConfigError, load_scenario
from wafersim.runner import run
from wafersim_kernels.reference_pipeline import corrected_reference

MU = 0.9


def scenario(K: int = 3, samples: int = 40, hop: int = 0, hardware=None, rule: str = "immediate", mu: float = MU,
             **corrections):
    hw = copy.deepcopy(hardware or UNIFORM_HARDWARE)
    hw["noc"]["hop_latency_cycles"] = hop
    return make(scenario_dict(layers=tuple([6] * K + [3]), algorithm="cp", samples=samples, dataset_samples=80,
                              hardware=hw, delta_rule=rule, optimizer={"name": "momentum", "mu": mu}, **corrections))


def reference(s, spike: bool, predict: bool):
    D = len(s.model.layers) - 1
    W0, b0, data, order = reference_inputs(s)
    return corrected_reference(W0, b0, data.X_train, data.y_train, order, s.training.learning_rate, "relu", MU,
                               [2 * (D - k) for k in range(1, D + 1)], spike, predict,
                               s.training.delta_rule == "anchored")


@pytest.mark.parametrize("spike, predict", [(True, False), (False, True), (True, True), (False, False)])
@pytest.mark.parametrize("hop", [0, 3])
@pytest.mark.parametrize("K", [1, 3, 4])
def test_each_correction_is_its_update_rule_on_the_step_model(spike, predict, hop, K):
    """CP's forwards read the weights 2(D-k) updates old on uniform ops, so the run is the step
    model with momentum, spike-compensated and/or forwarding on the predicted weights, to float32
    rounding (the same loop with neither is plain momentum CP)."""
    s = scenario(K, hop=hop, spike_compensation=spike, weight_prediction=predict)
    result = run(s, progress=False)
    W, b, losses = reference(s, spike, predict)
    for k in range(K):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], W[k], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], b[k], rtol=2e-5, atol=2e-6)


def test_spike_compensation_with_the_anchored_rule_is_its_update_rule():
    s = scenario(3, rule="anchored", spike_compensation=True)
    W, b, _ = reference(s, True, False)
    result = run(s, progress=False)
    for k in range(3):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], W[k], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("mu, K", [(0.0, 3), (MU, 1)])
def test_no_delay_or_no_momentum_compensates_nothing_bitwise(mu, K):
    """a = mu^0 = 1, b = 0 on the top layer (no delay), and a = 0, b = 1 with mu = 0: the step is
    momentum's own, bit for bit."""
    plain = run(scenario(K, mu=mu), progress=False)
    spiked = run(scenario(K, mu=mu, spike_compensation=True), progress=False)
    for name in plain.weights:
        twin = name.replace("/momentum/", "/spike_compensation/")  # the velocity, under its transform's name
        assert np.array_equal(spiked.weights[twin], plain.weights[name]), name


def test_spike_compensation_costs_and_facts():
    """Its update: 3 MACs per parameter for the compensated momentum, 1 to apply the step; 1 float of state."""
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["pe"].update(macs_per_cycle=7, op_overhead_cycles=3)
    result = run(scenario(3, samples=10, hardware=hw, spike_compensation=True), progress=False)
    for layer in result.metrics["layers"]:
        assert layer["op_cycles"]["U"] == math.ceil(4 * layer["parameters"] / 7) + 3
        assert layer["sram_bound"]["optimizer_state"] == layer["parameters"] * 4
    assert result.metrics["optimizer"]["update_macs_per_parameter"] == 4


def test_weight_prediction_costs_cycles_and_sram_below_the_top():
    """Predicting costs a multiply-add per parameter in F and a subtraction per parameter in U, and
    two buffers of W and b (the last step and the predicted weights); the top layer (no delay) predicts nothing."""
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["pe"].update(macs_per_cycle=7, op_overhead_cycles=3)
    plain = run(scenario(3, samples=10, hardware=hw), progress=False)
    predicted = run(scenario(3, samples=10, hardware=hw, weight_prediction=True), progress=False)
    for p, r in zip(plain.metrics["layers"], predicted.metrics["layers"]):
        params, top = r["parameters"], r["layer"] == 3
        forward_macs = r["n_in"] * r["n_out"]
        assert r["op_cycles"]["F"] == math.ceil((forward_macs + (0 if top else params)) / 7) + 3
        assert r["op_cycles"]["U"] == math.ceil((2 * params + (0 if top else params)) / 7) + 3
        assert r["sram_bound"]["weight_stash"] == (0 if top else 2 * params * 4)
        assert r["sram_bound_bytes"] == p["sram_bound_bytes"] + r["sram_bound"]["weight_stash"]
        assert r["peak_sram_bytes"] <= r["sram_bound_bytes"]


def test_the_corrections_run_on_the_event_engine_and_say_why():
    result = run(scenario(2, samples=8, spike_compensation=True), progress=False)
    assert result.metrics["engine"] == {
        "requested": "auto", "used": "events",
        "why": "cp with training.spike_compensation or weight_prediction: the compiled engine replays plain "
               "optimizer steps on the current weights"}


def refused(tmp_path, **training) -> str:
    data = scenario_dict(layers=(6, 6, 3), algorithm=training.pop("algorithm", "cp"), samples=10, **training)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_scenario(path, [])
    return str(err.value)


def test_spike_compensation_needs_momentum(tmp_path):
    message = refused(tmp_path, spike_compensation=True, optimizer="adam")
    assert "training.spike_compensation rescales heavy-ball momentum's steps, and the optimizer is adam" in message
    assert "training.momentum: 0.9" in message


def test_weight_prediction_needs_the_immediate_rule(tmp_path):
    message = refused(tmp_path, weight_prediction=True, delta_rule="anchored")
    assert "training.weight_prediction predicts the weights the backward will meet" in message
    assert "delta_rule: immediate" in message


def test_the_corrections_do_not_combine_with_reverse_checkpointing(tmp_path):
    message = refused(tmp_path, weight_prediction=True, reverse_checkpoint={"every": 1})
    assert "drop reverse_checkpoint" in message


def test_the_corrections_are_keys_of_cp_alone(tmp_path):
    assert "training.spike_compensation" in refused(tmp_path, algorithm="sgd", spike_compensation=True,
                                                    momentum=0.9)


def test_a_resumed_corrected_run_equals_the_uninterrupted_one(tmp_path, monkeypatch):
    """The last steps, the compensated velocities and the predictions in flight are part of the checkpoint."""
    s = scenario(3, samples=40, spike_compensation=True, weight_prediction=True)
    assert_resumes_seamlessly(s, tmp_path, monkeypatch)
