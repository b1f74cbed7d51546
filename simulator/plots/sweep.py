"""Figures of a sweep, drawn from its table (`sweep.table.rows`) alone: a metric against a swept key
(mean and 95% interval over seeds), the paired difference between two values of one key, and a
heat map over two numeric keys. Only completed points with a finite number for the metric count.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..sweep.table import is_number, stats
from .style import IDLE_COLOR

MAX_LINES = 10  # lines (one per value of the other swept keys) drawn at most; more are pooled by group
MAX_PANELS = 6  # heat maps (one per value of the other swept keys) at most; more are pooled into one
MAX_LABELLED_CELLS = 400  # heat-map cells written with their value, at most
MAX_DOTS = 2_000  # single points drawn as dots behind the lines, at most
COLORS = plt.get_cmap("tab10").colors
MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", ":", "-.")


def fmt(value) -> str:
    """A swept value as a label: 0.001 as '0.001', 1e-05 as '1e-05', text as it is."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _key(value):
    return repr(value) if isinstance(value, (list, dict)) else value


def values_of(table: list[dict], key: str) -> list:
    """The distinct values of `key`, numbers in increasing order, anything else in order of first appearance."""
    seen = {}
    for row in table:
        seen.setdefault(_key(row.get(key)), row.get(key))
    values = list(seen.values())
    return sorted(values) if values and all(is_number(v) for v in values) else values


def good(table: list[dict], metric: str) -> list[dict]:
    """The rows that count: completed, with a finite number for `metric`."""
    return [r for r in table if r.get("status") == "completed" and is_number(r.get(metric)) and math.isfinite(r[metric])]


def _by(table: list[dict], keys: list[str]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for row in table:
        groups.setdefault(tuple(_key(row.get(k)) for k in keys), []).append(row)
    return groups


def _label(keys: list[str], row: dict) -> str:
    return ", ".join(f"{k}={fmt(row.get(k))}" for k in keys) or "all points"


def _left_out(table: list[dict], kept: list[dict]) -> str:
    n = len(table) - len(kept)
    return f"; {n} of {len(table)} points not completed or without a value, left out" if n else ""


def _color_of(group: str | None, values: list) -> dict:
    """A colour per value of the group: per algorithm in the registry's order when the group is the algorithm
    (the same algorithm, the same colour, in every sweep), else in turn."""
    if group == "training.algorithm":
        from ..algorithms import ALGORITHMS
        order = list(ALGORITHMS)
        return {_key(v): COLORS[order.index(v) % len(COLORS)] if v in order else "grey" for v in values}
    return {_key(v): COLORS[i % len(COLORS)] for i, v in enumerate(values)}


def metric_lines(table: list[dict], metric: str, x: str | None, group: str | None, others: list[str], title: str = ""):
    """`metric` against swept key `x` (categories when not numeric; one position when None), one line per
    value of `group` and of the `others` (pooled over the others past MAX_LINES lines), each its mean over
    seeds with the 95% interval shaded, the single points as dots."""
    kept = good(table, metric)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    xs = values_of(table, x) if x else [None]
    numeric = bool(x) and all(is_number(v) for v in xs)
    where = {_key(v): (v if numeric else i) for i, v in enumerate(xs)}
    line_keys = [k for k in (group, *others) if k]
    pooled = len(_by(kept, line_keys)) > MAX_LINES and bool(others)
    if pooled:
        line_keys = [group] if group else []
    lines = _by(kept, line_keys)
    dots = len(kept) <= MAX_DOTS
    colors = _color_of(group, values_of_in_order(table, group)) if group else {}
    rest = [k for k in line_keys if k != group]  # lines of one group share its colour, told apart by their style
    styles = {k: i for i, k in enumerate(_by(kept, rest))}
    for n, members in enumerate(lines.values()):
        color = colors[_key(members[0].get(group))] if group else COLORS[n % len(COLORS)]
        style = styles[tuple(_key(members[0].get(k)) for k in rest)] if group else 0
        at = _by(members, [x] if x else [])
        pos = [where[k[0]] if x else 0 for k in at]
        mean, _, ci = (np.array(c) for c in zip(*(stats([r[metric] for r in rs]) for rs in at.values())))
        order = np.argsort(pos, kind="stable")
        pos, mean, ci = np.array(pos, dtype=float)[order], mean[order], ci[order]
        ax.plot(pos, mean, marker=MARKERS[style % len(MARKERS)], ls=LINESTYLES[style % len(LINESTYLES)], color=color,
                label=_label(line_keys, members[0]))
        ax.fill_between(pos, mean - ci, mean + ci, color=color, alpha=0.2, lw=0)
        if dots:
            ax.scatter([where[_key(r.get(x))] if x else 0 for r in members], [r[metric] for r in members],
                       s=8, color=color, alpha=0.35, lw=0)
    if numeric:
        positive = [v for v in xs if v > 0]
        if len(positive) == len(xs) and max(xs) > 10 * min(xs):
            ax.set_xscale("log")
    else:
        ax.set_xticks(range(len(xs)), [fmt(v) if x else "all points" for v in xs],
                      rotation=30 if len(xs) > 6 else 0, ha="right" if len(xs) > 6 else "center")
    if not kept:
        ax.text(0.5, 0.5, f"no completed point has a value of {metric}", ha="center", va="center", transform=ax.transAxes)
    note = f", mean over {', '.join(others)}" if pooled else ""
    ax.set(xlabel=(x or "") + (" (log scale)" if ax.get_xscale() == "log" else ""), ylabel=metric,
           title=f"{title}{metric} vs {x or 'all points'}\nmean and 95% interval over seeds{note}{_left_out(table, kept)}")
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0] and line_keys:
        ax.legend(fontsize=8, title=None)
    fig.tight_layout()
    return fig


