"""Runs at wafer scale: the cost estimate, refusing what cannot fit, and memory that follows the PEs in use."""

from __future__ import annotations

import pytest
from tests.builders import make, scenario_dict

from wafersim import estimate, runner
from wafersim.config import ConfigError
from wafersim.plots.mesh import view


def _wafer(rows=100_000, cols=100_000, samples=12, **training):
    hardware = {"name": "wafer", "clock_hz": 1.0e9, "mesh": {"rows": rows, "cols": cols},
                "pe": {"macs_per_cycle": 64, "sram_bytes": 1 << 20, "op_overhead_cycles": 4},
                "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 16, "contention": True}}
    return make(scenario_dict(layers=(8, 8, 8, 4), samples=samples, hardware=hardware, **training))


def test_a_wafer_sized_mesh_validates_and_runs_with_the_pes_it_uses():
    """10^10 PEs: placement walks only the PEs it needs; metrics list only the PEs in use."""
    result = runner.run(_wafer(), progress=False)
    m = result.metrics
    assert m["pe_utilization_lists"] == "the PEs in use"
    assert [(p["row"], p["col"]) for p in m["pe_utilization"]] == [(0, 0), (0, 1), (0, 2)]
    assert m["mesh_utilization"] == pytest.approx(sum(p["utilization"] for p in m["pe_utilization"]) / 10**10)
    assert view(m) == (0, 1, 0, 3)  # the map draws the PEs in use with a margin of one PE


def test_a_small_mesh_still_lists_every_pe():
    m = runner.run(make(scenario_dict(samples=8)), progress=False).metrics
    assert m["pe_utilization_lists"] == "every PE" and len(m["pe_utilization"]) == 16


def test_the_estimate_grows_with_the_samples_and_counts_the_events():
    small, large = (runner.prepare(_wafer(samples=n), "s").cost for n in (10, 1000))
    assert large.events > 50 * small.events and large.host_bytes > small.host_bytes
    assert "simulated events" in large.describe()


def test_a_run_larger_than_the_memory_available_is_refused_unless_allowed(monkeypatch):
    monkeypatch.setattr(estimate, "available_memory", lambda: 100 << 20)  # a 100 MB machine
    with pytest.raises(ConfigError, match=r"but this machine has 100.0 MB available; lower training.samples .* "
                                          r"pass --allow-large"):
        runner.prepare(_wafer(), "wafer.yaml")
    allowed = make({**scenario_dict(layers=(8, 8, 8, 4), samples=12), "allow_large": True})
    assert runner.prepare(allowed, "wafer.yaml").cost.host_bytes > 100 << 20


def test_unknown_available_memory_refuses_nothing(monkeypatch):
    monkeypatch.setattr(estimate, "available_memory", lambda: None)
    assert runner.prepare(_wafer(), "s").cost.host_bytes > 0


def test_the_estimate_follows_the_engine_and_the_trace():
    """The compiled engine keeps ~130 bytes per record against ~330 and spends a tenth of the time
    per event; without a trace no record is kept (timing-only) or only the replay's op log."""
    base = scenario_dict(layers=(8, 8, 8, 4), samples=2000)
    events = runner.prepare(make({**base, "engine": "events"}), "s").cost
    compiled = runner.prepare(make(base), "s").cost
    assert compiled.events == events.events
    trace = "op and message trace"
    assert events.parts[trace] == events.events * estimate.BYTES_PER_RECORD
    assert compiled.parts[trace] == compiled.events * estimate.COMPILED_BYTES_PER_RECORD
    assert compiled.seconds < events.seconds
    bare = runner.prepare(make({**base, "timing_only": True}), "s", trace=False).cost
    assert bare.parts[trace] == 0
    replay = runner.prepare(make(base), "s", trace=False).cost
    assert 0 < replay.parts[trace] < compiled.parts[trace]


@pytest.mark.parametrize("synthetic", [{}, {"conditioned": True}, {"placement": "neighbour", "conditioned": True}])
def test_the_estimate_counts_every_op_and_message_of_a_dni_run(synthetic):
    """F, B and U per layer, G and T per interface, and the messages: activations, deltas, labels, and
    h_k and predictions when the modules have PEs of their own."""
    data = scenario_dict(algorithm="dni", samples=20)
    data["training"]["synthetic"] = synthetic
    scenario = make(data)
    result = runner.run(scenario, progress=False)
    assert runner.prepare(scenario, "s").cost.events == len(result.ops["kind"]) + len(result.messages["kind"])


def test_a_region_runs_events_are_estimated_from_its_blocks():
    """On layer regions every block's ops and the pieces it receives count: the estimate is within 15%
    of the ops and message records the run logs."""
    import copy

    from tests.builders import make, scenario_dict
    from wafersim.runner import prepare, run

    data = scenario_dict(layers=(8, 6, 5, 4), algorithm="cp", samples=30)
    data["placement"] = copy.deepcopy([[0, 0, 2, 3], [0, 3, 3, 1], [2, 0, 1, 2]])
    s = make(data)
    result = run(s, progress=False)
    actual = len(result.ops["kind"]) + len(result.messages["kind"])
    assert abs(prepare(s, "s").cost.events - actual) <= 0.15 * actual


def test_a_timing_only_region_run_on_the_compiled_engine_counts_its_blocks_and_the_links_they_span(monkeypatch):
    """Every block's objects and the pass's row for every link of the regions' bounding box (with the
    port's column), and their setup time; a trace adds the op and message logs and names --no-figures."""
    import copy

    data = {**scenario_dict(layers=(8, 6, 5, 4), samples=30), "timing_only": True}
    data["placement"] = copy.deepcopy([[0, 0, 2, 3], [0, 3, 3, 1], [2, 0, 1, 2]])  # rows 0-2, columns 0-3
    cost = runner.prepare(make(data), "s", trace=False).cost
    assert cost.parts["PEs"] == 11 * estimate.REGION_BYTES_PER_BLOCK + 3 * 5 * 4 * estimate.REGION_BYTES_PER_LINK
    assert cost.parts["op and message trace"] == 0
    assert cost.seconds == pytest.approx(cost.events * estimate.COMPILED_SECONDS_PER_EVENT
                                         + 11 * estimate.REGION_SECONDS_PER_BLOCK)
    monkeypatch.setattr(estimate, "available_memory", lambda: 1 << 20)
    with pytest.raises(ConfigError, match=r"workers or run without figures \(--no-figures: no op and message trace\)"):
        runner.prepare(make(data), "s", trace=True)
