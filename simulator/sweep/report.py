"""A sweep's figures, drawn into its folder DIR from the points' files alone (no run).

`draw(DIR)` reads DIR/sweep.json and the table `table.rows(DIR)` and writes:

- `sweep_metric.png` (always): the metric (sweep.json "report.metric", default
  final_test_accuracy) against swept key "report.x" (default: the first numeric swept key but
  the seed with more than one value, else the first numeric one, else the first non-numeric one
  drawn as categories, else one position for all points), one line per value of "report.group"
  (default: the first non-numeric swept key but the seed and x, else none) and of the other
  swept keys but the seed (lines pooled by group past `MAX_LINES`), each the mean over seeds
  with its 95% interval (`table.stats`) shaded; log x-axis when its values are positive and
  span more than a factor 10.
- `sweep_paired.png`: for swept key "report.pair" (default: the first swept key but the seed
  with exactly two values), a histogram of the metric at its second value minus at its first
  (in order of first appearance) over the pairs of points that agree on every other swept key,
  the seed too; not drawn without such a key or pair.
- `sweep_heatmap.png`: when two swept keys but the seed are numeric (x if numeric, and the
  first other), the mean metric over seeds per cell, one panel per value of the other keys;
  not drawn otherwise.

"Swept keys" here are sweep.json's "axes" but its "derived" keys (those, and any key a point
sets beyond the axes, are in the table but split no line, panel or pair). Only completed points with a finite value
of the metric count. A figure not drawn is removed
from DIR if an earlier `draw` left one. matplotlib (Agg) is imported by `draw` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .table import SEED, is_number, load, metric_columns

DEFAULT_METRIC = "final_test_accuracy"
METRIC_PNG = "sweep_metric.png"
PAIRED_PNG = "sweep_paired.png"
HEATMAP_PNG = "sweep_heatmap.png"


class ReportError(ValueError):
    """A "report" entry of sweep.json that names no swept key or metric the figures can use."""


@dataclass(frozen=True)
class Choice:
    """What the figures show: the metric, the x key, the group key, the pair key, and the heat map's (x, y) keys."""

    metric: str
    x: str | None
    group: str | None
    pair: str | None
    heat: tuple[str, str] | None
    others: tuple[str, ...]  # swept keys but the seed, x and group: lines (and heat-map panels) per their values
    declared: tuple[str, ...]  # sweep.json's "axes" (the seed too), without keys derived from them


def _distinct(table: list[dict], key: str) -> list:
    seen = {}
    for row in table:
        value = row.get(key)
        seen.setdefault(repr(value) if isinstance(value, (list, dict)) else value, value)
    return list(seen.values())


def is_numeric(table: list[dict], key: str) -> bool:
    """Whether every row's value of `key` is a number (and some row has one)."""
    values = [row.get(key) for row in table]
    return bool(values) and all(is_number(v) for v in values)


def choose(sweep: dict, table: list[dict], axes: list[str]) -> Choice:
    """The keys and metric of the figures: sweep.json's "report" entries, else the defaults (module docstring)."""
    report = sweep.get("report") or {}
    for entry in ("x", "group", "pair"):
        if report.get(entry) is not None and report[entry] not in axes:
            raise ReportError(f"report.{entry} is {report[entry]!r}, which the sweep does not sweep; "
                              f"give one of {', '.join(axes) or '(no swept keys)'}")
    metric = report.get("metric") or DEFAULT_METRIC
    _check_metric(table, axes, metric)
    derived = sweep.get("derived") or {}
    declared = [a for a in sweep.get("axes") or axes if a in axes and a not in derived]  # not keys derived from them
    setting = [a for a in declared if a != SEED]
    numeric = [a for a in setting if is_numeric(table, a)]
    varied = [a for a in numeric if len(_distinct(table, a)) > 1]
    x = report.get("x") or next(iter(varied + numeric + setting), None)
    group = report.get("group") or next((a for a in setting if a not in numeric and a != x), None)
    if group is not None and group == x:
        raise ReportError(f"report.group and report.x are both {x!r}; give two different swept keys")
    pair = report.get("pair") or next((a for a in setting if len(_distinct(table, a)) == 2), None)
    if pair is not None and len(values := _distinct(table, pair)) != 2:
        raise ReportError(f"report.pair is {pair!r}, which takes {len(values)} values, not 2; give a key with two")
    heat = None
    if len(numeric) >= 2:
        hx = x if x in numeric else numeric[0]
        heat = (hx, next(a for a in numeric if a != hx))
    others = tuple(a for a in setting if a not in (x, group))
    return Choice(metric, x, group, pair, heat, others, tuple(declared))


def _check_metric(table: list[dict], axes: list[str], metric: str) -> None:
    """ReportError when points completed but `metric` is not one of their numeric metrics."""
    if metric in metric_columns(table, axes) or metric == "wall_seconds":
        return
    done = [row for row in table if row.get("status") == "completed"]
    if metric in axes or any(row.get(metric) is not None for row in done) or (done and metric not in done[0]):
        numbers = metric_columns(table, axes)
        raise ReportError(f"report.metric is {metric!r}, which is not a numeric metric of these runs; "
                          f"give one of {', '.join(numbers) or '(none)'}")


def draw(out_dir) -> list[Path]:
    """Write DIR/sweep_metric.png, and sweep_paired.png and sweep_heatmap.png when they apply; their paths."""
    out_dir = Path(out_dir)
    sweep, table, axes = load(out_dir)
    choice = choose(sweep, table, axes)
    from ..plots import sweep as figures  # imports matplotlib, with the Agg backend (plots.style)
    from ..plots.style import save

    title = f"{sweep['name']}: " if sweep.get("name") else ""
    paired = heat = None
    if choice.pair:
        paired = figures.paired_differences(table, choice.metric, choice.pair, list(choice.declared), title)
    if choice.heat:
        hx, hy = choice.heat
        others = [a for a in choice.declared if a not in (SEED, hx, hy)]
        heat = figures.heat_map(table, choice.metric, hx, hy, others, title)
    lines = figures.metric_lines(table, choice.metric, choice.x, choice.group, list(choice.others), title)
    paths = [save(lines, out_dir / METRIC_PNG)]
    for fig, name in ((paired, PAIRED_PNG), (heat, HEATMAP_PNG)):
        if fig is not None:
            paths.append(save(fig, out_dir / name))
        else:
            (out_dir / name).unlink(missing_ok=True)  # a figure of an earlier draw that no longer applies
    return paths
