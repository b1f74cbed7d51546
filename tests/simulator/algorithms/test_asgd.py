"""Parameter-server ASGD (asgd, hogwild, downpour): equivalences, derived staleness, traffic, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from wafersim.runner import run
from wafersim.results import write
from tests.builders import make, scenario_dict
from tests.simulator.algorithms.test_mbgd import TIMINGS

PS_VARIANTS = ("asgd", "hogwild", "downpour")


def _run(**kw):
    return run(make(scenario_dict(**kw)), progress=False)


def _assert_same_weights(a, b):
    assert a.weights.keys() == b.weights.keys()
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name], err_msg=name)


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("timing", ["uniform", "hop latency 9", "narrow links"])
def test_one_worker_asgd_equals_mbgd(batch, timing):
    """One worker pushes, the shard applies, the worker waits for the result: exactly MBGD(B),
    bit for bit (same gradient sums, same optimizer step), whatever the hardware timing."""
    mbgd = _run(algorithm="mbgd", batch_size=batch, samples=40, momentum=0.5, hardware=TIMINGS["uniform"])
    asgd = _run(algorithm="asgd", batch_size=batch, samples=40, momentum=0.5, hardware=TIMINGS[timing])
    _assert_same_weights(asgd, mbgd)
    assert asgd.metrics["mean_staleness"] == 0.0


def test_one_worker_asgd_with_batch_one_is_sgd_to_float32_rounding():
    """SGD streams W += (-lr dz) x^T while a worker sums dz x^T and the shard adds -lr times it:
    the products are rounded in a different order, so the two agree to float32 rounding."""
    sgd = _run(algorithm="sgd", samples=40)
    asgd = _run(algorithm="asgd", samples=40)
    for name in sgd.weights:
        np.testing.assert_allclose(asgd.weights[name], sgd.weights[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_one_worker_downpour_pushing_every_step_equals_mbgd():
    """With one worker and n_push = 1 the shard replays the worker's own local steps in order."""
    mbgd = _run(algorithm="mbgd", batch_size=4, samples=40)
    downpour = _run(algorithm="downpour", batch_size=4, samples=40)
    _assert_same_weights(downpour, mbgd)


@pytest.mark.parametrize("workers, samples", [(2, 40), (3, 48), (4, 64)])
def test_staleness_of_identical_workers_on_uniform_hardware(workers, samples):
    """Derivation. With zero hop latency and no contention every worker's messages take the same
    time, so N identical workers push layer k's first gradients in the same cycle and the shard
    applies them in worker order (ties by worker): worker j (0-based) pulled version 0 and is
    applied as version j, so round 1 has staleness 0, 1, ..., N-1. Under asgd worker j gets its
    reply right after its own update, i.e. it holds version j+1, and its next push arrives j
    update-times after worker 0's, keeping the round-robin order. In round r >= 2 its update is
    applied when N(r-1) + j updates have been applied, against its version N(r-2) + j + 1:
    staleness N - 1 every time. With R = samples / (4N) rounds: histogram per layer
    {0: 1, 1: 1, ..., N-2: 1, N-1: (R-1)N + 1}."""
    result = _run(algorithm="asgd", workers=workers, batch_size=4, samples=samples, dataset_samples=96)
    rounds = samples // (4 * workers)
    expected = {str(s): 1 for s in range(workers - 1)}
    expected[str(workers - 1)] = (rounds - 1) * workers + 1
    for layer in result.metrics["layers"]:
        assert layer["staleness"]["histogram"] == expected, layer["layer"]
    assert result.metrics["samples_trained"] == samples


def test_one_push_costs_parameter_bytes_times_the_xy_distance():
    """One layer (8 -> 4 with bias: 36 parameters, 144 bytes), worker at (0, 0), shard at (3, 2):
    one minibatch, so one push and one reply, each 144 bytes over 3 + 2 = 5 hops."""
    data = scenario_dict(layers=(8, 4), algorithm="asgd", batch_size=4, samples=4)
    data["placement"] = [[0, 0], [3, 2]]
    result = run(make(data), progress=False)
    traffic = result.metrics["network"]["by_kind"]
    assert traffic["gradients"] == {"messages": 1, "bytes": 144, "byte_hops": 144 * 5}
    assert traffic["weights"] == {"messages": 1, "bytes": 144, "byte_hops": 144 * 5}


def test_downpour_fetches_every_n_fetch_steps_and_pushes_every_n_push():
    """2 workers x 5 minibatches each: fetches at steps 0, 2, 4 (3 per worker layer); pushes after
    steps 2 and 4 and after the last, 5 (3 per worker layer); 3 layers."""
    result = _run(algorithm="downpour", workers=2, batch_size=4, samples=40, n_fetch=2, n_push=2)
    traffic = result.metrics["network"]["by_kind"]
    assert traffic["gradients"]["messages"] == 2 * 3 * 3
    assert traffic["weight requests"]["messages"] == 2 * 3 * 3
    assert traffic["weights"]["messages"] == 2 * 3 * 3
    assert result.metrics["samples_trained"] == 40
    assert sum(layer["updates"] for layer in result.metrics["layers"]) == 2 * 3 * 3


def test_hogwild_answers_requests_without_waiting_for_updates():
    """One hogwild worker reads before its own push is applied, so its next gradient is one version old:
    staleness 0 for the first update, then 1 for every later one (minibatches of 4 over 40 samples)."""
    result = _run(algorithm="hogwild", batch_size=4, samples=40)
    for layer in result.metrics["layers"]:
        assert layer["staleness"]["histogram"] == {"0": 1, "1": 9}
    assert result.metrics["layers"][0]["reads"] == 10


@pytest.mark.parametrize("algorithm", PS_VARIANTS + ("allreduce",))
def test_same_seed_gives_byte_identical_results(algorithm, tmp_path):
    scenario = make(scenario_dict(algorithm=algorithm, workers=3, batch_size=4, samples=36, momentum=0.5,
                                  hardware=TIMINGS["hop latency 1"]))
    for name in ("a", "b"):
        write(run(scenario, progress=False), tmp_path / name, figures=False)
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


@pytest.mark.parametrize("algorithm", PS_VARIANTS + ("allreduce",))
def test_timing_only_runs_the_same_schedule(algorithm):
    kw = dict(algorithm=algorithm, workers=3, batch_size=4, samples=36, hardware=TIMINGS["hop latency 1"])
    full = _run(**kw)
    timing = run(make({**scenario_dict(**kw), "timing_only": True}), progress=False)
    for column in full.ops:
        np.testing.assert_array_equal(full.ops[column], timing.ops[column], err_msg=column)


def test_metrics_name_workers_shards_and_their_chains():
    result = _run(algorithm="asgd", workers=2, batch_size=4, samples=16)
    m = result.metrics
    labels = {(p["row"], p["col"]): p["label"] for p in m["pe_utilization"] if p["role"]}
    assert labels == {(0, 0): "W1 L1", (0, 1): "W1 L2", (0, 2): "W1 L3", (0, 3): "W2 L1", (1, 3): "W2 L2",
                      (1, 2): "W2 L3", (1, 1): "S1", (1, 0): "S2", (2, 0): "S3"}
    assert m["chains"] == [{"name": "worker 1", "pes": [[0, 0], [0, 1], [0, 2]]},
                           {"name": "worker 2", "pes": [[0, 3], [1, 3], [1, 2]]}]
    assert [layer["role"] for layer in m["layers"]] == ["shard"] * 3
    assert 0 < m["shard_utilization"] < m["worker_utilization"] < 1
