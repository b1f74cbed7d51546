"""Throughput of continuous propagation (CP, batch size 1): simulator against the arithmetic floor.

For two networks,

    wide  784-256-256-10 MLP (3 layers)
    deep  16 layers of 128->128 (model.layers = [128] * 17, so every layer, the top one
          included, is 128 wide; the synthetic data then has 128 features and 128 classes)

five ways of training the same samples are timed in one process, wall clock, samples per
second of host time:

    full       `wafersim.runner.run` with arithmetic (timing_only: false), no op trace, no
               progress bar, on the event engine (engine: events): the event-driven
               simulation of the mesh doing the real training, the model of record;
    timing     the same scenario with timing_only: true (events and cycle accounting only);
    compiled   the full scenario on the compiled engine (engine: compiled): the Numba timing
               pass, then the fused replay of the arithmetic; the same results bit for bit;
    c-timing   the timing-only scenario on the compiled engine (the timing pass alone);
    floor      `wafersim_kernels.train_sgd`, the fused batch-1 Numba loop, over the same data, the same
               sample order and the same initial weights, with no simulation at all.

The floor is the cost of the arithmetic alone, so full/floor is the fraction of the
arithmetic-bound speed the simulator reaches. Design targets: full >= 0.5 x floor (wide)
and 0.3 x (deep); compiled >= 0.9 x (wide) and 0.8 x (deep). timing/floor shows what the
event machinery costs on its own.

Each network and mode is warmed up first with a short run (so Numba compilation and cache
loading are not timed), then timed `--repeats` times over `--samples` samples; the best
time is reported. The full and timing figures cover the whole `run` call: the simulation
plus a fixed cost per call (data generation, placement, initialisation, one test-set
evaluation at the end, the metrics) that the default 10,000 samples amortise. The floor
figure covers the `train_sgd` call only.

Also printed, from the full run's metrics: simulated cycles per sample (total_cycles /
samples), mean utilization of the PEs holding layers, and simulated events per sample,
counted as op completions plus message deliveries (the deferred same-cycle decisions a PE
may schedule are not counted).

Run from the repository root:

    python benchmarks/bench_cp.py [--samples N] [--repeats R] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import numba

from wafersim_kernels import train_sgd
from wafersim.config import Scenario
from wafersim.runner import n_samples_of, run, sample_order
from wafersim.training.data import load_dataset
from wafersim.training.model import init_params

NETWORKS = {
    "wide": [784, 256, 256, 10],
    "deep": [128] * 17,
}

HARDWARE = {
    "name": "bench-4x4",
    "clock_hz": 1.0e9,
    "mesh": {"rows": 4, "cols": 4},
    "pe": {"macs_per_cycle": 256, "sram_bytes": 64 << 20, "op_overhead_cycles": 4},
    "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 32, "contention": True},
}

LEARNING_RATE = 0.005
SEED = 0
TEST_FRACTION = 0.2
WARMUP_SAMPLES = 50
MODES = ("full", "timing", "compiled", "c-timing", "floor")
SIMULATED = {"full": ("events", False), "timing": ("events", True), "compiled": ("compiled", False),
             "c-timing": ("compiled", True)}  # mode -> (engine, timing_only)
TARGETS = {"wide": {"full": 0.5, "compiled": 0.9}, "deep": {"full": 0.3, "compiled": 0.8}}


def make_scenario(network: str, samples: int, dataset_samples: int, timing_only: bool,
                  engine: str = "events") -> Scenario:
    """A CP scenario on synthetic data; one evaluation, at the end of the run."""
    return Scenario.model_validate({
        "name": f"bench-cp-{network}",
        "hardware": HARDWARE,
        "placement": "snake",
        "model": {"layers": NETWORKS[network], "activation": "relu", "init": "glorot", "bias": True},
        "dataset": {"name": "synthetic", "samples": dataset_samples, "test_fraction": TEST_FRACTION},
        "training": {"algorithm": "cp", "learning_rate": LEARNING_RATE, "momentum": 0.0, "batch_size": 1,
                     "samples": samples, "eval_every": samples, "seed": SEED},
        "timing_only": timing_only,
        "engine": engine,
    })


def floor_inputs(scenario: Scenario):
    """The data, sample order and initial weights `run` uses for this scenario."""
    t, m, d = scenario.training, scenario.model, scenario.dataset
    data = load_dataset(d.name, d.path, d.test_fraction, d.seed(t.seed),
                        n_features=m.layers[0], n_classes=m.layers[-1], samples=d.samples)
    order = sample_order(len(data.y_train), n_samples_of(scenario, len(data.y_train)), t.seed)
    weights, biases = init_params(m, t.seed)
    return data, order, weights, biases


def time_simulation(scenario: Scenario) -> tuple[float, dict]:
    """Seconds for one `run` of the scenario, and its metrics."""
    start = time.perf_counter()
    result = run(scenario, source=scenario.name, progress=False, trace=False)
    seconds = time.perf_counter() - start
    if result.status != "completed":
        raise RuntimeError(f"{scenario.name}: run stopped early: {result.message}")
    return seconds, result.metrics


def time_floor(scenario: Scenario, inputs) -> tuple[float, float]:
    """Seconds for `train_sgd` over the run's samples from fresh initial weights, and the mean loss."""
    data, order, weights, biases = inputs
    weights = [W.copy() for W in weights]
    biases = [b.copy() for b in biases]
    start = time.perf_counter()
    losses = train_sgd(weights, biases, data.X_train, data.y_train, order, scenario.training.learning_rate,
                       scenario.model.activation)
    seconds = time.perf_counter() - start
    if not np.all(np.isfinite(losses)):
        raise RuntimeError(f"{scenario.name}: the floor loop diverged")
    return seconds, float(np.mean(losses))


