"""GPipe, 1F1B and PipeDream: their closed forms on uniform ops, their weights against MBGD and the step model."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.builders import UNIFORM_HARDWARE, make, random_hardware, reference_inputs, scenario_dict

from wafersim.runner import run
from wafersim_kernels.reference import cp_reference
from wafersim_kernels.reference_pipeline import stale_reference, two_bw_reference

C = 5  # cycles per op on the uniform hardware: ceil(MACs / 10**6) + 4


def hardware(hop: int) -> dict:
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["noc"]["hop_latency_cycles"] = hop
    return hw


def scenario(algorithm: str, K: int, samples: int, hop: int = 0, **training):
    return make(scenario_dict(layers=tuple([6] * K + [3]), algorithm=algorithm, samples=samples, dataset_samples=80,
                              hardware=hardware(hop), **training))


def gpipe_period(K: int, M: int, d: int) -> int:
    """One mini-batch of GPipe on uniform ops of C cycles and d cycles per message: the forward wave
    reaches stage K after (K-1)(C+d) and runs M forwards back to back; the top's M backwards follow
    at once and the backward wave reaches stage 1 (K-1)(C+d) later; stage 1 then applies its update.
    With d = 0: 2(M+K-1) op slots plus the update."""
    return 2 * (K - 1) * (C + d) + 2 * M * C + C


@pytest.mark.parametrize("K", [1, 2, 3, 5])
@pytest.mark.parametrize("M", [1, 3, 8])
@pytest.mark.parametrize("hop", [0, 2])
def test_gpipe_cycles_bubble_and_in_flight_closed_form(K, M, hop):
    d, batches = hop + 1, 3  # a message costs hop latency + one cycle of serialization
    metrics = run(scenario("gpipe", K, batches * M, hop, micro_batches=M), progress=False).metrics
    period = gpipe_period(K, M, d)
    assert metrics["total_cycles"] == d + batches * period
    for layer in metrics["layers"]:
        assert layer["max_in_flight"] == M and layer["updates"] == batches
        assert layer["utilization"] == batches * (2 * M + 1) * C / metrics["total_cycles"]
    if hop == 0 and K > 1:  # the forward and backward slots left idle, per stage: (K-1)(C+d) / ((K-1)(C+d) + MC)
        bubble = 1 - 2 * M * C / (period - C)
        assert bubble == pytest.approx((K - 1) * (C + d) / ((K - 1) * (C + d) + M * C))


@pytest.mark.parametrize("K", [2, 3, 4, 5])
@pytest.mark.parametrize("M", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("hop", [0, 2])
def test_1f1b_cycles_and_in_flight(K, M, hop):
    """1F1B holds at most K-k+1 micro-batches at stage k; it takes GPipe's time, plus a round trip
    2d for each of the M-1 micro-batches after the first but one in every K (measured on this grid,
    not derived; with no link delay, GPipe's time, as the paper has it)."""
    d, batches = hop + 1, 3
    metrics = run(scenario("1f1b", K, batches * M, hop, micro_batches=M), progress=False).metrics
    extra = 2 * d * ((M - 1) - math.ceil((M - 1) / K))
    assert metrics["total_cycles"] == d + batches * (gpipe_period(K, M, d) + extra)
    assert [layer["max_in_flight"] for layer in metrics["layers"]] == [min(K - k + 1, M) for k in range(1, K + 1)]


@pytest.mark.parametrize("hop", [0, 3])
def test_gpipe_and_1f1b_train_exactly_as_mbgd(hop):
    mbgd = run(scenario("mbgd", 3, 40, hop, batch_size=4), progress=False)
    for algorithm in ("gpipe", "1f1b"):
        other = run(scenario(algorithm, 3, 40, hop, micro_batches=4), progress=False)
        for name in mbgd.weights:
            assert np.array_equal(other.weights[name], mbgd.weights[name]), (algorithm, name)
        assert other.curve[-1][2:] == mbgd.curve[-1][2:]


def test_1f1b_holds_less_than_gpipe():
    gpipe, one = (run(scenario(a, 4, 16, micro_batches=8), progress=False).metrics for a in ("gpipe", "1f1b"))
    for g, o in zip(gpipe["layers"], one["layers"]):
        assert o["peak_sram_bytes"] < g["peak_sram_bytes"] or o["layer"] == 4 and o["max_in_flight"] == 1


@pytest.mark.parametrize("K", [1, 2, 3, 5])
def test_pipedream_staleness_in_flight_and_versions(K):
    """Stage k holds K-k+1 samples, so its updates are 0, 1, ..., K-k-1 stale once each, then K-k:
    it keeps up to K-k+1 weight versions (K-k stashed copies and the current weights)."""
    N = 30
    result = run(scenario("pipedream", K, N), progress=False)
    for layer in result.metrics["layers"]:
        k, lag = layer["layer"], K - layer["layer"]
        assert layer["max_in_flight"] == K - k + 1
        assert layer["staleness"]["histogram"] == {**{str(v): 1 for v in range(lag)}, str(lag): N - lag}
        W = 6 * 6 if k < K else 6 * 3  # floats of one weight version
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]
        # the bound: one stashed version per sample in flight; layer 1's backward reads no weights, so it stashes none
        assert layer["sram_bound"]["weight_stash"] == (0 if k == 1 else (K - k + 1) * W * 4)


