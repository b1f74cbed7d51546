"""Ring all-reduce: equal to MBGD of the global batch, independent of timing, cycles from real messages."""

from __future__ import annotations

import numpy as np
import pytest

from wafersim.runner import run
from tests.builders import make, scenario_dict
from tests.simulator.algorithms.test_mbgd import TIMINGS


def _run(**kw):
    return run(make(scenario_dict(**kw)), progress=False)


def test_one_worker_is_mbgd_bit_for_bit():
    mbgd = _run(algorithm="mbgd", batch_size=4, samples=40, momentum=0.5)
    ring = _run(algorithm="allreduce", batch_size=4, samples=40, momentum=0.5)
    for name in mbgd.weights:
        np.testing.assert_array_equal(ring.weights[name], mbgd.weights[name], err_msg=name)


@pytest.mark.parametrize("workers, batch", [(2, 4), (3, 2), (4, 3)])
def test_n_workers_of_batch_b_equal_mbgd_of_batch_nb_to_float32_rounding(workers, batch):
    """Same samples in every step (the global batch of N*B is split into N contiguous shares), but
    each chunk is summed in ring order, ((g_c + g_c+1) + ...), where MBGD sums sample by sample:
    equal to float32 rounding, not bitwise."""
    samples = workers * batch * 4
    mbgd = _run(algorithm="mbgd", batch_size=workers * batch, samples=samples, momentum=0.5)
    ring = _run(algorithm="allreduce", workers=workers, batch_size=batch, samples=samples, momentum=0.5)
    for name in mbgd.weights:
        np.testing.assert_allclose(ring.weights[name], mbgd.weights[name], rtol=2e-5, atol=1e-6, err_msg=name)
    assert np.abs(ring.weights["W2"] - ring.weights["W2_init"]).max() > 1e-3  # training moved the weights
    assert ring.metrics["samples_trained"] == samples
    assert ring.metrics["mean_staleness"] == 0.0


@pytest.mark.parametrize("timing", ["hop latency 9", "no contention", "narrow links", "slow PEs"])
def test_weights_do_not_depend_on_timing(timing):
    """The ring order is fixed, so the sums, and the weights, are the same bit for bit on any hardware."""
    base = _run(algorithm="allreduce", workers=3, batch_size=4, samples=36, hardware=TIMINGS["hop latency 1"])
    other = _run(algorithm="allreduce", workers=3, batch_size=4, samples=36, hardware=TIMINGS[timing])
    for name in base.weights:
        np.testing.assert_array_equal(other.weights[name], base.weights[name], err_msg=name)
    assert other.metrics["total_cycles"] != base.metrics["total_cycles"]


def test_ring_messages_and_reduce_ops_per_step():
    """Per step and layer, each of N workers sends 2(N-1) chunks and adds N-1 of them (op R)."""
    workers, steps, layers = 3, 3, 3
    result = _run(algorithm="allreduce", workers=workers, batch_size=4, samples=workers * 4 * steps)
    ring = result.metrics["network"]["by_kind"]["all-reduce chunks"]
    assert ring["messages"] == steps * layers * workers * 2 * (workers - 1)
    ops = result.ops
    assert int(np.sum(ops["kind"] == 4)) == steps * layers * workers * (workers - 1)
    assert int(np.sum(ops["kind"] == 2)) == steps * layers * workers  # every worker applies every update


def test_samples_are_cut_to_a_multiple_of_the_workers():
    result = _run(algorithm="allreduce", workers=3, batch_size=4, samples=40)
    assert result.metrics["samples_planned"] == 39 and result.metrics["samples_trained"] == 39


def test_a_layer_s_workers_share_one_ring():
    """One ring (PEs, chunks, their bytes and cycles) per layer, not one per worker: setup stays linear in N."""
    from wafersim.algorithms.allreduce import RingLayer
    from wafersim.assemble import assemble
    from wafersim.hardware.chip import Chip
    from wafersim.runner import prepare, sample_order
    from wafersim.training.model import init_params
    from wafersim.algorithms.pipeline import Recorder

    scenario = make(scenario_dict(algorithm="allreduce", workers=3, batch_size=2, samples=12))
    prepared = prepare(scenario, "test")
    chip = Chip(scenario.hardware)
    weights, biases = init_params(scenario.model, 0)
    recorder = Recorder(scenario.n_layers, prepared.n_samples, lambda _: None)
    order = sample_order(len(prepared.data.y_train), prepared.n_samples, 0)
    programs, _, _ = assemble(scenario, prepared.layout, prepared.data, order, chip, weights, biases, recorder)
    for k in range(1, scenario.n_layers + 1):
        workers = [programs[p.coord] for p in prepared.layout.of_layer("worker", k)]
        assert all(isinstance(p, RingLayer) for p in workers) and len(workers) == 3
        assert len({id(p.chunks) for p in workers}) == 1 and len({id(p.cycles_R) for p in workers}) == 1
        assert [p.next_pe for p in workers] == [q.coord for q in workers[1:] + workers[:1]]
        params = prepared.layout.worker(1)[k - 1].shape.param_count
        assert workers[0].chunks[0].start == 0 and workers[0].chunks[-1].stop == params
