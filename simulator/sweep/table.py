"""A sweep's results as tables: one row per point (`sweep.csv`) and statistics over seeds (`sweep_summary.csv`).

`rows(DIR)` reads `DIR/sweep.json` and every `DIR/points/<name>/point.json` (with its
`metrics.json`) and gives one row per point, in the order of sweep.json's "points"; a row's
columns are "point", "status", "message", "wall_seconds", then the swept keys in the order of
sweep.json's "axes", then every scalar metric flattened with dots ("network.messages") in
sorted order, each row holding every column (None where a point has no value).

`summary(rows, axes)` gives one row per setting (the values of every swept key but
"training.seed", in order of first appearance): its swept values, "n" (how many of its points
completed), and for every numeric metric column M, over the completed points where M is a
number (x_1 .. x_m):

    M.mean = fsum(x) / m
    M.std  = sqrt(fsum((x_i - M.mean)**2) / (m - 1))       (sample std, ddof=1; 0.0 when m = 1)
    M.ci95 = t(0.975, m - 1) * M.std / sqrt(m)              (0.0 when m = 1)

where t(0.975, df) is the Student t quantile (the table `T975` for df 1..30, 1.96 beyond), so
M.mean +- M.ci95 is the 95% confidence interval of the mean over seeds; a setting with no value
of M has None for all three. Diverged, interrupted and failed points count nowhere in it.

`write(DIR)` writes both tables as CSV (and `sweep.parquet` when pandas and pyarrow import).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from ..outdir import write_whole
from .point import POINTS, ROW_COLUMNS

SEED = "training.seed"
SWEEP = "sweep.json"
POINT = "point.json"
METRICS = "metrics.json"
TABLE = "sweep.csv"
SUMMARY = "sweep_summary.csv"
PARQUET = "sweep.parquet"
STATS = ("mean", "std", "ci95")  # the summary columns of a metric M: "M.mean", "M.std", "M.ci95"

# Student t quantiles t(0.975, df) for df = 1..30 (df = 1: tan(0.475 pi); df = 2: sqrt(18.05 / 0.975)).
T975 = (
    12.706204736174694, 4.302652729749462, 3.1824463052837078, 2.7764451051977934, 2.5705818356363146,
    2.4469118511449786, 2.364624251592784, 2.306004135204166, 2.262157162798205, 2.228138851986274,
    2.200985160091639, 2.1788128296672284, 2.1603686564627913, 2.144786687917804, 2.131449545559776,
    2.1199052992212546, 2.1098155778333156, 2.1009220402410382, 2.0930240544083087, 2.085963447265864,
    2.0796138447276795, 2.0738730679040254, 2.0686576104190486, 2.0638985616280245, 2.0595385527532972,
    2.0555294386428735, 2.0518305164802846, 2.0484071417952454, 2.045229642132703, 2.0422724563012378,
)
Z975 = 1.96  # the normal quantile, used past df = 30


def t975(df: int) -> float:
    """t(0.975, df): the half-width of a 95% interval in standard errors, with df degrees of freedom (>= 1)."""
    if df < 1:
        raise ValueError(f"a t quantile needs at least 1 degree of freedom, not {df}")
    return T975[df - 1] if df <= len(T975) else Z975


def is_number(value) -> bool:
    """An int or a float, not a bool (True is an int to Python, not a measurement)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def stats(values: list[float]) -> tuple[float, float, float]:
    """(mean, sample std with ddof=1, 95% half-width) of at least one value, as the module docstring defines them."""
    m = len(values)
    mean = math.fsum(values) / m
    if m == 1:
        return mean, 0.0, 0.0
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (m - 1))
    return mean, std, t975(m - 1) * std / math.sqrt(m)


def flat_metrics(metrics: dict, prefix: str = "") -> dict:
    """Every scalar of a run's metrics, nested dicts flattened with dots; lists and "scenario" skipped."""
    flat: dict = {}
    for key, value in metrics.items():
        if not prefix and key == "scenario":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, f"{name}."))
        elif not isinstance(value, (list, tuple)):
            flat[name] = value
    return flat


def _read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_dict(path: Path) -> dict | None:
    """The JSON object in `path`, or None when it is missing or damaged (a point to run again, not a row)."""
    try:
        data = _read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_sweep(out_dir) -> dict:
    """DIR/sweep.json."""
    return _read_json(Path(out_dir) / SWEEP)


def _points(out_dir: Path, sweep: dict) -> list[tuple[dict, dict]]:
    """(point.json, flattened metrics or {}) of each point of sweep.json with a readable point.json, in order."""
    found = []
    for name in sweep.get("points", []):
        folder = out_dir / POINTS / name
        point = _read_dict(folder / POINT)
        if point is None:
            continue
        metrics = _read_dict(folder / METRICS) if point.get("status") != "failed" else None
        found.append(({**point, "name": point.get("name", name)}, flat_metrics(metrics or {})))
    return found


