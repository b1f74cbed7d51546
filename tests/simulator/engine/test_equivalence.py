"""The compiled engine gives bitwise the event engine's results: shipped scenarios, variants, and random cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import UNIFORM_HARDWARE, assert_same_run, make, scenario_dict, with_engine
from wafersim import runner
from wafersim.config import load_scenario

ROOT = Path(__file__).resolve().parents[3]


def both(data: dict):
    """The run of scenario mapping `data` on each engine: (events, compiled)."""
    events = runner.run(make(with_engine(data, "events")), progress=False)
    compiled = runner.run(make(with_engine(data, "compiled")), progress=False)
    assert events.metrics["engine"]["used"] == "events"
    assert compiled.metrics["engine"]["used"] == "compiled"
    return events, compiled


@pytest.mark.parametrize("name", ["quickstart", "sgd", "mbgd", "cp-anchored", "allreduce"])
def test_shipped_scenarios(name):
    """Every shipped pipelined and all-reduce scenario, cut to 300 samples, on both engines."""
    results = []
    for engine in ("events", "compiled"):
        scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml",
                                 ["training.samples=300", "training.epochs=null", "training.eval_every=100",
                                  f"engine={engine}"])
        results.append(runner.run(scenario, progress=False))
    assert_same_run(*results)
    assert results[1].metrics["engine"] == {"requested": "compiled", "used": "compiled",
                                            "why": "the compiled engine runs this algorithm with identical results"}


SLOW_LINKS = {**UNIFORM_HARDWARE, "noc": {"hop_latency_cycles": 3, "link_bytes_per_cycle": 4, "contention": True}}


@pytest.mark.parametrize("training", [
    {"algorithm": "cp"},
    {"algorithm": "cp", "delta_rule": "anchored", "momentum": 0.9},
    {"algorithm": "cp", "in_flight_slack": 2, "lr_half_life_epochs": 0.5},
    {"algorithm": "sgd", "momentum": 0.5},
    {"algorithm": "mbgd", "batch_size": 4},
    {"algorithm": "mbgd", "batch_size": 3, "momentum": 0.9},
    {"algorithm": "mbgd", "batch_size": 1},
    {"algorithm": "cp", "optimizer": "adam"},  # the reference replay (not fused)
    {"algorithm": "mbgd", "batch_size": 4, "optimizer": "conjugate_gradient"},
    {"algorithm": "allreduce", "workers": 2},
    {"algorithm": "allreduce", "workers": 3, "batch_size": 2, "momentum": 0.9},
    {"algorithm": "allreduce", "workers": 4, "batch_size": 3, "lr_half_life_epochs": 0.5},
    {"algorithm": "allreduce", "workers": 1, "batch_size": 4},
    {"algorithm": "allreduce", "workers": 3, "optimizer": "adam"},
], ids=lambda t: "-".join(f"{k}={v}" for k, v in t.items()))
def test_variants_on_contended_links(training):
    assert_same_run(*both(scenario_dict(samples=37, hardware=SLOW_LINKS, **training)))


def test_timing_only():
    data = scenario_dict(layers=(8,) * 9, samples=60, hardware=SLOW_LINKS)
    assert_same_run(*both({**data, "timing_only": True}))


def test_all_reduce_timing_only_with_many_workers():
    """Seven workers of two layers on 14 of 16 PEs: long rings over contended links."""
    data = scenario_dict(layers=(8, 6, 4), algorithm="allreduce", workers=7, batch_size=2, samples=70,
                         hardware=SLOW_LINKS)
    assert_same_run(*both({**data, "timing_only": True}))


def test_all_reduce_divergence_stops_both_alike():
    """Weights that overflow after the first update: the first non-finite loss is a later worker's."""
    events, compiled = both(scenario_dict(algorithm="allreduce", workers=3, samples=60, learning_rate=1e20,
                                          layers=(8, 8, 4), hardware=SLOW_LINKS))
    assert events.status == "diverged"
    assert_same_run(events, compiled)


def test_all_reduce_chunks_that_overtake_each_other():
    """Chunks of 2, 3 and 3 floats at one byte per cycle and no contention: a later, smaller
    chunk on the same route arrives first, and waits until the one sent before it is taken."""
    hardware = {**UNIFORM_HARDWARE, "mesh": {"rows": 2, "cols": 2},
                "pe": {"macs_per_cycle": 1, "sram_bytes": 1 << 24, "op_overhead_cycles": 0},
                "noc": {"hop_latency_cycles": 0, "link_bytes_per_cycle": 1, "contention": False}}
    data = scenario_dict(layers=(3, 2), algorithm="allreduce", workers=3, samples=12, eval_every=1,
                         hardware=hardware)
    events, compiled = both(data)
    m = events.messages
    ring = np.nonzero(m["kind"] == 6)[0]  # in the order sent
    routes = {}
    for i in ring:
        routes.setdefault((m["src_row"][i], m["src_col"][i], m["dst_row"][i], m["dst_col"][i]), []).append(m["arrival"][i])
    assert any(np.any(np.diff(arrivals) < 0) for arrivals in routes.values())  # some chunk overtook another
    assert_same_run(events, compiled)


