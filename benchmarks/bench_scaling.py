"""How host time and memory grow with samples, depth and workers, and timing-only speed at wafer scale.

Each point is one `wafersim.runner.run` in a fresh Python process (so its peak resident
memory, `ru_maxrss`, is its own), after a warm-up run in that process (Numba compilation
and caches are not timed). Sections:

    samples  CP on 784-256-256-10, 1k to 1M samples (timing-only, compiled engine), and 1k
             to 100k samples with arithmetic (compiled engine): seconds per sample
    depth    CP on 4 to 1024 layers of 64->64, 1,000 samples, timing-only, compiled and event
             engines: seconds per layer
    workers  all-reduce with 4 to 512 workers of two 64->64 layers, 4 steps of batch 1,
             timing-only, compiled and event engines: a ring step sends 2 N (N - 1) D chunk
             messages, so seconds are fitted against the messages simulated
    wafer    CP on 10,000 layers of 64->64 on a 300 x 300 mesh for 1,000 samples, timing-only,
             compiled engine: wall time, PE-ops per second, peak memory

For each sweep the script prints every point and a least-squares line seconds = a + b x
with its R^2 (1 is exactly linear). Design targets: the wafer run in
under a minute and 2 GB; a 1M-sample timing-only run in under 1 GB; timing-only compiled
at least 10M PE-ops per second; all-reduce linear in workers.

    python benchmarks/bench_scaling.py [--sections samples depth workers wafer] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def hardware(rows: int, cols: int) -> dict:
    return {"name": f"bench-{rows}x{cols}", "clock_hz": 1.0e9, "mesh": {"rows": rows, "cols": cols},
            "pe": {"macs_per_cycle": 256, "sram_bytes": 64 << 20, "op_overhead_cycles": 4},
            "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 32, "contention": True}}


def scenario(layers: list[int], samples: int, rows: int, cols: int, timing_only: bool, engine: str,
             algorithm: str = "cp", **training) -> dict:
    return {"name": "bench-scaling", "hardware": hardware(rows, cols), "placement": "snake",
            "model": {"layers": layers, "activation": "relu", "init": "glorot", "bias": True},
            "dataset": {"name": "synthetic", "samples": 1000, "test_fraction": 0.2},
            "training": {"algorithm": algorithm, "learning_rate": 0.005, "samples": samples,
                         "eval_every": max(samples, 1), "seed": 0, **training},
            "timing_only": timing_only, "engine": engine, "allow_large": True}


def measure(data: dict) -> dict:
    """Run scenario `data` in this process (after a 10-sample warm-up) and report time, memory and counts."""
    from wafersim.config import Scenario
    from wafersim.runner import run

    warm = json.loads(json.dumps(data))
    warm["training"]["samples"] = warm["training"]["eval_every"] = max(10, data["training"].get("workers", 1))
    run(Scenario.model_validate(warm), progress=False, trace=False)
    start = time.perf_counter()
    result = run(Scenario.model_validate(data), progress=False, trace=False)
    seconds = time.perf_counter() - start
    m = result.metrics
    ops = sum(row["ops"] for row in m["pe_utilization"])
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "ops": ops, "messages": m["network"]["messages"], "status": result.status, "engine": m["engine"]["used"],
            "total_cycles": m["total_cycles"]}


def point(data: dict) -> dict:
    """`measure` in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--point", json.dumps(data)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x: (a, b, R^2)."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    b, a = np.polyfit(x, y, 1)
    residual = y - (a + b * x)
    total = ((y - y.mean()) ** 2).sum()
    return float(a), float(b), float(1 - (residual ** 2).sum() / total) if total else 1.0


