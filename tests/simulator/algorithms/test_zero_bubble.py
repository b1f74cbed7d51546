"""ZB-H1: the authors' script, the split backward bitwise, its closed forms on uniform ops, its weights against MBGD."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.builders import (UNIFORM_HARDWARE, assert_resumes_seamlessly, dense_layer, make, random_hardware,
                            scenario_dict)
from tests.simulator.algorithms.test_pipeline_schedules import C, gpipe_period, hardware, scenario

from wafersim.algorithms.zerobubble import hand_script
from wafersim.layers import DenseShape
from wafersim.records import KINDS
from wafersim.runner import run


def zb_period(K: int, M: int, d: int) -> int:
    """One mini-batch of ZB-H1 for M >= K+1 and 2d <= C (derived in the module docstring): every
    stage runs 3M+1 ops of C and idles (K-1)(C+4d)."""
    return (3 * M + 1) * C + (K - 1) * (C + 4 * d)


def one_f_one_b_idle(K: int, M: int, d: int) -> int:
    """1F1B's idle per stage and mini-batch on the same hardware (test_1f1b_cycles_and_in_flight's period)."""
    return gpipe_period(K, M, d) + 2 * d * ((M - 1) - math.ceil((M - 1) / K)) - (2 * M + 1) * C


def authors_order(p: int, n: int) -> list[str]:
    """get_hand_schedule(p, n, ..., warmup_c=1)'s stage orders, transcribed from the authors' efficiency.py."""
    out = []
    for rank in range(p):
        warmup, s = p - rank - 1, []
        s += ["F"] * warmup
        for i in range(n):
            if warmup + i < n:
                s.append("F")
            s.append("B")
            if warmup + i >= p - 1:
                s.append("W")
        s += ["W"] * (p - 1 - warmup)
        out.append("".join(s))
    return out


def test_the_script_is_the_authors_handcrafted_zb_h1():
    assert ["".join(hand_script(r, 4, 8)) for r in range(4)] == [
        "FFFFBWFBWFBWFBWFBWBWBWBW", "FFFBFBWFBWFBWFBWFBWBWBWW", "FFBFBFBWFBWFBWFBWFBWBWWW", "FBFBFBFBWFBWFBWFBWFBWWWW"]
    for p in range(1, 7):
        for n in range(max(1, p - 1), 12):  # where the authors' script exists, ours is it
            assert ["".join(hand_script(r, p, n)) for r in range(p)] == authors_order(p, n), (p, n)
        for n in range(1, 12):  # capped for a short mini-batch: still n of each, each B after its F
            for r in range(p):
                kinds = hand_script(r, p, n)
                assert [kinds.count(k) for k in "FBW"] == [n, n, n]
                assert all(kinds[:i].count("F") >= kinds[:i].count("B") >= kinds[:i].count("W")
                           for i in range(len(kinds)))


@pytest.mark.parametrize("first, top", [(True, False), (False, False), (False, True), (True, True)])
@pytest.mark.parametrize("builds", [True, False])
def test_b_then_w_is_the_fused_backward_bitwise(first, top, builds):
    rng = np.random.default_rng(3)
    W = rng.normal(size=(4, 5)).astype(np.float32)
    fused, split = (dense_layer(5, 4, first=first, top=top, builds_gradient=builds) for _ in range(2))
    for layer in (fused, split):
        layer.W[...] = W
    for _ in range(3):  # summed in a buffer over samples (or the last one's factors kept)
        x, out, e = (rng.normal(size=n).astype(np.float32) for n in (5, 4, 4))
        delta = fused.backward(x, out.copy(), e, None)
        dz, split_delta = split.backward_input(x, out.copy(), e, None)
        split.backward_weight(x, dz)
        assert (delta is None) == (split_delta is None) == first
        if not first:
            assert np.array_equal(delta, split_delta)
    if builds:
        assert np.array_equal(fused.grad_W, split.grad_W) and np.array_equal(fused.grad_b, split.grad_b)
    else:
        assert all(np.array_equal(a, b) for a, b in zip(fused.factors, split.factors))


@pytest.mark.parametrize("first", [True, False])
def test_b_and_w_macs_add_up_to_the_backward(first):
    shape = DenseShape(7, 3, True, "relu", first=first, top=False)
    assert shape.input_gradient_macs() == 3 + (0 if first else 21)
    for builds in (True, False):
        assert shape.input_gradient_macs() + shape.weight_gradient_macs(builds) == shape.backward_macs(builds)


@pytest.mark.parametrize("K", [2, 3, 4, 5])
@pytest.mark.parametrize("extra", [1, 2, 5])
@pytest.mark.parametrize("hop", [0, 1])
def test_zb_h1_cycles_bubble_and_in_flight_closed_form(K, extra, hop):
    """M >= K+1, 2d <= C: T = (3M+1)C + (K-1)(C+4d) per mini-batch, every stage idle (K-1)(C+4d),
    against 1F1B's 2(K-1)(C+d) + 2d(M-1 - ceil((M-1)/K)); every stage holds min(M, K) = K."""
    d, batches, M = hop + 1, 3, K + extra
    assert 2 * d <= C
    zb = run(scenario("zb-h1", K, batches * M, hop, micro_batches=M), progress=False).metrics
    one = run(scenario("1f1b", K, batches * M, hop, micro_batches=M), progress=False).metrics
    assert zb["total_cycles"] == d + batches * zb_period(K, M, d)
    idle = zb_period(K, M, d) - (3 * M + 1) * C
    assert idle == (K - 1) * (C + 4 * d)
    one_idle = (one["total_cycles"] - d) // batches - (2 * M + 1) * C
    assert one_idle == one_f_one_b_idle(K, M, d)
    assert idle / one_idle == (K - 1) * (C + 4 * d) / (2 * (K - 1) * (C + d) + 2 * d * (M - 1 - math.ceil((M - 1) / K)))
    assert idle < one_idle  # the deferred W's fill what would wait for the round trip
    for layer in zb["layers"]:
        assert layer["max_in_flight"] == layer["in_flight_window"] == K and layer["updates"] == batches
        assert layer["utilization"] == batches * (3 * M + 1) * C / zb["total_cycles"]
        assert layer["op_cycles"] == {"F": C, "B": C, "U": C, "W": C}
        assert layer["staleness"]["histogram"] == {"0": batches}  # one weight version, never stale
        assert layer["sram_bound"].get("weight_stash", 0) == 0
        # K+1 inputs (K in flight and one arriving) and K outputs or dz's at every stage: 1F1B's at stage 1
        assert layer["sram_bound"]["activations"] == ((K + 1) * layer["n_in"] + K * layer["n_out"]) * 4
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]


