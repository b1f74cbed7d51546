"""CP's reverse checkpointing: equal to plain CP with stashed weights, its reference with either, its cycles and SRAM."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.builders import (UNIFORM_HARDWARE, assert_resumes_seamlessly, make, random_hardware, reference_inputs,
                            scenario_dict)

from wafersim.config import ConfigError, load_scenario
from wafersim.records import KINDS
from wafersim.runner import run
from wafersim_kernels.reference_checkpoint import checkpoint_reference

C = 5  # cycles per op on the uniform hardware


def scenario(K: int = 5, samples: int = 30, hardware=None, rule: str = "anchored", widths=None, **rc):
    training = {"delta_rule": rule}
    if rc:
        training["reverse_checkpoint"] = rc
    layers = tuple(widths) if widths else tuple([6] * K + [3])
    return make(scenario_dict(layers=layers, algorithm="cp", samples=samples, dataset_samples=80,
                              hardware=hardware or UNIFORM_HARDWARE, **training))


def with_hop(hop: int) -> dict:
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["noc"]["hop_latency_cycles"] = hop
    return hw


def versions_read(ops: dict, n_layers: int, n_samples: int) -> dict[str, np.ndarray]:
    """"F", "C", "B" -> (samples, layers): how many updates the op's layer had applied when the op started
    (a PE runs one op at a time, so its log in start order tells)."""
    out = {kind: np.zeros((n_samples, n_layers), np.int64) for kind in "FCB"}
    for k in range(1, n_layers + 1):
        mine = np.flatnonzero(ops["layer"] == k)
        mine = mine[np.argsort(ops["start"][mine], kind="stable")]
        updates = 0
        for i in mine:
            kind = ops["kind"][i]
            if kind == KINDS["U"]:
                updates += 1
            for letter in "FCB":
                if kind == KINDS[letter]:
                    out[letter][ops["sample"][i], k - 1] = updates
    return out


def reference_of(s, result, stashed: bool, anchored: bool):
    """The reference loop fed the versions this run's ops read: the recompute on the forward's
    (stashed) or its own, the backward's W^T on the forward's (anchored) or its own."""
    D = len(s.model.layers) - 1
    v = versions_read(result.ops, D, s.training.samples)
    versions = {"F": v["F"], "C": v["F"] if stashed else v["C"], "B": v["F"] if anchored else v["B"]}
    W0, b0, data, order = reference_inputs(s)
    checkpoints = s.training.options.reverse_checkpoint.checkpoints(D)
    return checkpoint_reference(W0, b0, data.X_train, data.y_train, order, s.training.learning_rate, "relu",
                                checkpoints, versions)


def assert_matches(result, reference, D: int) -> None:
    W, b, losses = reference
    for k in range(D):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], b[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("K", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("hop", [0, 2])
@pytest.mark.parametrize("rule", ["anchored", "immediate"])
def test_stashed_recompute_is_plain_cp_bitwise_and_costs_one_forward_per_sample(K, hop, rule):
    """Recomputing with the forward's weights gives back the forward's activations bit for bit, so
    training is plain CP's (final weights, staleness); every layer runs one forward more per sample,
    which on uniform ops lengthens the run by exactly N C cycles (a step takes F + C + B + U)."""
    N = 30
    plain = run(scenario(K, N, with_hop(hop), rule), progress=False)
    for rc in ({"every": 1}, {"every": 2}, {"every": 3}, {"layers": [1, K]} if K > 1 else {"layers": [1]}):
        result = run(scenario(K, N, with_hop(hop), rule, **rc), progress=False)
        for name in plain.weights:
            assert np.array_equal(result.weights[name], plain.weights[name]), (rc, name)
        # the same final test accuracy (an evaluation mid-run meets the upper layers at a point that
        # follows the timing)
        assert result.curve[-1][3] == plain.curve[-1][3]
        assert result.metrics["total_cycles"] == plain.metrics["total_cycles"] + N * C
        for p, r in zip(plain.metrics["layers"], result.metrics["layers"]):
            assert r["staleness"] == p["staleness"]
            assert r["op_cycles"] == {**p["op_cycles"], "C": C}
            assert r["reverse_checkpoint"]["recomputes"] == N
            assert r["reverse_checkpoint"]["recompute_cycles"] == N * C
        assert result.metrics["engine"]["used"] == "events"


@pytest.mark.parametrize("stashed", [True, False])
@pytest.mark.parametrize("rule", ["anchored", "immediate"])
@pytest.mark.parametrize("hop", [0, 3])
def test_each_mode_is_its_reference_given_the_versions_its_ops_read(stashed, rule, hop):
    """The update rule, op by op: the forward on its version, the segment's recompute from the kept
    input on the forward's version (stashed) or its own (immediate), the backward on the recomputed pair."""
    s = scenario(5, 30, with_hop(hop), rule, every=2, weights="stashed" if stashed else "immediate")
    result = run(s, progress=False)
    assert_matches(result, reference_of(s, result, stashed, rule == "anchored"), 5)


def test_immediate_recompute_trains_differently_and_reads_newer_weights():
    """The paper's choice: the recompute reads weights newer than the forward's (time disparity shrinks)."""
    s = scenario(5, 30, rule="anchored", every=2, weights="immediate")
    result, plain = run(s, progress=False), run(scenario(5, 30, rule="anchored"), progress=False)
    assert any(not np.array_equal(result.weights[n], plain.weights[n]) for n in plain.weights)
    v = versions_read(result.ops, 5, 30)
    gap = v["C"] - v["F"]
    assert (gap >= 0).all() and gap[-10:, 0].min() > 0  # layer 1 recomputes well after its forward