def paired(table: list[dict], metric: str, pair: str, axes: list[str]) -> tuple[object, object, list[float]]:
    """(first value, second value, differences): the two values of `pair` in order of first appearance and, for
    each set of values of the other swept keys `axes` (the seed too) with both completed, metric at the second
    minus metric at the first, in order of first appearance."""
    first, second = values_of_in_order(table, pair)
    others = [a for a in axes if a != pair]
    at: dict[tuple, dict] = {}
    for row in good(table, metric):
        at.setdefault(tuple(_key(row.get(k)) for k in others), {}).setdefault(_key(row.get(pair)), row[metric])
    return first, second, [m[_key(second)] - m[_key(first)] for m in at.values() if _key(first) in m and _key(second) in m]


def paired_differences(table: list[dict], metric: str, pair: str, axes: list[str], title: str = ""):
    """A histogram of `paired` differences, with lines at 0 and at their mean; None without a pair."""
    first, second, diffs = paired(table, metric, pair, axes)
    others = [a for a in axes if a != pair]
    if not diffs:
        return None
    mean, _, ci = stats(diffs)
    fig, ax = plt.subplots(figsize=(8, 5))
    lo, hi = min(diffs), max(diffs)
    width = (hi - lo) or abs(hi) or 1.0  # all pairs alike: one bar, as wide as its distance from 0
    ax.hist(diffs, bins=min(40, max(5, math.ceil(math.sqrt(len(diffs))))) if hi > lo else 1,
            range=(lo, hi) if hi > lo else (lo - 0.05 * width, hi + 0.05 * width), color="#1f77b4", alpha=0.8)
    view = (min(lo, 0.0), max(hi, 0.0))  # 0 in view, to see which side the pairs fall on
    ax.set_xlim(view[0] - 0.08 * width, view[1] + 0.08 * width)
    ax.axvline(0.0, color="black", ls="--", lw=1, label="no difference")
    ax.axvline(mean, color="#d62728", lw=2, label=f"mean {mean:+.4g} (95% interval ±{ci:.3g})")
    wins = sum(d > 0 for d in diffs)
    ax.set(xlabel=f"{metric} at {pair}={fmt(second)} minus at {pair}={fmt(first)}", ylabel="pairs of points",
           title=f"{title}Paired difference of {metric}: {fmt(second)} - {fmt(first)} ({pair})\n"
                 f"{len(diffs)} pairs agreeing on {', '.join(others) or 'nothing else'}; "
                 f"{fmt(second)} higher in {wins}")
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def values_of_in_order(table: list[dict], key: str) -> list:
    """The distinct values of `key` in order of first appearance."""
    seen = {}
    for row in table:
        seen.setdefault(_key(row.get(key)), row.get(key))
    return list(seen.values())


def heat_map(table: list[dict], metric: str, x: str, y: str, others: list[str], title: str = ""):
    """The mean of `metric` over seeds for each (x, y), one panel per value of the `others` (pooled past
    MAX_PANELS), each cell written with its value; cells without a completed point are grey."""
    kept = good(table, metric)
    xs, ys = values_of(table, x), values_of(table, y)
    panels = _by(kept, others) if others else {(): kept}
    pooled = len(panels) > MAX_PANELS
    if pooled or not panels:
        panels = {(): kept}
    grids = []
    for members in panels.values():
        grid = np.full((len(ys), len(xs)), np.nan)
        for (vx, vy), rs in _by(members, [x, y]).items():
            grid[[_key(v) for v in ys].index(vy), [_key(v) for v in xs].index(vx)] = stats([r[metric] for r in rs])[0]
        grids.append(grid)
    finite = np.concatenate([g[np.isfinite(g)] for g in grids])
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    side = max(3.5, min(0.6 * len(xs) + 2, 9))
    fig, axs = plt.subplots(1, len(grids), figsize=(side * len(grids) + 1.2, max(3.5, min(0.45 * len(ys) + 2, 9))),
                            squeeze=False)
    cmap = plt.get_cmap("viridis").with_extremes(bad=IDLE_COLOR)
    for ax, grid, members in zip(axs[0], grids, panels.values()):
        im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap, vmin=lo, vmax=hi)
        if grid.size <= MAX_LABELLED_CELLS:
            size = 8 if grid.size <= 64 else 6
            for (i, j), v in np.ndenumerate(grid):
                shade = (v - lo) / (hi - lo) if hi > lo else 0.5
                ax.text(j, i, "-" if np.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=size,
                        color="black" if np.isnan(v) or shade >= 0.6 else "white")
        ax.set_xticks(range(len(xs)), [fmt(v) for v in xs], rotation=45 if len(xs) > 6 else 0)
        ax.set_yticks(range(len(ys)), [fmt(v) for v in ys])
        name = "all points" if pooled or not others else _label(others, members[0])
        ax.set(xlabel=x, ylabel=y, title=name)
        ax.title.set_fontsize(9)
    fig.colorbar(im, ax=list(axs[0]), label=f"mean {metric} over seeds")
    note = f", mean over {', '.join(others)}" if pooled and others else ""
    left_out = _left_out(table, kept)[2:]
    fig.suptitle(f"{title}Mean {metric} over seeds by {x} and {y}{note}" + (f"\n{left_out}" if left_out else ""),
                 fontsize=10)
    return fig
