"""The algorithm table: each algorithm declares its own keys, family and schedule; op priority is a schedule's question."""

from __future__ import annotations

import pytest
from tests.builders import UNIFORM_HARDWARE, make, scenario_dict

from wafersim.algorithms import ALGORITHMS, ContinuousPropagation
from wafersim.algorithms.base import NoOptions
from wafersim.algorithms.cp import CPOptions
from wafersim.algorithms.registry import PIPELINE, Algorithm, registry
from wafersim.config import TrainingConfig
from wafersim.runner import run


def test_every_algorithm_key_is_a_training_key():
    keys = set(TrainingConfig.model_fields)
    for algorithm in ALGORITHMS.values():
        assert set(algorithm.keys()) <= keys, algorithm.name


def test_the_registry_refuses_a_name_twice_and_a_key_declared_two_ways():
    a = Algorithm(name="a", summary="", options=NoOptions, family=PIPELINE)
    with pytest.raises(ValueError, match="registered twice"):
        registry(a, a)

    from pydantic import Field

    from wafersim.schema import Strict

    class Other(Strict):
        delta_rule: int = Field(default=0)

    with pytest.raises(ValueError, match="declares training.delta_rule unlike another algorithm"):
        registry(Algorithm(name="cp", summary="", options=CPOptions, family=PIPELINE),
                 Algorithm(name="b", summary="", options=Other, family=PIPELINE))


def test_options_hold_the_algorithms_own_keys():
    training = make(scenario_dict(algorithm="cp", delta_rule="anchored", in_flight_slack=2)).training
    assert training.options == CPOptions(delta_rule="anchored", in_flight_slack=2)


class BackwardFirst(ContinuousPropagation):
    """CP with a free PE preferring a waiting backward over a forward (a 1F1B-style choice)."""

    priority = ("U", "B", "F")


def test_op_priority_is_the_schedules_question(monkeypatch):
    """With the default U, F, B the generic picker loop gives the inlined fast path's trace; with
    B before F the trace differs and every sample still trains."""
    from wafersim.algorithms import cp, pipeline

    # Slow PEs make the 32-wide layers the bottleneck, so inputs and deltas wait at once.
    hardware = {**UNIFORM_HARDWARE, "pe": {"macs_per_cycle": 4, "sram_bytes": 1 << 24, "op_overhead_cycles": 1}}
    scenario = make(scenario_dict(layers=(8, 32, 32, 4), samples=12, hardware=hardware))
    default = run(scenario, progress=False)
    monkeypatch.setattr(pipeline, "DEFAULT_PRIORITY", ("never",))  # force the generic loop
    generic = run(scenario, progress=False)
    assert default.ops["start"].tolist() == generic.ops["start"].tolist()
    assert default.ops["kind"].tolist() == generic.ops["kind"].tolist()
    monkeypatch.setattr(cp, "ContinuousPropagation", BackwardFirst)  # what cp's registered schedule builds
    swapped = run(scenario, progress=False)
    assert swapped.metrics["samples_trained"] == 12
    assert swapped.ops["kind"].tolist() != default.ops["kind"].tolist()
    # Backwards first drain the layers sooner: no layer holds more samples than with forwards first.
    for fast, slow in zip(swapped.metrics["layers"], default.metrics["layers"]):
        assert fast["max_in_flight"] <= slow["max_in_flight"]