def _figures(metrics: dict) -> tuple:
    """What the two engines must agree on, in a benchmark's metrics (the tests check everything)."""
    return (metrics["total_cycles"], metrics["final_test_accuracy"], metrics["final_train_loss"],
            metrics["mean_utilization"])


def events_per_sample(metrics: dict) -> float:
    ops = sum(row["ops"] for row in metrics["pe_utilization"])
    return (ops + metrics["network"]["messages"]) / metrics["samples_trained"]


def bench_network(network: str, samples: int, dataset_samples: int, repeats: int) -> dict:
    """Warm up, then time the modes `repeats` times each, interleaved; keep the best of each."""
    scenarios = {mode: make_scenario(network, samples, dataset_samples, timing, engine)
                 for mode, (engine, timing) in SIMULATED.items()}
    inputs = floor_inputs(scenarios["full"])

    for engine, timing in SIMULATED.values():
        time_simulation(make_scenario(network, WARMUP_SAMPLES, dataset_samples, timing, engine))
    warm = make_scenario(network, WARMUP_SAMPLES, dataset_samples, False)
    time_floor(warm, floor_inputs(warm))

    best = {mode: float("inf") for mode in MODES}
    metrics: dict[str, dict] = {}
    floor_loss = float("nan")
    for _ in range(repeats):
        for mode in SIMULATED:
            seconds, metrics[mode] = time_simulation(scenarios[mode])
            best[mode] = min(best[mode], seconds)
        seconds, floor_loss = time_floor(scenarios["full"], inputs)
        best["floor"] = min(best["floor"], seconds)

    full = metrics["full"]
    rate = {mode: samples / best[mode] for mode in MODES}
    return {
        "network": network,
        "layers": NETWORKS[network],
        "samples": samples,
        "train_set_size": int(len(inputs[0].y_train)),
        "seconds": best,
        "samples_per_second": rate,
        "ratio_to_floor": {mode: rate[mode] / rate["floor"] for mode in MODES},
        "simulated_cycles_per_sample": full["total_cycles"] / full["samples_trained"],
        "mean_utilization": full["mean_utilization"],
        "events_per_sample": events_per_sample(full),
        "timing_cycles_match": metrics["timing"]["total_cycles"] == full["total_cycles"],
        "engines_agree": all(_figures(metrics[compiled]) == _figures(metrics[events])
                             for compiled, events in (("compiled", "full"), ("c-timing", "timing"))),
        "final_train_loss_full": full["final_train_loss"],
        "mean_loss_floor": floor_loss,
    }


def print_table(results: list[dict]) -> None:
    header = (f"{'network':<8}{'mode':<10}{'samples/s':>12}{'x floor':>10}"
              f"{'sim cycles/sample':>19}{'utilization':>13}{'events/sample':>15}")
    print(header)
    print("-" * len(header))
    for res in results:
        for mode in MODES:
            extra = ""
            if mode == "full":
                extra = (f"{res['simulated_cycles_per_sample']:>19,.1f}{res['mean_utilization']:>13.3f}"
                         f"{res['events_per_sample']:>15.1f}")
            print(f"{res['network']:<8}{mode:<10}{res['samples_per_second'][mode]:>12,.0f}"
                  f"{res['ratio_to_floor'][mode]:>10.3f}{extra}")
    print()
    for res in results:
        ratios = res["ratio_to_floor"]
        verdicts = ", ".join(f"{mode}/floor = {ratios[mode]:.3f} ({'meets' if ratios[mode] >= target else 'misses'} "
                             f"the {target} target)" for mode, target in TARGETS[res["network"]].items())
        agree = "same cycles and accuracy" if res["engines_agree"] else "ENGINES DISAGREE"
        print(f"{res['network']}: {verdicts}; compiled vs events: {agree}; "
              f"c-timing/timing = {ratios['c-timing'] / ratios['timing']:.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10000, help="samples trained per timed run (default 10000)")
    parser.add_argument("--dataset-samples", type=int, default=2000,
                        help="synthetic samples generated, before the 80/20 train/test split (default 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per mode; the best is kept (default 3)")
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.repeats < 1 or args.dataset_samples < 2:
        parser.error("--samples and --repeats must be at least 1, --dataset-samples at least 2")

    print(f"CP (batch 1), {args.samples} samples per run, best of {args.repeats}; "
          f"{HARDWARE['mesh']['rows']}x{HARDWARE['mesh']['cols']} mesh, inline hardware; "
          f"python {platform.python_version()}, numba {numba.__version__}, {os.cpu_count()} CPUs")
    print("wide = 784-256-256-10; deep = 16 layers of 128->128 (layers [128] * 17)")
    print()
    start = time.perf_counter()
    results = [bench_network(name, args.samples, args.dataset_samples, args.repeats) for name in args.networks]
    elapsed = time.perf_counter() - start
    print_table(results)
    print(f"\nbenchmark wall time {elapsed:.1f} s")

    if args.json is not None:
        report = {
            "samples": args.samples, "repeats": args.repeats, "dataset_samples": args.dataset_samples,
            "learning_rate": LEARNING_RATE, "hardware": HARDWARE, "python": platform.python_version(),
            "numba": numba.__version__, "cpus": os.cpu_count(), "wall_seconds": elapsed, "results": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
