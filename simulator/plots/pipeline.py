"""Pipeline diagrams: time (cycles) across, one track per PE in use, one bar per op."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..tracks import pe_tracks
from ..records import KIND_COLORS, KIND_NAMES, SAMPLE_KINDS
from .style import IDLE_COLOR, run_title

MAX_LABELS = 800  # sample numbers written on bars, at most
MAX_LINKED = 400  # samples whose ops are joined by a line, at most


class WindowError(ValueError):
    """A pipeline window that selects nothing (from >= to, or a negative sample count)."""


def default_window(ops: dict[str, np.ndarray], n_tracks: int) -> tuple[int, int]:
    """Cycles [0, end) that cover the first 4n + 4 samples entering layer 1: fill plus a steady stretch."""
    first = (ops["layer"] == 1) & (ops["kind"] == 0)
    starts = np.sort(ops["start"][first])
    n_show = 4 * n_tracks + 4
    end = int(starts[n_show]) if len(starts) > n_show else int(ops["end"].max())
    return 0, max(end, 1)


Window = tuple  # (from, to) cycles; either end may be None (from 0, to the last op's end)


def check_window(window: Window | None, samples: int | None) -> None:
    """Raise WindowError for a window that can select nothing, before anything runs."""
    if samples is not None:
        if window is not None and window != (None, None):
            raise WindowError("give either a cycle window (--from/--to) or a sample count (--samples), not both")
        if samples < 1:
            raise WindowError(f"--samples must be at least 1, got {samples}")
    elif window is not None and None not in window and window[0] >= window[1]:
        raise WindowError(f"the window is empty: --from {window[0]} is not before --to {window[1]}; "
                          "give --from smaller than --to")
    if window is not None and any(x is not None and x < 0 for x in window):
        raise WindowError(f"window cycles must not be negative, got --from {window[0]} --to {window[1]}")


def resolve_window(ops: dict[str, np.ndarray], metrics: dict, window: Window | None = None,
                   samples: int | None = None) -> tuple[int, int]:
    """The cycle window [lo, hi) to draw: `window` (from, to) cycles, or the span of the first
    `samples` samples' forward and backward ops, or (neither given) `default_window`."""
    check_window(window, samples)
    last = max(int(ops["end"].max()), 1)
    if samples is not None:
        sel = np.isin(ops["kind"], SAMPLE_KINDS) & (ops["sample"] >= 0) & (ops["sample"] < samples)
        return (int(ops["start"][sel].min()), int(ops["end"][sel].max())) if sel.any() else (0, last)
    if window is None or window == (None, None):
        return default_window(ops, len(pe_tracks(metrics, ops)))
    lo = 0 if window[0] is None else window[0]
    hi = last if window[1] is None else window[1]
    if lo >= hi:
        raise WindowError(f"the window is empty: it starts at cycle {lo:,} but the run ends at cycle {last:,}")
    return lo, hi


def in_window(ops: dict[str, np.ndarray], window: tuple[int, int]) -> np.ndarray:
    """Mask of the ops that overlap [lo, hi): they end after lo and start before hi."""
    lo, hi = window
    return (ops["end"] > lo) & (ops["start"] < hi)


