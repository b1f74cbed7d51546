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
from pathlib import Path

from .config import ConfigError, Scenario, _read_yaml, load_scenario

LISTING_KEY = "compare"
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


def run_all(loaded: list[tuple[Path, Scenario]], out_dir: Path, progress: bool = True, **view) -> dict:
    """Run each scenario and write its results into out_dir/<name>; return {name: RunResult}.

    A data set that cannot be read is a ConfigError naming its scenario file.

    Stops after a run that was interrupted (Ctrl-C, SIGTERM, SIGHUP), and before the next run when
    such a signal was held back meanwhile (signals.deferring); the runs so far are returned.
    """
    from . import runner, signals
    from .results import write
    from .training.data import DataError

    runs = {}
    for path, scenario in loaded:
        if runs and signals.received():
            break
        try:
            result = runner.run(scenario, source=str(path), progress=progress,
                                trace=view.get("figures", True) or view.get("trace", False))
        except DataError as exc:
            raise ConfigError(str(path), [("dataset", str(exc))]) from None
        write(result, Path(out_dir) / scenario.name, **view)
        runs[scenario.name] = result
        if result.status == "interrupted":
            break
    return runs


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
    if not figures:
        return paths
    paths += [plots.save(plots.convergence({n: (r.metrics, r.curve) for n, r in runs.items()}),
                        out_dir / "convergence.png"),
             plots.save(plots.utilization_maps({n: r.metrics for n, r in runs.items()}), out_dir / "utilization.png")]
    traced = {n: (r.ops, r.metrics) for n, r in runs.items() if r.ops and len(r.ops.get("start", ()))}
    if traced:
        paths.append(plots.save(plots.pipeline_stack(traced, window, samples), out_dir / "pipelines.png"))
    return paths