def sweep(title: str, unit: str, xs: list[int], make, per_message: bool = False) -> dict:
    """Run each point; fit seconds against x (or, with `per_message`, against the messages simulated)."""
    print(f"\n{title}")
    print(f"{unit:>10}{'seconds':>10}{'s per ' + unit:>16}{'PE-ops/s':>14}{'messages':>12}{'peak MB':>10}  engine")
    rows = []
    for x in xs:
        r = point(make(x))
        rows.append({unit: x, **r})
        print(f"{x:>10,}{r['seconds']:>10.3f}{r['seconds'] / x:>16.3e}{r['ops'] / r['seconds']:>14,.0f}"
              f"{r['messages']:>12,}{r['peak_rss_mb']:>10.0f}  {r['engine']}")
    by = [r["messages"] for r in rows] if per_message else xs
    a, b, r2 = fit(by, [r["seconds"] for r in rows])
    print(f"  fit: seconds = {a:.3f} + {b:.3e} x {'messages' if per_message else unit}, R^2 = {r2:.4f}")
    return {"points": rows, "fit": {"against": "messages" if per_message else unit, "intercept": a, "slope": b,
                                    "r2": r2}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["samples", "depth", "workers", "wafer"],
                        choices=["samples", "depth", "workers", "wafer"])
    parser.add_argument("--quick", action="store_true", help="smaller sweeps (a few seconds each)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to this JSON file")
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(measure(json.loads(args.point))))
        return 0

    wide, q = [784, 256, 256, 10], args.quick
    report: dict = {"cpus": os.cpu_count(), "quick": q}
    started = time.perf_counter()
    if "samples" in args.sections:
        counts = [1_000, 10_000, 100_000] if q else [1_000, 10_000, 100_000, 1_000_000]
        report["samples_timing"] = sweep("samples, CP 784-256-256-10, timing-only, compiled", "samples", counts,
                                         lambda n: scenario(wide, n, 4, 4, True, "compiled"))
        counts = [1_000, 3_000, 10_000] if q else [1_000, 10_000, 100_000]
        report["samples_full"] = sweep("samples, CP 784-256-256-10, with arithmetic, compiled", "samples", counts,
                                       lambda n: scenario(wide, n, 4, 4, False, "compiled"))
    if "depth" in args.sections:
        depths = [4, 16, 64, 256] if q else [4, 16, 64, 256, 1024]
        for engine in ("compiled", "events"):
            report[f"depth_{engine}"] = sweep(f"depth, CP 64->64 layers, 1,000 samples, timing-only, {engine}",
                                              "layers", depths,
                                              lambda d: scenario([64] * (d + 1), 1000, 33, 33, True, engine))
    if "workers" in args.sections:
        workers = [4, 16, 64] if q else [4, 16, 64, 256, 512]
        # A ring all-reduce step of N workers sends 2 (N - 1) chunks per worker and layer: 2 N (N - 1) D
        # messages in all, so host time is fitted against the messages simulated.
        for engine in ("compiled", "events"):
            report[f"workers_{engine}"] = sweep(
                f"workers, all-reduce 64-64-64, 4 steps of batch 1, timing-only, {engine}", "workers", workers,
                lambda w: scenario([64, 64, 64], 4 * w, 33, 33, True, engine, algorithm="allreduce", workers=w,
                                   batch_size=1),
                per_message=True)
    if "wafer" in args.sections:
        layers, samples = (2_000, 200) if q else (10_000, 1_000)
        print(f"\nwafer: CP on {layers:,} layers of 64->64, 300 x 300 mesh, {samples:,} samples, timing-only, compiled")
        r = point(scenario([64] * (layers + 1), samples, 300, 300, True, "compiled"))
        rate = r["ops"] / r["seconds"]
        print(f"  {r['seconds']:.1f} s, {r['ops']:,} PE-ops ({rate:,.0f} per second), peak {r['peak_rss_mb']:,.0f} MB"
              f" (targets: under 60 s and 2,048 MB; 10M PE-ops/s)")
        report["wafer"] = {"layers": layers, "samples": samples, **r, "pe_ops_per_second": rate}
    print(f"\nbenchmark wall time {time.perf_counter() - started:.1f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
