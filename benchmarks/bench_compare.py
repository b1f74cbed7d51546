"""wafersim compare on its Dask cluster against the same scenarios run one after another, in one process.

    python benchmarks/bench_compare.py [--scenarios A.yaml B.yaml ...] [--set dotted.key=value ...] [--workers N]

Baseline: `runner.run` of each scenario in turn in this process (no figures, no trace), the
way compare ran before it moved to Dask. Measured: `compare.run_all` on an embedded
LocalCluster of `--workers` processes (default: one per CPU), cluster start-up included.
Prints both wall times, their ratio, and whether every run's metrics agree (they must: the
runs are the same, only where they run differs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [ROOT / "scenarios" / name for name in ("quickstart.yaml", "mbgd.yaml", "pipedream.yaml", "dni.yaml")]


def main() -> None:
    from wafersim.compare import load_all, run_all
    from wafersim.runner import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=Path, nargs="+", default=DEFAULT)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    loaded = load_all(args.scenarios, args.overrides)

    start = time.perf_counter()
    alone = {s.name: run(s, source=str(p), progress=False, trace=False) for p, s in loaded}
    sequential = time.perf_counter() - start

    start = time.perf_counter()
    runs = run_all(loaded, progress=False, trace=False, workers=args.workers)
    parallel = time.perf_counter() - start

    def same(a, b) -> bool:
        strip = ("engine",)
        return json.dumps({k: v for k, v in a.items() if k not in strip}, sort_keys=True) == json.dumps(
            {k: v for k, v in b.items() if k not in strip}, sort_keys=True)

    agree = all(same(alone[n].metrics, runs.results[n].metrics) for n in alone)
    print(f"{len(loaded)} scenarios: {', '.join(alone)}")
    print(f"one after another, in process: {sequential:7.2f} s")
    print(f"compare on Dask:               {parallel:7.2f} s   (cluster start-up included)")
    print(f"ratio sequential / Dask:       {sequential / parallel:7.2f}")
    print(f"metrics identical:             {agree}")


if __name__ == "__main__":
    main()
