"""Which engine runs: auto picks the compiled engine where it applies and says why not otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import assert_same_run, make, scenario_dict, with_engine
from wafersim import runner
from wafersim.config import ConfigError
from wafersim.engine import choose
from wafersim.engine.replay import Replay
from wafersim.engine.fused import FusedReplay


def chosen(data: dict, checkpointing: bool = False):
    scenario = make(data)
    return choose(scenario, runner.prepare(scenario, "test").layout, checkpointing)


@pytest.mark.parametrize("training", [{"algorithm": "sgd"}, {"algorithm": "cp"}, {"algorithm": "mbgd"},
                                      {"algorithm": "allreduce", "workers": 3}], ids=lambda t: t["algorithm"])
def test_auto_picks_compiled_for_pipelines_and_all_reduce(training):
    choice = chosen(scenario_dict(**training))
    assert (choice.requested, choice.used) == ("auto", "compiled")


@pytest.mark.parametrize("algorithm", ["asgd", "hogwild", "downpour"])
def test_auto_falls_back_for_parameter_servers_and_says_why(algorithm):
    choice = chosen(scenario_dict(algorithm=algorithm, layers=(8, 4), workers=2))
    assert choice.used == "events"
    assert choice.why == (f"algorithm {algorithm} is a parameter-server algorithm; the compiled engine runs sgd, cp, "
                          "mbgd and allreduce")


def test_checkpoints_every_n_samples_need_the_event_engine():
    assert chosen(scenario_dict(), checkpointing=True).describe() == {
        "requested": "auto", "used": "events", "why": "checkpoints save the event engine's state"}


def test_events_on_request():
    assert chosen(with_engine(scenario_dict(), "events")).why == "the scenario asks for the event engine"


def test_compiled_refuses_what_it_cannot_run():
    scenario = make(with_engine(scenario_dict(algorithm="hogwild", layers=(8, 4), workers=2), "compiled"))
    with pytest.raises(ConfigError) as info:
        runner.run(scenario, source="s.yaml", progress=False)
    assert str(info.value) == ("s.yaml: 1 problem(s) in the configuration:\n  - engine: the compiled engine cannot "
                               "run this scenario: algorithm hogwild is a parameter-server algorithm; the compiled "
                               "engine runs sgd, cp, mbgd and allreduce; use engine: auto (or events)")


def test_unknown_engine_is_refused():
    with pytest.raises(Exception, match="engine"):
        make(with_engine(scenario_dict(), "fast"))


@pytest.mark.parametrize("training", [{"momentum": 0.9, "delta_rule": "anchored"}, {"learning_rate": 0.2},
                                      {"algorithm": "allreduce", "workers": 3, "batch_size": 2, "momentum": 0.9},
                                      {"algorithm": "allreduce", "workers": 2}],
                         ids=["cp-anchored-momentum", "cp-streamed", "allreduce-momentum", "allreduce"])
def test_fused_and_reference_replays_agree(monkeypatch, training):
    """The fused loop and the op-by-op replay on the layer objects give the same bits."""
    data = with_engine(scenario_dict(samples=45 if "workers" not in training else 42, **training), "compiled")
    used = []
    original = FusedReplay.run
    monkeypatch.setattr(FusedReplay, "run", lambda self, *a: used.append(1) or original(self, *a))
    fused = runner.run(make(data), progress=False)
    assert used
    monkeypatch.setattr("wafersim.engine.session.fusable", lambda layers: False)
    reference = runner.run(make(data), progress=False)
    assert_same_run(fused, reference)


def test_interrupt_during_the_replay_keeps_a_consistent_prefix(monkeypatch):
    """Ctrl-C part way: the result is marked interrupted and holds the first ops of the full run,
    counters cut where the next op would have started."""
    data = with_engine(scenario_dict(samples=60), "compiled")
    data["training"]["eval_every"] = 10
    full = runner.run(make(data), progress=False)
    calls = []
    original = FusedReplay.run

    def interrupted(self, tl, start, stop):
        calls.append(start)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, tl, start, stop)

    monkeypatch.setattr(FusedReplay, "run", interrupted)
    cut = runner.run(make(data), progress=False)
    assert cut.status == "interrupted"
    n = len(cut.ops["kind"])
    assert n == calls[-1] and 0 < n < len(full.ops["kind"])
    for key in ("layer", "kind", "sample", "start"):
        assert np.array_equal(cut.ops[key], full.ops[key][:n])
    assert cut.metrics["total_cycles"] == full.ops["start"][n]
    assert cut.message == f"interrupted at cycle {full.ops['start'][n]} by SIGINT"
    assert cut.curve == full.curve[: len(cut.curve)] and len(cut.curve) < len(full.curve)


def test_reference_replay_is_used_beyond_sgd_and_momentum(monkeypatch):
    used = []
    original = Replay.run
    monkeypatch.setattr(Replay, "run", lambda self, *a: used.append(1) or original(self, *a))
    runner.run(make(with_engine(scenario_dict(samples=10, optimizer="adam"), "compiled")), progress=False)
    assert used
