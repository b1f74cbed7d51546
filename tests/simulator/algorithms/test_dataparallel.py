"""Which samples each worker trains on, and the worker pipeline's schedule."""

from __future__ import annotations

import pytest

from wafersim.algorithms.dataparallel import DataParallel, synchronous_samples, worker_batches
from wafersim.placement import place_data_parallel


def test_asynchronous_workers_take_minibatches_round_robin():
    assert worker_batches(10, 2, 3, synchronous=False) == [[[0, 1, 2], [6, 7, 8]], [[3, 4, 5], [9]]]


def test_one_asynchronous_worker_batches_like_mbgd():
    assert worker_batches(7, 1, 3, synchronous=False) == [[[0, 1, 2], [3, 4, 5], [6]]]


def test_synchronous_workers_split_each_global_batch_into_equal_shares():
    """Global batches of N*B = 4: [0..3] and [4..7], then the last 2 samples, one per worker."""
    assert worker_batches(10, 2, 2, synchronous=True) == [[[0, 1], [4, 5], [8]], [[2, 3], [6, 7], [9]]]


def test_synchronous_split_needs_a_multiple_of_the_workers():
    assert synchronous_samples(40, 3) == 39
    with pytest.raises(ValueError, match="40 samples do not split evenly over 3 workers"):
        worker_batches(40, 3, 4, synchronous=True)


def test_schedule_gates_each_minibatch_on_the_weight_version():
    schedule = DataParallel(3, [[3, 4, 5], [9]])
    assert schedule.stream == [3, 4, 5, 9] and schedule.n_samples == 4
    assert schedule.window(1) == 3 and schedule.sums_gradients
    assert [schedule.may_forward(s, 0) for s in (3, 5, 9)] == [True, True, False]
    assert schedule.may_forward(9, 1)
    assert [schedule.ends_group(s) for s in (3, 4, 5, 9)] == [False, False, True, True]


def test_regions_follow_the_rule_order_workers_then_shards():
    regions, shards = place_data_parallel("snake", 3, 3, 2, 3, shards=True)
    assert regions == [[(0, 0), (0, 1)], [(0, 2), (1, 2)], [(1, 1), (1, 0)]]
    assert shards == [(2, 0), (2, 1)]
    regions, shards = place_data_parallel("row", 3, 3, 2, 2, shards=False)
    assert regions == [[(0, 0), (0, 1)], [(0, 2), (1, 0)]] and shards == []


@pytest.mark.parametrize("algorithm, workers", [("cp", 1), ("allreduce", 3), ("downpour", 2)])
def test_layout_lookups_are_the_scans_they_replace(algorithm, workers):
    """`Layout` answers from an index built once: the same PEs, in the same order, as a scan of `placed`."""
    from tests.builders import make, scenario_dict
    from wafersim.layout import layout

    options = {} if workers == 1 else {"workers": workers, "batch_size": 2}
    scenario = make(scenario_dict(algorithm=algorithm, samples=12, **options))
    placed = layout(scenario, 12, 60)
    every = placed.placed
    for role in ("layer", "worker", "shard"):
        assert placed.of_role(role) == [p for p in every if p.role == role]
        for k in range(1, scenario.n_layers + 1):
            assert placed.of_layer(role, k) == [p for p in every if p.role == role and p.layer == k]
    for w in range(1, workers + 2):
        assert placed.worker(w) == [p for p in every if p.role == "layer" or (p.role == "worker" and p.worker == w)]
    assert placed.worker(1) and placed.worker(1) is not placed.worker(1)  # a fresh list each time