def held_bound(K: int, k: int, checkpoints: list[int]) -> tuple[int, int]:
    """(recomputed inputs, outputs) layer k may hold beyond plain CP's inputs: with its segment [c, e]
    and cap = W_c - max(0, 2(K-e)-1), cap inputs above the checkpoint (none at it) and min(W_k, cap + 1) outputs."""
    c = max(x for x in checkpoints if x <= k)
    later = [x for x in checkpoints if x > c]
    e = later[0] - 1 if later else K
    window = lambda j: 2 * (K - j) + 1  # noqa: E731
    cap = max(1, window(c) - max(0, 2 * (K - e) - 1))
    return (0 if k == c else cap), min(window(k), cap + 1)


@pytest.mark.parametrize("every", [1, 2, 3])
def test_immediate_recompute_sram_bound_and_peak_drop(every):
    """With immediate weights nothing is stashed for the recompute: the activation bound changes by
    W_k - min(W_k, cap + 1) outputs fewer and cap recomputed inputs more above a checkpoint (a saving
    on the deep layers of a deep network), and the measured peak falls below plain CP's."""
    K, widths = 8, [16] * 8 + [4]
    plain = run(scenario(widths=widths, rule="immediate", samples=40), progress=False)
    result = run(scenario(widths=widths, rule="immediate", samples=40, every=every, weights="immediate"),
                 progress=False)
    checkpoints = list(range(1, K + 1, every))
    for p, r in zip(plain.metrics["layers"], result.metrics["layers"]):
        k = r["layer"]
        received, outputs = held_bound(K, k, checkpoints)
        saved = ((2 * (K - k) + 1 - outputs) * r["n_out"] - received * r["n_in"]) * 4
        assert r["sram_bound"]["activations"] == p["sram_bound"]["activations"] - saved
        assert r["sram_bound"]["weight_stash"] == p["sram_bound"]["weight_stash"] == 0
        assert r["reverse_checkpoint"]["sram_bound_saved_bytes"] == saved
        assert r["reverse_checkpoint"]["sram_bound_without_bytes"] == p["sram_bound_bytes"]
        assert r["peak_sram_bytes"] <= r["sram_bound_bytes"]
        assert r["reverse_checkpoint"]["checkpoint"] == (k in checkpoints)
    assert sum(r["peak_sram_bytes"] for r in result.metrics["layers"]) < sum(
        p["peak_sram_bytes"] for p in plain.metrics["layers"])


def test_stashed_recompute_keeps_weight_versions_the_plain_rule_does_not():
    """Stashed weights cost SRAM: W and b per version in flight, at layer 1 and under the immediate
    rule at every layer (plain CP stashes none there)."""
    result = run(scenario(3, 20, rule="immediate", every=1), progress=False)
    for layer in result.metrics["layers"]:
        k, params = layer["layer"], layer["parameters"]
        assert layer["sram_bound"]["weight_stash"] == (2 * (3 - k) + 1) * params * 4
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]


@st.composite
def random_case(draw):
    hw = draw(random_hardware())
    K = draw(st.integers(1, 5))
    widths = [draw(st.integers(2, 9)) for _ in range(K)] + [3]
    return hw, widths, draw(st.integers(1, 4)), draw(st.sampled_from(["stashed", "immediate"])), \
        draw(st.sampled_from(["anchored", "immediate"])), draw(st.integers(3, 20))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_any_timing_finishes_within_its_bound_and_is_its_reference(case):
    """Random op and link costs: no deadlock, every peak within its bound, the reference matched."""
    hw, widths, every, weights, rule, samples = case
    s = scenario(samples=samples, hardware=hw, rule=rule, widths=widths, every=every, weights=weights)
    result = run(s, progress=False)
    assert result.metrics["samples_trained"] == samples
    for layer in result.metrics["layers"]:
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]
    assert_matches(result, reference_of(s, result, weights == "stashed", rule == "anchored"), len(widths) - 1)


@pytest.mark.parametrize("rc, message", [
    ({"every": 2, "layers": [1, 3]}, "give exactly one of every"),
    ({}, "give exactly one of every"),
    ({"layers": [2, 3]}, "starting with 1"),
    ({"layers": [1, 3, 3]}, "ascending order"),
    ({"layers": [1, 9]}, "training.reverse_checkpoint.layers: [1, 9] go beyond the network's 3 layers"),
    ({"every": 0}, "every"),
    ({"every": 2, "weights": "old"}, "weights"),
])
def test_bad_sections_are_refused_with_the_key(tmp_path, rc, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_dict(layers=(6, 6, 6, 3), algorithm="cp", samples=10,
                                                 reverse_checkpoint=rc)))
    with pytest.raises(ConfigError) as err:
        load_scenario(path, [])
    assert message in str(err.value) and "reverse_checkpoint" in str(err.value)


def test_only_cp_has_the_key(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_dict(layers=(6, 3), algorithm="sgd", samples=10,
                                                 reverse_checkpoint={"every": 1})))
    with pytest.raises(ConfigError, match="reverse_checkpoint"):
        load_scenario(path, [])


@pytest.mark.parametrize("weights", ["stashed", "immediate"])
def test_a_resumed_checkpointed_run_equals_the_uninterrupted_one(weights, tmp_path, monkeypatch):
    """The recompute queues, kept inputs and weight copies are part of the run's checkpoint."""
    s = scenario(4, 40, rule="anchored", every=2, weights=weights)
    assert_resumes_seamlessly(s, tmp_path, monkeypatch)
