"""Compare scenarios side by side: run each, then tabulate and draw them together.

`wafersim compare` takes scenario files, or a comparison file that lists them:

    compare:            # paths relative to this file
      - quickstart.yaml
      - mbgd.yaml

The table and figures are pure functions of the runs' results, so they can be rebuilt
from saved results folders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, Scenario, _read_yaml, load_scenario

LISTING_KEY = "compare"
STOP_WAIT_SECONDS = 60.0  # how long a stopped compare waits for its runs under way to return what they measured
OWN_FILES = ("comparison.md", "comparison.csv", "convergence.png", "pipelines.png", "utilization.png")  # in OUT
COLUMNS = (  # (csv name, markdown heading)
    ("scenario", "scenario"), ("algorithm", "algorithm"), ("hardware", "hardware"), ("samples", "samples"),
    ("simulated_time_ms", "simulated time (ms)"), ("mean_utilization", "mean utilization"),
    ("final_accuracy", "final accuracy"), ("time_to_target_ms", "time to target (ms)"),
    ("peak_sram_bytes_per_pe", "peak SRAM per PE (bytes)"), ("mean_staleness", "mean staleness"),
)


def scenario_paths(paths: list[Path]) -> list[Path]:
    """The scenario files to compare: each path, with comparison files replaced by the files they list."""
    out = []
    for path in paths:
        data = _read_yaml(Path(path), "scenario or comparison")
        if LISTING_KEY not in data:
            out.append(Path(path))
            continue
        listed = data[LISTING_KEY]
        problems = []
        if set(data) != {LISTING_KEY}:
            problems.append(("", f"a comparison file holds only `{LISTING_KEY}:`, found also "
                                 + ", ".join(sorted(set(data) - {LISTING_KEY}))))
        if not isinstance(listed, list) or not listed or not all(isinstance(p, str) for p in listed):
            problems.append((LISTING_KEY, "must be a non-empty list of scenario file paths (relative to this file), "
                                          "e.g. compare: [quickstart.yaml, mbgd.yaml]"))
        if problems:
            raise ConfigError(str(path), problems)
        for item in listed:
            target = Path(path).resolve().parent / item
            if target.is_file() and LISTING_KEY in _read_yaml(target, "scenario"):
                raise ConfigError(str(path), [(LISTING_KEY, f"{item} is itself a comparison file; list scenarios only")])
            out.append(target)
    return out


def load_all(paths: list[Path], overrides: list[str]) -> list[tuple[Path, Scenario]]:
    """Load and validate every scenario (ConfigError on the first that fails, on two sharing a name, or on a
    name that is one of the files compare writes beside the runs' folders)."""
    loaded = [(path, load_scenario(path, overrides)) for path in scenario_paths(paths)]
    seen: dict[str, Path] = {}
    for path, scenario in loaded:
        if scenario.name in seen:
            raise ConfigError(str(path), [("name", f"'{scenario.name}' is also the name of {seen[scenario.name]}; "
                                                   "each compared scenario writes to OUT/<name>, so names must "
                                                   "differ: rename one")])
        if scenario.name in OWN_FILES:
            raise ConfigError(str(path), [("name", f"'{scenario.name}' is the name of a file compare writes into "
                                                   "OUT beside the runs' folders (OUT/<name>): rename the scenario")])
        seen[scenario.name] = path
    return loaded


def check_all(loaded: list[tuple[Path, Scenario]]) -> None:
    """Everything checkable before running, for every scenario: its data set loads, its layers fit (runner.prepare).

    Raises ConfigError naming the first scenario file that cannot run, so none runs.
    """
    from . import runner
    from .training.data import DataError

    for path, scenario in loaded:
        try:
            runner.prepare(scenario, str(path))
        except DataError as exc:
            raise ConfigError(str(path), [("dataset", str(exc))]) from None


def time_to_accuracy(metrics: dict, curve: list, target: float) -> float | None:
    """Simulated milliseconds until the first evaluation at or above `target`, None if never."""
    for _, cycle, _, acc in curve:
        if math.isfinite(acc) and acc >= target:
            return cycle / metrics["scenario"]["hardware"]["clock_hz"] * 1e3
    return None


def row(results, target: float) -> dict:
    """One table row of a run's results (anything with metrics and curve)."""
    m = results.metrics
    return {"scenario": m["scenario"]["name"], "algorithm": m["algorithm"],
            "hardware": m["scenario"]["hardware"]["name"], "samples": m["samples_trained"],
            "simulated_time_ms": m["simulated_seconds"] * 1e3, "mean_utilization": m["mean_utilization"],
            "final_accuracy": m["final_test_accuracy"],
            "time_to_target_ms": time_to_accuracy(m, results.curve, target),
            "peak_sram_bytes_per_pe": max(m["peak_sram_bytes"].values()), "mean_staleness": m["mean_staleness"]}


def comparison_csv(rows: list[dict]) -> str:
    """The table as CSV: exact values, empty where there is none (no accuracy, target not reached)."""
    def cell(value):
        return "" if value is None else repr(value) if isinstance(value, float) else str(value)
    lines = [",".join(name for name, _ in COLUMNS)]
    lines += [",".join(cell(r[name]) for name, _ in COLUMNS) for r in rows]
    return "\n".join(lines) + "\n"


def comparison_md(rows: list[dict], target: float) -> str:
    """The table as Markdown, rounded for reading."""
    def fmt(name, value):
        if value is None:
            return "not reached" if name == "time_to_target_ms" else "-"
        if name in ("mean_utilization", "final_accuracy"):
            return f"{value:.1%}"
        if name in ("simulated_time_ms", "time_to_target_ms"):
            return f"{value:.4g}"
        if name == "mean_staleness":
            return f"{value:.2f}"
        return f"{value:,}" if isinstance(value, int) else str(value)
    head = [f"# Comparison\n\nTime to target: simulated time until the first evaluation at or above "
            f"{target:.0%} test accuracy.\n",
            "| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    return "\n".join(head + ["| " + " | ".join(fmt(n, r[n]) for n, _ in COLUMNS) + " |" for r in rows]) + "\n"


@dataclass
class Runs:
    """What compare's runs gave: the results of those that ran, and what became of the others."""

    results: dict = field(default_factory=dict)  # name -> RunResult, in the order the scenarios were listed
    failed: dict[str, str] = field(default_factory=dict)  # name -> why (an error, or a worker lost on every try)
    not_started: list[str] = field(default_factory=list)  # cancelled by a stop before they began
    stop: int | None = None  # the stop signal that ended the runs early

    @property
    def interrupted(self) -> list[str]:
        """The runs a stop cut short (their results hold what they measured until then)."""
        return [name for name, result in self.results.items() if result.status == "interrupted"]


def run_task(scenario: Scenario, source: str, trace: bool, stop_key: str):
    """One compared run, on a Dask worker: its RunResult, or None if the compare was stopped before it began.

    The client sets the Dask Variable `stop_key` to a signal's number to stop the runs; each asks it
    a few times a second (signals reach only the client) and returns what it measured so far."""
    import distributed

    from . import runner

    flag = distributed.Variable(stop_key)

    def stop() -> int | None:
        return flag.get() or None

    if stop():
        return None
    return runner.run(scenario, source=source, progress=False, trace=trace, stop=stop)


def run_all(loaded: list[tuple[Path, Scenario]], progress: bool = True, trace: bool = True,
            scheduler: str | None = None, workers: int | None = None) -> Runs:
    """Run every scenario as one task on a Dask cluster (embedded, or the one at `scheduler`) and gather the results.

    Ctrl-C, SIGTERM and SIGHUP stop the runs under way, which return what they measured (status
    "interrupted"), and cancel those not begun; a second one stops the waiting for them.
    """
    import uuid

    import distributed
    from tqdm import tqdm

    from . import cluster, signals

    runs, tag = Runs(), uuid.uuid4().hex[:12]
    stop_key = f"wafersim-compare-stop-{tag}"
    taken: dict[str, object] = {}
    client = local = flag = None
    futures: dict = {}
    bar = tqdm(total=len(loaded), unit="run", desc="compare", disable=not progress, dynamic_ncols=True)

    def take(future) -> None:
        path, scenario = futures[future]
        try:
            taken[scenario.name] = future.result()
        except Exception as exc:  # an error in the run, or its worker lost on every try
            runs.failed[scenario.name] = cluster.failure_text(exc)
        bar.update(1)

    try:
        try:
            with signals.raising():  # SIGTERM and SIGHUP stop the runs as Ctrl-C does
                client, local = cluster.connect(scheduler, workers, len(loaded))
                flag = distributed.Variable(stop_key, client=client)
                flag.set(0)
                # pure=False: a run is never taken from another's cached result
                futures = {client.submit(run_task, scenario, str(path), trace, stop_key, retries=cluster.RETRIES,
                                         key=f"compare-{tag}-{scenario.name}", pure=False): (path, scenario)
                           for path, scenario in loaded}
                for future in distributed.as_completed(futures):
                    take(future)
        except KeyboardInterrupt as exc:
            runs.stop = signals.signal_of(exc)
            if flag is not None:
                flag.set(runs.stop)
                left = [f for f in futures if futures[f][1].name not in taken and futures[f][1].name not in runs.failed]
                try:
                    with signals.raising(held=False):  # a second stop gives up waiting for the runs under way
                        for future in distributed.as_completed(left, timeout=STOP_WAIT_SECONDS):
                            take(future)
                except (KeyboardInterrupt, TimeoutError):
                    pass
    finally:
        bar.close()
        with signals.deferring():  # a further Ctrl-C must not cut the cleanup short
            if flag is not None:
                flag.delete()
            cluster.close(client, local, [f for f in futures if not f.done()])
    for _, scenario in loaded:
        name = scenario.name
        if taken.get(name) is not None:
            runs.results[name] = taken[name]
        elif name not in runs.failed:
            runs.not_started.append(name)
    return runs


def write_runs(runs: dict, out_dir: Path, **view) -> None:
    """Write each run's results folder, out_dir/<name> ({name: RunResult}), as `wafersim run` writes it."""
    from .results import write

    for name, result in runs.items():
        write(result, Path(out_dir) / name, **view)


def write_comparison(runs: dict, out_dir: Path, target: float, window: tuple | None = None,
                     samples: int | None = None, figures: bool = True) -> list[Path]:
    """Write comparison.md, comparison.csv and (with `figures`) convergence.png, pipelines.png
    (runs with an op table) and utilization.png for `runs` ({name: results}) into out_dir; the
    pipelines share the cycle axis spanned by `window` or `samples` (see plots.resolve_window)."""
    from . import plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [row(results, target) for results in runs.values()]
    (out_dir / "comparison.md").write_text(comparison_md(rows, target))
    (out_dir / "comparison.csv").write_text(comparison_csv(rows))
    paths = [out_dir / "comparison.md", out_dir / "comparison.csv"]
    if not figures or not runs:  # no run to draw (all stopped before they began)
        return paths
    paths += [plots.save(plots.convergence({n: (r.metrics, r.curve) for n, r in runs.items()}),
                        out_dir / "convergence.png"),
             plots.save(plots.utilization_maps({n: r.metrics for n, r in runs.items()}), out_dir / "utilization.png")]
    traced = {n: (r.ops, r.metrics) for n, r in runs.items() if r.ops and len(r.ops.get("start", ()))}
    if traced:
        paths.append(plots.save(plots.pipeline_stack(traced, window, samples), out_dir / "pipelines.png"))
    return paths
