"""Convergence curves of one or more runs, and per-layer staleness histograms."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

MAX_PANELS = 16  # layers given a histogram each, at most (a 4 x 4 page); more are summarised in two panels
MAX_MARKERS = 200  # curve points drawn with a marker each, at most

def convergence(runs: dict[str, tuple[dict, list]]):
    """Test accuracy and training loss against samples and against simulated time, one line per run.

    `runs` maps a legend label to (metrics, curve rows (samples, cycle, loss, accuracy)).
    """
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    for label, (metrics, curve) in runs.items():
        if not curve:
            continue
        samples, cycles, loss, acc = (np.array(col, dtype=float) for col in zip(*curve))
        ms = cycles / metrics["scenario"]["hardware"]["clock_hz"] * 1e3
        for ax, x, y in ((axes[0, 0], samples, acc), (axes[0, 1], ms, acc),
                         (axes[1, 0], samples, loss), (axes[1, 1], ms, loss)):
            if np.isfinite(y).any():
                ax.plot(x, y, marker="." if len(x) <= MAX_MARKERS else None, label=label)
    time_label = "simulated time (ms at the hardware clock)"
    axes[0, 0].set(xlabel="samples trained", ylabel="test accuracy", title="Test accuracy vs samples")
    axes[0, 1].set(xlabel=time_label, ylabel="test accuracy", title="Test accuracy vs simulated time")
    loss_label = "training loss (cross-entropy, mean since last evaluation)"
    axes[1, 0].set(xlabel="samples trained", ylabel=loss_label, title="Training loss vs samples")
    axes[1, 1].set(xlabel=time_label, ylabel=loss_label, title="Training loss vs simulated time")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no arithmetic (timing-only runs)", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def has_staleness(metrics: dict) -> bool:
    """True when some layer (or shard) applied an update computed from older weights."""
    return any((row["staleness"]["max"] or 0) > 0 for row in metrics["layers"])


def row_name(row: dict) -> str:
    """How a `layers` row is titled: 'layer 2' for a pipelined layer, else its label ('S2', 'W1 L2')."""
    if row.get("role", "layer") == "layer" or not row.get("label"):
        return f"layer {row['layer']}"
    return row["label"]


def staleness_histograms(metrics: dict):
    """One bar chart per layer (or shard): how many updates had each staleness; past MAX_PANELS
    layers, `staleness_summary` instead."""
    rows = [row for row in metrics["layers"] if row["staleness"]["updates"]]
    if len(rows) > MAX_PANELS:
        return staleness_summary(metrics, rows)
    n_cols = min(4, len(rows))
    n_rows = math.ceil(len(rows) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False, figsize=(1.5 + 3.4 * n_cols, 1.2 + 2.8 * n_rows))
    for ax, row in zip(axes.flat, rows):
        st = row["staleness"]
        values, counts = [int(k) for k in st["histogram"]], list(st["histogram"].values())
        bars = ax.bar(values, counts, color="#1f77b4", width=0.8)
        if len(values) <= 12:
            ax.bar_label(bars, fontsize=7)
            ax.set_xticks(values)
        ax.set_yscale("log")  # a few fill-up updates next to thousands of steady ones stay visible
        ax.set_xlim(min(values) - 0.6, max(max(values), min(values) + 2) + 0.6)
        ax.set_ylim(0.5, max(counts) * 3)
        ax.set_title(f"{row_name(row)}: mean {st['mean']:.2f}, max {st['max']}", fontsize=9)
        ax.set_xlabel("staleness (weight versions)")
        ax.set_ylabel("updates (log scale)")
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    fig.suptitle(_suptitle(metrics), fontsize=10)
    fig.tight_layout()
    return fig


def _suptitle(metrics: dict) -> str:
    scen = metrics["scenario"]
    return (f"Update staleness per layer, {scen['training']['algorithm'].upper()} ({scen['name']}): "
            "updates the layer applied between a gradient's forward and its update")


def staleness_summary(metrics: dict, rows: list[dict]):
    """Many layers' staleness in two panels: mean and max against the layer, and the histogram of every update."""
    fig, (by_layer, pooled) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.6, 1]})
    position = np.arange(1, len(rows) + 1)  # the rows in metrics order: layers, or shards
    for key, color in (("max", "#d62728"), ("mean", "#1f77b4")):
        by_layer.plot(position, [row["staleness"][key] for row in rows], color=color, lw=1, label=key)
    by_layer.set(xlabel=f"{'shard' if rows[0].get('role') == 'shard' else 'layer'} (of {len(rows):,})",
                 ylabel="staleness (weight versions)", title="Mean and max staleness of each layer's updates")
    by_layer.grid(alpha=0.3)
    by_layer.legend(fontsize=8)
    counts: dict[int, int] = {}
    for row in rows:
        for value, n in row["staleness"]["histogram"].items():
            counts[int(value)] = counts.get(int(value), 0) + n
    values = sorted(counts)
    pooled.bar(values, [counts[v] for v in values], color="#1f77b4", width=0.8)
    pooled.set_yscale("log")
    pooled.set_ylim(0.5, max(counts.values()) * 3)  # as the per-layer histograms: counts of 1 stay visible
    pooled.set(xlabel="staleness (weight versions)", ylabel="updates (log scale)",
               title=f"Every update of the {len(rows):,} layers")
    fig.suptitle(_suptitle(metrics), fontsize=10)
    fig.tight_layout()
    return fig
