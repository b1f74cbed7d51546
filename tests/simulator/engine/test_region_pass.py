"""The compiled timing pass of layer regions gives bitwise the event engine's timing-only runs, and pauses and cuts cleanly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import UNIFORM_HARDWARE, assert_same_run, in_steps, make, random_hardware, with_engine
from tests.simulator.algorithms.test_region_program import (CONV_SPLIT, SCHEDULES, SPLIT, WIDE, WIDE_MESH,
                                                            conv_on_regions, on_regions)
from wafersim import runner
from wafersim.config import ConfigError, load_scenario
from wafersim.engine import choose
from wafersim.engine.pipeline_pass import DONE, STOPPED
from wafersim.engine.region_plan import RegionPlan

ROOT = Path(__file__).resolve().parents[3]
SLOW_LINKS = {**UNIFORM_HARDWARE, "noc": {"hop_latency_cycles": 3, "link_bytes_per_cycle": 4, "contention": True}}


def timing_only(data: dict) -> dict:
    return {**data, "timing_only": True}


def both(data: dict):
    """The run of scenario mapping `data` on each engine, with its trace: (events, compiled)."""
    events = runner.run(make(with_engine(data, "events")), progress=False)
    compiled = runner.run(make(with_engine(data, "compiled")), progress=False)
    assert (events.metrics["engine"]["used"], compiled.metrics["engine"]["used"]) == ("events", "compiled")
    return events, compiled


@pytest.mark.parametrize("algorithm, extra", SCHEDULES)
def test_split_regions_on_contended_links(algorithm, extra):
    """Rows of 3 and 2 blocks, a column of 3, multicasts and partial sums over slow, contended links."""
    events, compiled = both(timing_only(on_regions(SPLIT, algorithm, hardware=SLOW_LINKS, samples=25, **extra)))
    assert_same_run(events, compiled)
    assert compiled.metrics["network"]["by_kind"]["partial sums"]["messages"] == 25 * 5


@pytest.mark.parametrize("algorithm, extra", SCHEDULES)
def test_wide_regions_add_along_the_same_trees(algorithm, extra):
    """Rows of 8, 6 and 5 blocks, a column of 5: tree sums whose messages cross 1, 2 and 4 links."""
    events, compiled = both(timing_only(on_regions(WIDE, algorithm, hardware={**SLOW_LINKS, "mesh": WIDE_MESH["mesh"]},
                                                   samples=20, **extra)))
    assert_same_run(events, compiled)


@settings(max_examples=10, deadline=None)
@given(hardware=random_hardware())
def test_split_regions_on_random_hardware(hardware):
    """Any op and link costs (zero-latency hops, one-byte links, contention or not): the same run."""
    assert_same_run(*both(timing_only(on_regions(SPLIT, "cp", hardware=hardware, samples=12))))


def test_balanced_regions_on_a_larger_mesh():
    data = on_regions("balanced", "cp", hardware={**SLOW_LINKS, "mesh": {"rows": 8, "cols": 8}}, samples=30)
    events, compiled = both(timing_only(data))
    assert_same_run(events, compiled)
    assert sum(row["region"]["pes"] for row in compiled.metrics["layers"]) > 8


@pytest.mark.parametrize("placement, grouping", [(CONV_SPLIT, "none"), ([[0, 0, 3, 1], [0, 1, 2, 1], [0, 2, 1, 1]],
                                                                       "conv_pool")], ids=["conv", "conv_pool"])
def test_convolutions_split_by_channels(placement, grouping):
    assert_same_run(*both(timing_only(conv_on_regions(placement, "cp", grouping=grouping))))


def test_the_shipped_balanced_digits_scenario():
    results = [runner.run(load_scenario(ROOT / "scenarios" / "digits-balanced.yaml",
                                        ["training.samples=120", "training.epochs=null", "timing_only=true",
                                         f"engine={engine}"]), progress=False) for engine in ("events", "compiled")]
    assert_same_run(*results)


def test_a_stalled_network_stalls_alike():
    """A top layer split by channels (validation refuses it) waits for ever on either engine."""
    events, compiled = both(timing_only(conv_on_regions([[0, 0, 3, 1], [0, 1, 2, 1], [0, 2, 5, 1]],
                                                        grouping="conv_pool")))
    assert compiled.status == "stalled"
    assert_same_run(events, compiled)


def test_auto_times_regions_on_the_compiled_engine_and_trains_them_on_the_event_engine():
    def choice(data):
        scenario = make(data)
        return choose(scenario, runner.prepare(scenario, "test").layout, False)

    assert choice(timing_only(on_regions(SPLIT))).used == "compiled"
    arithmetic = choice(on_regions(SPLIT))
    assert (arithmetic.used, arithmetic.why) == ("events", "the compiled engine times layer regions without "
                                                 "arithmetic (timing_only: true); with arithmetic they run on the "
                                                 "event engine")


def plan_of(data: dict) -> RegionPlan:
    scenario = make(timing_only(data))
    return RegionPlan.of(scenario, runner.prepare(scenario, "test").layout)


def test_a_cut_at_an_op_is_a_prefix():
    """Stopped before op i, the pass has exactly the first i ops of the whole pass, at the cycle op i starts."""
    plan = plan_of(on_regions(SPLIT, "cp", hardware=SLOW_LINKS, samples=10))
    whole = plan.run()
    assert whole.status == DONE and whole.samples_trained == 10
    for i in (0, 1, 17, 200, whole.n_ops - 1):
        cut = plan.run(max_ops=i)
        assert cut.status == STOPPED and cut.n_ops == i
        assert np.array_equal(cut.op_kind, whole.op_kind[:i]) and np.array_equal(cut.op_start, whole.op_start[:i])
        assert cut.now == whole.op_start[i]


@pytest.mark.parametrize("chunk", [1, 13, 500])
def test_a_pass_in_steps_is_the_whole_pass(chunk):
    """Paused every `chunk` ops (and whenever the message log fills) and resumed: the same logs and counters."""
    plan = plan_of(on_regions(SPLIT, "mbgd", hardware=SLOW_LINKS, samples=12, batch_size=4))
    whole = plan.run()
    run = plan.begin()
    steps = in_steps(run, chunk)
    assert all(len(s.op_kind) <= chunk for s in steps)
    for name in ("op_layer", "op_kind", "op_tag", "op_start", "op_end"):
        assert np.array_equal(np.concatenate([getattr(s, name) for s in steps]), getattr(whole, name)), name
    assert np.array_equal(np.concatenate([s.messages for s in steps], axis=1), whole.messages)
    last = run.timeline()
    assert last.status == DONE and np.array_equal(last.totals, whole.totals)
    for name in ("busy_cycles", "sram_peak", "stale_value", "link_busy", "traffic", "eval_ops"):
        assert np.array_equal(getattr(last, name), getattr(whole, name)), name


@settings(max_examples=12, deadline=None)
@given(hardware=random_hardware(), data=st.data())
def test_balanced_regions_of_any_shape_on_random_hardware(hardware, data):
    """Random widths, mesh and PE budget, balanced (any R x C the planner picks, chains of any length)
    under a random schedule: the compiled pass is the event engine, run for run."""
    widths = tuple(data.draw(st.integers(2, 12)) for _ in range(data.draw(st.integers(3, 5))))
    rows, cols = data.draw(st.integers(2, 6)), data.draw(st.integers(2, 6))
    algorithm, extra = data.draw(st.sampled_from(SCHEDULES))
    scenario = on_regions("balanced", algorithm, hardware={**hardware, "mesh": {"rows": rows, "cols": cols}},
                          samples=10, **extra)
    scenario["model"]["layers"] = list(widths)
    scenario["region_pes"] = data.draw(st.integers(len(widths) - 1, rows * cols))
    try:
        runner.prepare(make(timing_only(scenario)), "s")
    except ConfigError:  # the regions do not pack on this mesh: nothing to compare
        return
    assert_same_run(*both(timing_only(scenario)))


def test_a_case_the_pass_does_not_model_runs_on_the_event_engine_and_says_why(monkeypatch):
    """Queues of one slot (a pass that would overflow): the run falls back to the model of record,
    whose result it is, and metrics.json says why."""
    from wafersim.engine import region_pass

    data = timing_only(on_regions(SPLIT, "cp", samples=12))
    expected = runner.run(make(with_engine(data, "events")), progress=False)
    of = RegionPlan.of.__func__

    def tiny_queues(cls, scenario, layout):
        plan = of(cls, scenario, layout)
        plan.st[:, region_pass.S_CAP] = 1
        return plan

    monkeypatch.setattr(RegionPlan, "of", classmethod(tiny_queues))
    fallen = runner.run(make(data), progress=False)
    assert fallen.metrics["engine"] == {"requested": "auto", "used": "events", "why": (
        "the compiled timing pass met a case it does not model (a queue overflowed); the event engine ran it")}
    assert_same_run(expected, fallen)