def draw_pipeline(ax, ops: dict[str, np.ndarray], metrics: dict, window: tuple[int, int],
                  label_samples: bool = True, link_samples: bool = False) -> float:
    """Draw the ops overlapping `window` on `ax`, one bar collection per track and kind.

    Returns the fraction of track time in the window that is busy (0..1).
    """
    lo, hi = window
    tracks = pe_tracks(metrics, ops)
    y_of = {(t.row, t.col): i + 1 for i, t in enumerate(tracks)}
    keep = in_window(ops, window)
    kind, sample, start, end = (ops[c][keep] for c in ("kind", "sample", "start", "end"))
    y = np.array([y_of[rc] for rc in zip(ops["row"][keep].tolist(), ops["col"][keep].tolist())], dtype=float)
    ax.set_autoscale_on(False)  # one autoscale per bar makes large windows quadratic
    for i in range(1, len(tracks) + 1):
        ax.axhspan(i - 0.4, i + 0.4, color=IDLE_COLOR, linewidth=0, zorder=0)
        for code, color in KIND_COLORS.items():
            sel = (y == i) & (kind == code)
            if sel.any():
                ax.broken_barh(list(zip(start[sel], end[sel] - start[sel])), (i - 0.4, 0.8),
                               facecolors=color, edgecolor="white", linewidth=0.3, zorder=2)
    has_sample = np.isin(kind, SAMPLE_KINDS)
    if label_samples:
        wide = has_sample & (end - start >= (hi - lo) / 80)
        for k, s, a, b in list(zip(y[wide], sample[wide], start[wide], end[wide]))[:MAX_LABELS]:
            ax.text((a + b) / 2, k, str(s), ha="center", va="center", fontsize=6, color="white", zorder=3)
    if link_samples:
        ax.add_collection(LineCollection(sample_paths(sample[has_sample], (start + end)[has_sample] / 2,
                                                      y[has_sample]),
                                         colors="black", linewidths=0.5, alpha=0.6, zorder=4))
    ax.set_xlim(lo, hi)
    ax.set_ylim(0.4, len(tracks) + 0.6)
    step = max(1, len(tracks) // 24)
    ticks = list(range(1, len(tracks) + 1, step))
    ax.set_yticks(ticks, [tracks[i - 1].name for i in ticks], fontsize=8)
    busy = (np.minimum(end, hi) - np.maximum(start, lo)).sum()
    return float(busy) / (len(tracks) * (hi - lo)) if tracks else 0.0


def sample_paths(sample: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """One polyline per sample through its ops' (x, y) points in time order (first MAX_LINKED samples)."""
    order = np.lexsort((x, sample))
    sample, x, y = sample[order], x[order], y[order]
    ids, first = np.unique(sample, return_index=True)
    bounds = list(first[1:]) + [len(sample)]
    return [np.column_stack([x[a:b], y[a:b]]) for a, b in list(zip(first, bounds))[:MAX_LINKED] if b - a > 1]


def legend_handles(kinds, link_samples: bool) -> list:
    """Legend entries: F, B, U always, S and R when present, idle, and the sample line if drawn."""
    shown = sorted({0, 1, 2} | {int(k) for k in kinds})
    handles = [Patch(color=KIND_COLORS[k], label=KIND_NAMES[k]) for k in shown]
    handles.append(Patch(color=IDLE_COLOR, label="idle"))
    if link_samples:
        handles.append(Line2D([], [], color="black", lw=0.5, label="one sample's ops"))
    return handles


def pipeline_diagram(ops: dict[str, np.ndarray], metrics: dict, window: Window | None = None,
                     samples: int | None = None, label_samples: bool = True, link_samples: bool = False):
    """A run's pipeline: time (cycles) across, its PEs up, one bar per op coloured by kind.

    Grey is idle time. With `label_samples`, each forward and backward bar wide enough
    for text carries its sample number; with `link_samples`, a thin line joins each
    sample's ops, so one sample can be followed up and down the network.
    """
    window = resolve_window(ops, metrics, window, samples)
    n_tracks = len(pe_tracks(metrics, ops))
    fig, ax = plt.subplots(figsize=(12, 1.4 + 0.5 * min(n_tracks, 24)))
    busy = draw_pipeline(ax, ops, metrics, window, label_samples, link_samples)
    ax.set_xlabel("time (cycles)")
    ax.set_ylabel("PE (label, row, col)")
    ax.set_title(f"Pipeline: {run_title(metrics)}, cycles {window[0]:,}-{window[1]:,}\n"
                 f"PEs busy {busy:.0%} of this window; numbers on bars are sample indices", fontsize=10)
    ax.legend(handles=legend_handles(ops["kind"], link_samples), loc="upper left", bbox_to_anchor=(1.0, 1.0),
              fontsize=8)
    fig.tight_layout()
    return fig


def pipeline_stack(runs: dict[str, tuple[dict, dict]], window: Window | None = None, samples: int | None = None,
                   label_samples: bool = True, link_samples: bool = False):
    """Several runs' pipelines stacked on one shared cycle axis; `runs` maps a title to (ops, metrics).

    The axis spans the union of the runs' windows (see `resolve_window`).
    """
    panels = [(title, ops, metrics) for title, (ops, metrics) in runs.items() if len(ops.get("start", ()))]
    spans = [resolve_window(ops, metrics, window, samples) for _, ops, metrics in panels]
    window = (min(lo for lo, _ in spans), max(hi for _, hi in spans))
    heights = [len(pe_tracks(metrics, ops)) + 1.5 for _, ops, metrics in panels]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": heights},
                             figsize=(12, 1.0 + 0.42 * sum(heights)))
    kinds = set()
    for ax, (title, ops, metrics) in zip(axes[:, 0], panels):
        busy = draw_pipeline(ax, ops, metrics, window, label_samples, link_samples)
        ax.set_title(f"{title}: {run_title(metrics)}; PEs busy {busy:.0%} of this window", fontsize=10, loc="left")
        ax.set_ylabel("PE", fontsize=8)
        kinds |= set(np.unique(ops["kind"]).tolist())
    axes[-1, 0].set_xlabel("time (cycles, shared axis)")
    axes[0, 0].legend(handles=legend_handles(kinds, link_samples), loc="upper left", bbox_to_anchor=(1.0, 1.0),
                      fontsize=8)
    fig.tight_layout()
    return fig