def swept_keys(sweep: dict, points: list[dict] = ()) -> list[str]:
    """sweep.json's "axes", then any other key a point's "values" sets (in order of first appearance)."""
    keys = list(sweep.get("axes", []))
    for point in points:
        keys += [k for k in point.get("values", {}) if k not in keys]
    return keys


def load(out_dir) -> tuple[dict, list[dict], list[str]]:
    """(sweep.json, `rows(DIR)`, the swept keys: sweep.json's "axes" and any other key a point sets)."""
    out_dir = Path(out_dir)
    sweep = read_sweep(out_dir)
    found = _points(out_dir, sweep)
    axes = swept_keys(sweep, [point for point, _ in found])
    fixed = set(ROW_COLUMNS) | set(axes)
    names = sorted({k for _, metrics in found for k in metrics} - fixed)
    table = []
    for point, metrics in found:
        row = {"point": point.get("name"), "status": point.get("status"), "message": point.get("message"),
               "wall_seconds": point.get("wall_seconds")}
        values = point.get("values", {})
        row.update((k, values.get(k)) for k in axes)
        row.update((k, metrics.get(k)) for k in names)
        table.append(row)
    return sweep, table, axes


def rows(out_dir) -> list[dict]:
    """One row per point with a point.json, in sweep.json's order; every row has every column (None if missing).

    A flattened metric whose name is a row column or a swept key (metrics.json's own "status")
    is left out: point.json's value is the one a row shows.
    """
    return load(out_dir)[1]


def columns(table: list[dict], first: list[str] = ()) -> list[str]:
    """`first`, then every key of the rows in order of first appearance."""
    names = dict.fromkeys(first)
    for row in table:
        names.update(dict.fromkeys(row))
    return list(names)


def metric_columns(table: list[dict], axes: list[str]) -> list[str]:
    """The numeric metric columns: not a row column nor a swept key, some value a number, every value a number or None."""
    names = [c for c in columns(table) if c not in ROW_COLUMNS and c not in axes]
    values = {c: [row.get(c) for row in table if row.get(c) is not None] for c in names}
    return [c for c in names if values[c] and all(is_number(v) for v in values[c])]


def _hashable(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def summary(table: list[dict], axes: list[str]) -> list[dict]:
    """One row per setting (swept keys but the seed): its values, "n", and "M.mean", "M.std", "M.ci95" per metric M."""
    setting = [a for a in axes if a != SEED]
    metrics = metric_columns(table, axes)
    groups: dict[tuple, list[dict]] = {}
    for row in table:
        groups.setdefault(tuple(_hashable(row.get(a)) for a in setting), []).append(row)
    out = []
    for members in groups.values():
        done = [row for row in members if row.get("status") == "completed"]
        line = {a: members[0].get(a) for a in setting}
        line["n"] = len(done)
        for m in metrics:
            values = [row[m] for row in done if is_number(row.get(m))]
            result = stats(values) if values else (None, None, None)
            line.update((f"{m}.{s}", v) for s, v in zip(STATS, result))
        out.append(line)
    return out


def cell(value) -> str:
    """How a CSV cell spells a value: empty for None, repr for floats, JSON for lists and dicts."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def csv_bytes(table: list[dict], header: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([cell(row.get(c)) for c in header] for row in table)
    return buffer.getvalue().encode("utf-8")


def _parquet(path: Path, table: list[dict], header: list[str]) -> Path | None:
    """sweep.parquet of the rows when pandas and pyarrow import, else None; lists, dicts and mixed columns as text."""
    try:
        import pandas as pd
    except ImportError:
        return None
    mixed = {c for c in header  # a column of numbers and text (or lists) is stored as text, which parquet can type
             if len({"number" if is_number(v) else type(v) for v in (row.get(c) for row in table) if v is not None}) > 1}
    frame = pd.DataFrame([[cell(v) if c in mixed or isinstance(v, (list, dict)) else v for c, v in
                           ((c, row.get(c)) for c in header)] for row in table], columns=header)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.to_parquet(tmp, engine="pyarrow", index=False)  # ImportError without pyarrow
        os.replace(tmp, path)
    except ImportError:
        return None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write(out_dir) -> list[Path]:
    """Write DIR/sweep.csv, DIR/sweep_summary.csv (and DIR/sweep.parquet if it can) from the points' files."""
    out_dir = Path(out_dir)
    _, table, axes = load(out_dir)
    header = columns(table, list(ROW_COLUMNS) + axes)
    stats_table = summary(table, axes)
    setting = [a for a in axes if a != SEED]
    paths = [write_whole(out_dir / TABLE, csv_bytes(table, header)),
             write_whole(out_dir / SUMMARY, csv_bytes(stats_table, columns(stats_table, setting + ["n"])))]
    parquet = _parquet(out_dir / PARQUET, table, header)
    return paths + ([parquet] if parquet else [])
