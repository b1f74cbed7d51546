"""A whole run: timing-only parity, SRAM accounting, evaluation schedule, divergence, sample order."""

from __future__ import annotations

import numpy as np
import pytest

from wafersim.runner import run, sample_order
from tests.builders import assert_same_run, make, scenario_dict


@pytest.mark.parametrize("algorithm,extra", [("cp", {}), ("cp", {"delta_rule": "anchored"}),
                                             ("mbgd", {"batch_size": 5}), ("sgd", {})])
def test_timing_only_runs_the_same_schedule(algorithm, extra):
    data = scenario_dict(algorithm=algorithm, samples=30, **extra)
    full = run(make(data), progress=False)
    timing = run(make({**data, "timing_only": True}), progress=False)
    for column in full.ops:
        np.testing.assert_array_equal(full.ops[column], timing.ops[column])
    assert timing.metrics["total_cycles"] == full.metrics["total_cycles"]
    assert timing.metrics["final_test_accuracy"] is None and timing.metrics["final_train_loss"] is None
    assert [l["peak_sram_bytes"] for l in timing.metrics["layers"]] == [l["peak_sram_bytes"] for l in full.metrics["layers"]]
    np.testing.assert_array_equal(timing.weights["W1"], timing.weights["W1_init"])


@pytest.mark.parametrize("algorithm,extra", [("cp", {}), ("cp", {"delta_rule": "anchored"}),
                                             ("mbgd", {"batch_size": 6}), ("sgd", {}), ("cp", {"momentum": 0.9})])
def test_peak_sram_stays_within_the_bound_checked_before_the_run(algorithm, extra):
    data = scenario_dict(layers=(8, 8, 8, 8, 4), algorithm=algorithm, samples=40, **extra)
    data["hardware"]["noc"]["hop_latency_cycles"] = 3
    for layer in run(make(data), progress=False).metrics["layers"]:
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]


def test_anchored_rule_stashes_weights_only_above_the_first_layer():
    immediate = run(make(scenario_dict(samples=30)), progress=False).metrics["layers"]
    anchored = run(make(scenario_dict(samples=30, delta_rule="anchored")), progress=False).metrics["layers"]
    w_bytes = [layer["n_in"] * layer["n_out"] * 4 for layer in anchored]
    extra = [a["peak_sram_bytes"] - i["peak_sram_bytes"] for a, i in zip(anchored, immediate)]
    # Layer 1 needs no W^T; layer 2 (window 3) keeps at most two older versions; the top
    # layer's backward always follows its own forward, so it never needs a copy.
    assert extra == [0, 2 * w_bytes[1], 0]


def test_evaluations_every_eval_every_samples_and_at_the_end():
    result = run(make(scenario_dict(samples=50, eval_every=20)), progress=False)
    assert [row[0] for row in result.curve] == [20, 40, 50]
    cycles = [row[1] for row in result.curve]
    assert cycles == sorted(cycles) and cycles[-1] == result.metrics["total_cycles"]
    assert all(0.0 <= row[3] <= 1.0 for row in result.curve)


def test_divergence_stops_the_run_and_keeps_what_it_measured():
    result = run(make(scenario_dict(samples=200, learning_rate=1e30, eval_every=10)), progress=False)
    assert result.status == "diverged"
    assert "training.learning_rate" in result.message
    assert 0 < result.metrics["samples_trained"] < 200
    assert result.metrics["status"] == "diverged"
    assert result.curve  # the evaluations made before it diverged


def test_sample_order_is_a_fresh_permutation_each_epoch():
    order = sample_order(10, 25, seed=3)
    assert sorted(order[:10]) == list(range(10)) and sorted(order[10:20]) == list(range(10))
    assert not np.array_equal(order[:10], order[10:20])
    np.testing.assert_array_equal(order, sample_order(10, 25, seed=3))


def test_epochs_count_training_samples():
    data = scenario_dict(samples=None, dataset_samples=40)
    data["training"].pop("samples")
    data["training"]["epochs"] = 1.5
    result = run(make(data), progress=False)
    assert result.metrics["samples_trained"] == 45  # 30 training samples (40 x 0.75) x 1.5


def test_a_diverged_run_counts_busy_cycles_only_up_to_the_stop():
    """The op that found the non-finite loss, and ops still running on other PEs, are cut at the
    stop cycle: no PE is busier than the run is long, and no op ends after it."""
    from tests.builders import assert_same_run, make, scenario_dict

    from wafersim.runner import run

    result = run(make(scenario_dict(layers=(8, 8, 8, 4), samples=40, learning_rate=1.0e30)), progress=False)
    assert result.status == "diverged"
    total = result.metrics["total_cycles"]
    assert all(row["busy_cycles"] <= total and row["utilization"] <= 1 for row in result.metrics["pe_utilization"])
    assert result.ops["end"].max() <= total
    assert all(link["utilization"] <= 1 for link in result.metrics["network"]["busiest_links"])


@pytest.mark.parametrize("engine", ["events", "compiled"])
def test_a_stop_asked_for_ends_the_run_as_that_signal_would(engine):
    """runner.run(stop=...): how a run on a Dask worker, which no signal reaches, is stopped."""
    import signal

    data = {**scenario_dict(samples=40, eval_every=8), "engine": engine}
    asked = []

    def never():
        asked.append(None)
        return None

    assert_same_run(run(make(data), progress=False, stop=never), run(make(data), progress=False))
    assert asked  # asked at the first progress update, then every STOP_POLL_SECONDS
    stopped = run(make(data), progress=False, stop=lambda: signal.SIGTERM)
    assert stopped.status == "interrupted" and stopped.message.endswith("by SIGTERM")
    assert 0 < stopped.metrics["samples_trained"] < 40 and stopped.metrics["engine"]["used"] == engine
