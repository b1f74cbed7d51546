"""sweep.table: one row per point, statistics over seeds, and the CSV files, from a hand-written sweep folder."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import math

import pytest

from wafersim.sweep import table

RULE, LR, SEED = "training.delta_rule", "training.learning_rate", "training.seed"
GRID = {RULE: ["immediate", "anchored"], LR: [0.001, 0.01, 0.1]}


def accuracy(values: dict) -> float:
    """A known final_test_accuracy: higher for anchored, for larger rates, and spread over seeds."""
    i = GRID[LR].index(values[LR]) if values.get(LR) in GRID[LR] else 0
    anchored = 0.05 if values.get(RULE) == "anchored" else 0.0
    return 0.5 + 0.1 * i + anchored + 0.013 * values.get(SEED, 0) * (1 + i)


def fake_metrics(values: dict, k: int) -> dict:
    """A metrics.json shaped as a run writes it: scalars, nested dicts, lists and the scenario."""
    return {
        "algorithm": "cp", "engine": {"used": "compiled", "why": "identical"}, "status": "completed",
        "timing_only": False, "total_cycles": 1000 + 7 * k, "final_test_accuracy": accuracy(values),
        "mean_staleness": 0.25 * k, "network": {"messages": 10 + k, "by_kind": {"deltas": {"bytes": 3 * k}}},
        "layers": [{"layer": 1}], "pe_utilization": [{"row": 0, "col": 0}],
        "scenario": {"name": "quickstart", "training": values},
    }


def make_sweep(root, grid=None, seeds: int | None = 3, statuses=None, missing=(), damaged=(), report=None,
               metrics=fake_metrics):
    """DIR with sweep.json and points/pNNNN/{point.json, metrics.json} over the product of `grid` and the seeds.

    `statuses` maps a point name to a status other than completed (failed points get no metrics.json);
    points in `missing` are listed in sweep.json but have no point.json, those in `damaged` a broken one.
    """
    grid = GRID if grid is None else grid
    statuses = statuses or {}
    keys = list(grid) + ([SEED] if seeds else [])
    combos = itertools.product(*grid.values(), *([range(seeds)] if seeds else []))
    names = []
    for k, combo in enumerate(combos):
        name = f"p{k:04d}"
        names.append(name)
        values = dict(zip(keys, combo))
        folder = root / "points" / name
        folder.mkdir(parents=True)
        if name in missing:
            continue
        if name in damaged:
            (folder / "point.json").write_text('{"name": ')
            continue
        status = statuses.get(name, "completed")
        point = {"name": name, "values": values, "digest": f"d{k}", "status": status,
                 "message": "" if status == "completed" else f"{status} here", "wall_seconds": 0.5 + k}
        (folder / "point.json").write_text(json.dumps(point))
        if status != "failed":
            (folder / "metrics.json").write_text(json.dumps(metrics(values, k)))
    sweep = {"name": "demo", "scenario": "scenarios/quickstart.yaml", "combine": "product", "axes": keys,
             "seeds": seeds, "report": report or {}, "points": names}
    (root / "sweep.json").write_text(json.dumps(sweep))
    return root


METRIC_COLUMNS = ["algorithm", "engine.used", "engine.why", "final_test_accuracy", "mean_staleness",
                  "network.by_kind.deltas.bytes", "network.messages", "timing_only", "total_cycles"]
COLUMNS = ["point", "status", "message", "wall_seconds", RULE, LR, SEED] + METRIC_COLUMNS
NUMERIC = ["final_test_accuracy", "mean_staleness", "network.by_kind.deltas.bytes", "network.messages", "total_cycles"]


def test_flat_metrics_flattens_dicts_and_skips_lists_and_scenario():
    metrics = {"a": 1, "b": {"c": 2.5, "d": {"e": "x", "f": None}, "g": [1, 2]}, "h": True, "layers": [{"x": 1}],
               "scenario": {"name": "s", "n": 3}, "peak": {"0,1": 7}}
    assert table.flat_metrics(metrics) == {"a": 1, "b.c": 2.5, "b.d.e": "x", "b.d.f": None, "h": True, "peak.0,1": 7}


def test_flat_metrics_keeps_a_nested_scenario_key():
    assert table.flat_metrics({"x": {"scenario": 1}}) == {"x.scenario": 1}


def test_rows_order_and_columns(tmp_path):
    make_sweep(tmp_path)
    rows = table.rows(tmp_path)
    assert [r["point"] for r in rows] == [f"p{k:04d}" for k in range(18)]
    assert all(list(r) == COLUMNS for r in rows)
    first, last = rows[0], rows[-1]
    assert first == {"point": "p0000", "status": "completed", "message": "", "wall_seconds": 0.5, RULE: "immediate",
                     LR: 0.001, SEED: 0, "algorithm": "cp", "engine.used": "compiled", "engine.why": "identical",
                     "final_test_accuracy": 0.5, "mean_staleness": 0.0, "network.by_kind.deltas.bytes": 0,
                     "network.messages": 10, "timing_only": False, "total_cycles": 1000}
    assert (last[RULE], last[LR], last[SEED], last["total_cycles"]) == ("anchored", 0.1, 2, 1000 + 7 * 17)


def test_rows_status_comes_from_point_json_not_metrics(tmp_path):
    make_sweep(tmp_path, statuses={"p0001": "diverged"})
    rows = table.rows(tmp_path)
    assert rows[1]["status"] == "diverged" and rows[1]["message"] == "diverged here"
    assert rows[1]["final_test_accuracy"] == accuracy({RULE: "immediate", LR: 0.001, SEED: 1})


def test_failed_points_have_none_metrics_and_missing_points_no_row(tmp_path):
    make_sweep(tmp_path, statuses={"p0004": "failed"}, missing={"p0002"}, damaged={"p0003"})
    rows = table.rows(tmp_path)
    assert [r["point"] for r in rows] == [f"p{k:04d}" for k in range(18) if k not in (2, 3)]
    failed = next(r for r in rows if r["point"] == "p0004")
    assert failed["status"] == "failed" and failed[LR] == 0.01 and failed[SEED] == 1
    assert all(failed[c] is None for c in METRIC_COLUMNS)
    assert list(failed) == COLUMNS


def test_rows_of_a_sweep_whose_points_all_failed(tmp_path):
    make_sweep(tmp_path, statuses={f"p{k:04d}": "failed" for k in range(18)})
    rows = table.rows(tmp_path)
    assert len(rows) == 18 and list(rows[0]) == ["point", "status", "message", "wall_seconds", RULE, LR, SEED]


def test_t_quantiles():
    assert table.t975(1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-13)
    assert table.t975(2) == pytest.approx(math.sqrt(0.95 ** 2 * 2 / (1 - 0.95 ** 2)), rel=1e-13)
    assert table.t975(2) == pytest.approx(4.302652729911275, rel=1e-9)  # the value usually quoted, to 10 digits
    assert table.t975(30) == pytest.approx(2.0422724563, rel=1e-10)
    assert table.t975(31) == table.t975(1000) == 1.96
    assert list(table.T975) == sorted(table.T975, reverse=True)
    with pytest.raises(ValueError):
        table.t975(0)


def hand_stats(xs: list[float]) -> tuple[float, float, float]:
    n = len(xs)
    mean = math.fsum(xs) / n
    if n == 1:
        return mean, 0.0, 0.0
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    t = {2: 12.706204736174694, 3: 4.302652729749462}[n]  # t(0.975, n - 1)
    return mean, std, t * std / math.sqrt(n)


def test_summary_equals_statistics_by_hand(tmp_path):
    make_sweep(tmp_path, statuses={"p0004": "diverged", "p0005": "failed", "p0006": "interrupted"}, missing={"p0007"})
    rows = table.rows(tmp_path)
    summary = table.summary(rows, [RULE, LR, SEED])
    assert [(s[RULE], s[LR]) for s in summary] == [(r, lr) for r in GRID[RULE] for lr in GRID[LR]]
    assert [s["n"] for s in summary] == [3, 1, 1, 3, 3, 3]
    header = [RULE, LR, "n"] + [f"{m}.{s}" for m in NUMERIC for s in ("mean", "std", "ci95")]
    assert all(list(s) == header for s in summary)
    for s in summary:
        done = [r for r in rows if (r[RULE], r[LR]) == (s[RULE], s[LR]) and r["status"] == "completed"]
        for m in NUMERIC:
            assert (s[f"{m}.mean"], s[f"{m}.std"], s[f"{m}.ci95"]) == hand_stats([r[m] for r in done])
    assert summary[1]["final_test_accuracy.std"] == 0.0 and summary[1]["final_test_accuracy.ci95"] == 0.0


def test_summary_of_three_seeds_uses_the_t_quantile_for_two_degrees_of_freedom(tmp_path):
    make_sweep(tmp_path)
    s = table.summary(table.rows(tmp_path), [RULE, LR, SEED])[4]  # anchored, 0.01: seeds 0, 1, 2
    xs = [accuracy({RULE: "anchored", LR: 0.01, SEED: seed}) for seed in range(3)]
    mean = math.fsum(xs) / 3
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / 2)
    assert s["final_test_accuracy.mean"] == mean
    assert s["final_test_accuracy.std"] == std == pytest.approx(0.026)
    assert s["final_test_accuracy.ci95"] == 4.302652729749462 * std / math.sqrt(3)


def test_summary_of_a_setting_without_completed_points(tmp_path):
    make_sweep(tmp_path, statuses={"p0000": "failed", "p0001": "diverged", "p0002": "failed"})
    s = table.summary(table.rows(tmp_path), [RULE, LR, SEED])[0]
    assert s["n"] == 0 and s["final_test_accuracy.mean"] is None and s["total_cycles.ci95"] is None


def test_summary_without_seeds_has_one_point_per_setting(tmp_path):
    make_sweep(tmp_path, seeds=None)
    summary = table.summary(table.rows(tmp_path), [RULE, LR])
    assert len(summary) == 6 and all(s["n"] == 1 and s["total_cycles.std"] == 0.0 for s in summary)


def test_write_is_deterministic_with_exact_headers(tmp_path):
    make_sweep(tmp_path, statuses={"p0005": "failed"})
    paths = table.write(tmp_path)
    assert [p.name for p in paths][:2] == ["sweep.csv", "sweep_summary.csv"]
    first = {p.name: p.read_bytes() for p in paths}
    table.write(tmp_path)
    assert {p.name: p.read_bytes() for p in paths} == first
    lines = first["sweep.csv"].decode().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 19
    assert lines[1] == "p0000,completed,,0.5,immediate,0.001,0,cp,compiled,identical,0.5,0.0,0,10,False,1000"
    assert lines[6].startswith("p0005,failed,failed here,5.5,immediate,0.01,2,,,")
    summary_header = first["sweep_summary.csv"].decode().splitlines()[0]
    assert summary_header == ",".join([RULE, LR, "n"] + [f"{m}.{s}" for m in NUMERIC for s in ("mean", "std", "ci95")])
    assert not list(tmp_path.glob(".*.tmp"))


def test_csv_floats_read_back_exactly(tmp_path):
    make_sweep(tmp_path)
    table.write(tmp_path)
    rows = table.rows(tmp_path)
    with open(tmp_path / "sweep.csv", newline="") as f:
        read = list(csv.DictReader(f))
    assert [float(r["final_test_accuracy"]) for r in read] == [r["final_test_accuracy"] for r in rows]
    with open(tmp_path / "sweep_summary.csv", newline="") as f:
        summary = list(csv.DictReader(f))
    expected = table.summary(rows, [RULE, LR, SEED])
    assert [float(s["final_test_accuracy.ci95"]) for s in summary] == [s["final_test_accuracy.ci95"] for s in expected]


def test_write_parquet_only_when_pandas_and_pyarrow_import(tmp_path):
    make_sweep(tmp_path)
    names = [p.name for p in table.write(tmp_path)]
    if importlib.util.find_spec("pandas") and importlib.util.find_spec("pyarrow"):
        import pandas as pd

        assert names == ["sweep.csv", "sweep_summary.csv", "sweep.parquet"]
        parquet, text = pd.read_parquet(tmp_path / "sweep.parquet"), pd.read_csv(tmp_path / "sweep.csv")
        assert list(parquet.columns) == list(text.columns) and len(parquet) == len(text) == 18
        for column in ("point", "status", RULE, LR, SEED, "final_test_accuracy", "total_cycles"):
            assert parquet[column].tolist() == text[column].tolist(), column
    else:
        assert names == ["sweep.csv", "sweep_summary.csv"] and not (tmp_path / "sweep.parquet").exists()


def test_keys_a_point_sets_beyond_the_axes_are_columns_not_metrics(tmp_path):
    make_sweep(tmp_path, grid={LR: [0.01, 0.1]}, seeds=2)
    for folder in (tmp_path / "points").iterdir():
        point = json.loads((folder / "point.json").read_text())
        point["values"]["training.momentum"] = point["values"][LR] * 9
        (folder / "point.json").write_text(json.dumps(point))
    rows = table.rows(tmp_path)
    assert list(rows[0])[:7] == ["point", "status", "message", "wall_seconds", LR, SEED, "training.momentum"]
    _, _, axes = table.load(tmp_path)
    assert axes == [LR, SEED, "training.momentum"]
    assert "training.momentum.mean" not in table.summary(rows, axes)[0]
