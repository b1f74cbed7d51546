"""Timing-only runs on layer regions: the compiled region pass against the event engine, in one process.

For a few balanced region networks (scenarios/mnist-balanced.yaml's on synthetic 784-feature
data, and a 12-layer 512-wide network over a 32 x 32 mesh of the same PEs) both engines run
the same timing-only scenario (no trace, no progress bar, no figures), each warmed up once
(Numba compilation and cache loading are not timed) and then timed `--repeats` times; the
best time counts. Printed per network: the blocks, the samples, the simulated events per
sample (ops started plus message deliveries), each engine's host seconds and events per
second, and the ratio compiled / events. The two runs are also checked to agree on every
cycle count (the tests check every bit).

Design target: the compiled pass at least 5 x the event engine on the 12-layer network.

Run from the repository root:

    python benchmarks/bench_regions.py [--samples N] [--repeats R]
"""

from __future__ import annotations

import argparse
import time

from wafersim.config import Scenario, load_scenario
from wafersim.runner import run

MESH_HARDWARE = {"name": "region-bench", "clock_hz": 1e9, "mesh": {"rows": 32, "cols": 32},
                 "pe": {"macs_per_cycle": 256, "sram_bytes": 1 << 20, "op_overhead_cycles": 4},
                 "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 32, "contention": True}}


def networks(samples: int) -> dict[str, Scenario]:
    base = ["timing_only=true", "training.epochs=null", f"training.samples={samples}", "dataset.name=synthetic",
            "dataset.path=null"]
    mnist = load_scenario("scenarios/mnist-balanced.yaml", base)
    deep = Scenario.model_validate({
        "name": "deep-regions", "hardware": MESH_HARDWARE, "placement": "balanced",
        "model": {"layers": {"input": 512, "hidden": [512], "repeat": 11, "output": 10}, "activation": "relu"},
        "dataset": {"name": "synthetic", "samples": samples + 50},
        "training": {"algorithm": "cp", "learning_rate": 0.01, "samples": samples, "eval_every": samples, "seed": 0},
        "timing_only": True})
    return {"mnist-balanced": mnist, "12 x 512 on 32 x 32": deep}


def timed(scenario: Scenario, engine: str, repeats: int) -> tuple[float, dict]:
    chosen = scenario.model_copy(update={"engine": engine})
    run(chosen.model_copy(update={"training": chosen.training.model_copy(update={"samples": 4})}), progress=False,
        trace=False)  # warm up: compilation, caches
    best, metrics = float("inf"), {}
    for _ in range(repeats):
        start = time.perf_counter()
        metrics = run(chosen, progress=False, trace=False).metrics
        best = min(best, time.perf_counter() - start)
    assert metrics["engine"]["used"] == engine
    return best, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{'network':24} {'blocks':>7} {'events/sample':>14} {'events s':>9} {'compiled s':>11} "
          f"{'Mevents/s ev':>13} {'Mevents/s c':>12} {'ratio':>6}")
    for name, scenario in networks(args.samples).items():
        t_events, m_events = timed(scenario, "events", args.repeats)
        t_compiled, m_compiled = timed(scenario, "compiled", args.repeats)
        assert m_events["total_cycles"] == m_compiled["total_cycles"], name
        blocks = len([p for p in m_compiled["pe_utilization"] if p["role"]])
        events = sum(p["ops"] for p in m_compiled["pe_utilization"]) + sum(
            kind["messages"] for kind in m_compiled["network"]["by_kind"].values())
        per = events / args.samples
        print(f"{name:24} {blocks:>7,} {per:>14,.0f} {t_events:>9.2f} {t_compiled:>11.2f} "
              f"{events / t_events / 1e6:>13.2f} {events / t_compiled / 1e6:>12.2f} {t_events / t_compiled:>6.1f}")
    print("(events: ops plus messages sent, a multicast counted once; the target: ratio >= 5 on 12 x 512)")


if __name__ == "__main__":
    main()
