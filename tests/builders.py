"""Small scenarios on hardware with simple, exact timing, shared by the tests."""

from __future__ import annotations

import copy

from simulator.config import Scenario

# Every op costs exactly 1 + 4 = 5 cycles (one MAC pass fits in a cycle) and every message
# between neighbours takes 0 * hops + ceil(bytes / 10**6) = 1 cycle: "uniform layers, no
# link latency" in the sense of the design notes.
UNIFORM_HARDWARE = {
    "name": "uniform-test",
    "clock_hz": 1.0e9,
    "mesh": {"rows": 4, "cols": 4},
    "pe": {"macs_per_cycle": 10**6, "sram_bytes": 1 << 24, "op_overhead_cycles": 4},
    "noc": {"hop_latency_cycles": 0, "link_bytes_per_cycle": 10**6, "contention": False},
}


def scenario_dict(layers=(8, 8, 8, 4), algorithm="cp", samples=40, hardware=None, dataset_samples=80, **training):
    """A scenario mapping: synthetic data shaped by `layers`, uniform hardware unless given."""
    return {
        "name": f"test-{algorithm}",
        "hardware": copy.deepcopy(hardware or UNIFORM_HARDWARE),
        "placement": "snake",
        "model": {"layers": list(layers), "activation": "relu", "init": "glorot", "bias": True},
        "dataset": {"name": "synthetic", "samples": dataset_samples, "test_fraction": 0.25},
        "training": {"algorithm": algorithm, "learning_rate": 0.05, "samples": samples, "eval_every": 20,
                     "seed": 0, **training},
    }


def make(data: dict) -> Scenario:
    return Scenario.model_validate(data)