def test_no_bias_and_tanh():
    data = scenario_dict(samples=30, hardware=SLOW_LINKS)
    data["model"].update(bias=False, activation="tanh")
    assert_same_run(*both(data))


def test_divergence_stops_both_alike():
    """A learning rate that blows up: both engines stop at the same op with the same partial results."""
    events, compiled = both(scenario_dict(samples=60, learning_rate=1e4, hardware=SLOW_LINKS))
    assert events.status == "diverged"
    assert_same_run(events, compiled)


def _hardware(draw) -> dict:
    return {"name": "random", "clock_hz": 1.0e9, "mesh": {"rows": draw(st.integers(2, 4)), "cols": draw(st.integers(2, 4))},
            "pe": {"macs_per_cycle": draw(st.sampled_from([1, 7, 64, 10**6])), "sram_bytes": 1 << 24,
                   "op_overhead_cycles": draw(st.integers(0, 6))},
            "noc": {"hop_latency_cycles": draw(st.integers(0, 5)), "link_bytes_per_cycle": draw(st.sampled_from([1, 3, 32, 10**6])),
                    "contention": draw(st.booleans())}}


@st.composite
def cases(draw) -> dict:
    hardware = _hardware(draw)
    n_pes = hardware["mesh"]["rows"] * hardware["mesh"]["cols"]
    depth = draw(st.integers(1, min(5, n_pes)))
    widths = [draw(st.integers(2, 12)) for _ in range(depth)] + [draw(st.integers(2, 5))]
    algorithm = draw(st.sampled_from(["sgd", "cp", "cp-anchored", "mbgd", "allreduce"]))
    training = {"algorithm": algorithm.split("-")[0], "samples": draw(st.integers(1, 30)),
                "eval_every": draw(st.integers(1, 12)), "momentum": draw(st.sampled_from([0.0, 0.9])),
                "seed": draw(st.integers(0, 3))}
    if algorithm == "cp-anchored":
        training["delta_rule"] = "anchored"
    if algorithm in ("mbgd", "allreduce"):
        training["batch_size"] = draw(st.integers(1, 5))
    if algorithm == "allreduce":
        training["workers"] = draw(st.integers(1, n_pes // depth))
        training["samples"] = max(training["samples"], training["workers"])
    data = scenario_dict(layers=widths, hardware=hardware, **training)
    placement = draw(st.sampled_from(["snake", "row"] if algorithm == "allreduce" else ["snake", "row", "random"]))
    if placement == "random":
        cells = [[r, c] for r in range(hardware["mesh"]["rows"]) for c in range(hardware["mesh"]["cols"])]
        data["placement"] = draw(st.permutations(cells))[:depth]
    else:
        data["placement"] = placement
    data["timing_only"] = draw(st.booleans())
    return data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_cases(data):
    """Random hardware timings, placements, sizes, algorithms and seeds: the same results bit for bit."""
    assert_same_run(*both(data))


@pytest.mark.parametrize("training", [
    {"algorithm": "cp", "delta_rule": "anchored", "momentum": 0.9, "eval_every": 7},
    {"algorithm": "mbgd", "batch_size": 3, "eval_every": 5},
    {"algorithm": "allreduce", "workers": 3, "batch_size": 2, "eval_every": 6},
    {"algorithm": "cp", "optimizer": "adam"},
    {"algorithm": "cp", "learning_rate": 1e4},  # diverges part way
], ids=lambda t: "-".join(f"{k}={v}" for k, v in t.items()))
@pytest.mark.parametrize("timing_only", [False, True])
def test_the_pass_a_few_ops_ahead_of_the_replay(monkeypatch, training, timing_only):
    """The compiled engine runs its pass a chunk of ops at a time (memory flat in the samples);
    chunks of 5 ops, whose ends fall anywhere (in a gradient, before an evaluation), change nothing."""
    monkeypatch.setattr("wafersim.engine.session.CHUNK_OPS", 5)
    data = scenario_dict(samples=36, hardware=SLOW_LINKS, **training)
    assert_same_run(*both({**data, "timing_only": timing_only}))


def test_without_a_trace_the_chunks_are_dropped(monkeypatch):
    """Without a trace nothing of the logs is kept between chunks, and the results are the event engine's."""
    monkeypatch.setattr("wafersim.engine.session.CHUNK_OPS", 5)
    data = scenario_dict(samples=36, hardware=SLOW_LINKS, algorithm="mbgd", batch_size=2, eval_every=5)
    events = runner.run(make(with_engine(data, "events")), progress=False, trace=False)
    compiled = runner.run(make(with_engine(data, "compiled")), progress=False, trace=False)
    assert compiled.ops == {} and compiled.messages == {}
    assert_same_run(events, compiled)