@pytest.mark.parametrize("hop", [0, 2])
def test_pipedream_equals_the_stale_step_model(hop):
    """Weights of the asynchronous update rule W_k <- W_k - lr grad(W_k versions K-k old), backward on the
    stashed weights, to float32 rounding."""
    s = scenario("pipedream", 3, 40, hop)
    result = run(s, progress=False)
    W0, b0, data, order = reference_inputs(s)
    W, b, losses = stale_reference(W0, b0, data.X_train, data.y_train, order, 0.05, "relu", [2, 1, 0], anchored=True)
    for k in range(3):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], b[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("anchored", [False, True])
def test_the_stale_step_model_with_cp_delays_is_cp_reference(anchored):
    """The reference itself: with CP's delays 2(D-k) it is the CP step model (paper Alg. 1)."""
    rng = np.random.default_rng(0)
    W0 = [rng.normal(scale=0.4, size=(6, 5)).astype(np.float32), rng.normal(scale=0.4, size=(3, 6)).astype(np.float32)]
    b0 = [np.zeros(6, np.float32), np.zeros(3, np.float32)]
    X, y = rng.normal(size=(20, 5)).astype(np.float32), rng.integers(0, 3, 20)
    order = rng.permutation(20)
    W, b, losses = stale_reference(W0, b0, X, y, order, 0.1, "relu", [2, 0], anchored)
    cW, cb, closses, _ = cp_reference(W0, b0, X, y, order, 0.1, "relu", anchored=anchored)
    for k in range(2):
        np.testing.assert_allclose(W[k], cW[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses, closses, rtol=1e-5)


@pytest.mark.parametrize("M", [1, 3, 4])
def test_2bw_is_its_update_rule_bitwise_across_timings_and_one_version_stale(M):
    """W(t+1) = W(t) - lr mean grad(W(t-1)): the weights cannot depend on the timing, equal the
    reference loop to float32 rounding, and every update after the first is exactly 1 stale."""
    runs = [run(scenario("pipedream-2bw", 3, 40, hop, micro_batches=M), progress=False) for hop in (0, 3, 9)]
    for other in runs[1:]:
        for name in runs[0].weights:
            assert np.array_equal(other.weights[name], runs[0].weights[name]), name
    W0, b0, data, order = reference_inputs(scenario("pipedream-2bw", 3, 40, micro_batches=M))
    W, b, losses = two_bw_reference(W0, b0, data.X_train, data.y_train, order, M, 0.05, "relu")
    for k in range(3):
        np.testing.assert_allclose(runs[0].weights[f"W{k + 1}"], W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(runs[0].weights[f"b{k + 1}"], b[k], rtol=1e-5, atol=1e-6)
    n_updates = -(-40 // M)
    for layer in runs[0].metrics["layers"]:
        assert layer["staleness"]["histogram"] == {"0": 1, "1": n_updates - 1}
        assert layer["max_in_flight"] <= 3 - layer["layer"] + 1
        params = (6 * 6 + 6) if layer["layer"] < 3 else (6 * 3 + 3)
        assert layer["sram_bound"]["weight_stash"] == layer["sram_bound"]["weights"] == params * 4  # two buffers
        assert 2 * params * 4 < layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]


@pytest.mark.parametrize("algorithm", ["gpipe", "1f1b"])
def test_rematerialization_trades_a_forward_per_backward_for_the_outputs_memory(algorithm):
    """Recomputing a stage's output in its backward, with weights that cannot change within the
    mini-batch, gives bitwise the same training; each B below the top costs a forward more, and the
    bound holds one output instead of one per micro-batch in flight."""
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["pe"].update(macs_per_cycle=8, op_overhead_cycles=2)  # cycles that grow with MACs

    def go(remat):
        return run(make(scenario_dict(layers=(8, 12, 6, 4), algorithm=algorithm, samples=24, micro_batches=4,
                                      hardware=hw, rematerialize=remat)), progress=False)

    plain, remat = go(False), go(True)
    for name in plain.weights:
        assert np.array_equal(remat.weights[name], plain.weights[name]), name
    for p, r in zip(plain.metrics["layers"], remat.metrics["layers"]):
        k, n_in, n_out = p["layer"], p["n_in"], p["n_out"]
        # B: dz (n_out), W^T dz above layer 1, the outer product into the gradient buffer (4 micro-batches sum)
        B = n_out + (n_in * n_out if k > 1 else 0) + n_in * n_out
        assert p["op_cycles"]["B"] == math.ceil(B / 8) + 2
        assert r["op_cycles"]["B"] == (math.ceil((B + n_in * n_out) / 8) + 2 if k < 3 else p["op_cycles"]["B"])
        saved = (p["in_flight_window"] - 1) * n_out * 4 if k < 3 else 0
        assert r["sram_bound_bytes"] == p["sram_bound_bytes"] - saved
        assert r["peak_sram_bytes"] <= r["sram_bound_bytes"]
    assert remat.metrics["total_cycles"] > plain.metrics["total_cycles"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_hardware(), st.integers(2, 4), st.integers(1, 6), st.integers(4, 20))
def test_synchronous_and_2bw_weights_never_depend_on_the_timing(hw, K, M, samples):
    """gpipe, 1f1b and pipedream-2bw on random hardware timings: the weights the uniform hardware gives, bit for bit."""
    for algorithm in ("gpipe", "1f1b", "pipedream-2bw"):
        def go(hardware):
            return run(make(scenario_dict(layers=tuple([5] * K + [3]), algorithm=algorithm, samples=samples,
                                          dataset_samples=40, hardware=hardware, micro_batches=M)),
                       progress=False, trace=False)
        timed, uniform = go(hw), go(UNIFORM_HARDWARE)
        for name in uniform.weights:
            assert np.array_equal(timed.weights[name], uniform.weights[name]), (algorithm, name)