@pytest.mark.parametrize("K", [3, 4, 5])
@pytest.mark.parametrize("hop", [0, 1, 2])
def test_zb_h1_cycles_measured_off_the_derived_range(K, hop):
    """Measured on this grid, not derived: M = K idles (K-1)(C+4d) - 2d, M = K-1 idles (K-1)(C+4d) + C - 4d
    (2d <= C); with 2d > C (hop 2: d = 3) M >= K+1 idles floor((K-1)(M-K-1)/K) more."""
    d, batches = hop + 1, 3
    cases = {K + 3: (K - 1) * (C + 4 * d) + (K - 1) * 2 // K, K + 6: (K - 1) * (C + 4 * d) + (K - 1) * 5 // K} \
        if 2 * d > C else {K: (K - 1) * (C + 4 * d) - 2 * d, K - 1: (K - 1) * (C + 4 * d) + C - 4 * d}
    for M, idle in cases.items():
        metrics = run(scenario("zb-h1", K, batches * M, hop, micro_batches=M), progress=False).metrics
        assert metrics["total_cycles"] == d + batches * ((3 * M + 1) * C + idle), M
        assert [layer["max_in_flight"] for layer in metrics["layers"]] == [min(M, K)] * K


@pytest.mark.parametrize("samples", [24, 22])
def test_each_stage_runs_its_script_and_w_follows_its_b(samples):
    """The op trace of every layer is the script, mini-batch after mini-batch (the last one of 22 short)."""
    K, M = 4, 6
    result = run(scenario("zb-h1", K, samples, 1, micro_batches=M), progress=False)
    letter = {code: kind for kind, code in KINDS.items()}
    for k in range(1, K + 1):
        mine = result.ops["layer"] == k
        kinds = "".join(letter[c] for c in result.ops["kind"][mine])
        want = "".join("".join(hand_script(k - 1, K, min(M, samples - first))) + "U" for first in range(0, samples, M))
        assert kinds == want, k
        tags = result.ops["sample"][mine]
        for kind in "FBW":  # each kind in sample order
            assert list(tags[result.ops["kind"][mine] == KINDS[kind]]) == list(range(samples))


@pytest.mark.parametrize("hop", [0, 3])
def test_zb_h1_trains_exactly_as_mbgd_1f1b_and_gpipe(hop):
    mbgd = run(scenario("mbgd", 3, 40, hop, batch_size=4), progress=False)
    for algorithm in ("zb-h1", "1f1b", "gpipe"):
        other = run(scenario(algorithm, 3, 40, hop, micro_batches=4), progress=False)
        for name in mbgd.weights:
            assert np.array_equal(other.weights[name], mbgd.weights[name]), (algorithm, name)
        assert other.curve[-1][2:] == mbgd.curve[-1][2:]


def test_a_timing_only_run_takes_the_same_cycles():
    full = run(scenario("zb-h1", 3, 20, 1, micro_batches=4), progress=False)
    timing = run(make({**scenario_dict(layers=(6, 6, 6, 3), algorithm="zb-h1", samples=20, dataset_samples=80,
                                       hardware=hardware(1), micro_batches=4), "timing_only": True}), progress=False)
    for column in ("layer", "kind", "sample", "start", "end"):
        assert np.array_equal(full.ops[column], timing.ops[column]), column


@pytest.mark.parametrize("timing_only", [False, True])
def test_a_resumed_run_equals_the_uninterrupted_one(timing_only, tmp_path, monkeypatch):
    """Stopped after its second checkpoint and resumed, a run ends as one never stopped (scripts and all)."""
    s = scenario("zb-h1", 3, 40, 1, micro_batches=4).model_copy(update={"timing_only": timing_only})
    assert_resumes_seamlessly(s, tmp_path, monkeypatch)


@pytest.mark.parametrize("K, M", [(3, 1), (4, 2), (6, 4)])
def test_too_few_micro_batches_is_refused(K, M):
    with pytest.raises(ValidationError) as error:
        scenario("zb-h1", K, 8, micro_batches=M)
    assert (f"zb-h1 needs training.micro_batches >= {K - 1} (the layers less one: stage 1's warm-up forwards and "
            f"the top layer's deferred W's), not {M}") in str(error.value)
    scenario("zb-h1", K, 8, micro_batches=K - 1)  # the smallest that fits


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_hardware(), st.lists(st.sampled_from([1, 2, 5, 24]), min_size=1, max_size=5), st.integers(0, 4),
       st.integers(3, 20))
def test_zb_h1_weights_never_depend_on_the_timing_and_sram_stays_in_its_bound(hw, widths, more, samples):
    """On random hardware and widths (so some stages' W's are slow): mbgd's weights (batch M) bit for
    bit, and every layer's peak SRAM within its bound."""
    K = len(widths)
    M = max(1, K - 1) + more

    def go(algorithm, hardware, **training):
        return run(make(scenario_dict(layers=(4, *widths[1:], 3), algorithm=algorithm, samples=samples,
                                      dataset_samples=40, hardware=hardware, **training)), progress=False, trace=False)
    timed, mbgd = go("zb-h1", hw, micro_batches=M), go("mbgd", UNIFORM_HARDWARE, batch_size=M)
    for name in mbgd.weights:
        assert np.array_equal(timed.weights[name], mbgd.weights[name]), name
    for layer in timed.metrics["layers"]:
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"], layer["layer"]
        assert layer["max_in_flight"] <= min(M, K)
