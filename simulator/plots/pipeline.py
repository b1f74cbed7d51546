"""Pipeline diagrams: time (cycles) across, one track per PE in use, one bar per op (or a raster of lanes)."""

from __future__ import annotations

from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..tracks import Track, pe_tracks
from ..records import KIND_COLORS, KIND_NAMES, SAMPLE_KINDS
from .lanes import PE_AXIS, lane_raster, lanes_of
from .style import IDLE_COLOR, run_title
from .window import Window, WindowError, check_window, default_window, in_window, resolve_window  # noqa: F401

MAX_LABELS = 800  # sample numbers written on bars, at most
MAX_LINKED = 400  # samples whose ops are joined by a line, at most
MAX_BAR_TRACKS = 128  # tracks drawn as bars, at most (about 8 pixels each at the default height)
MAX_BARS = 20_000  # op bars in a window, at most; more tracks or bars are drawn as a raster of lanes
MAX_ROWS = 24  # track heights a figure grows by, at most: more tracks share the height


class Drawn(NamedTuple):
    """What `draw_pipeline` drew: the busy fraction of the window (0..1), and bars or a raster of lanes."""

    busy: float
    raster: bool
    lanes_note: str  # how a raster's lanes read ("" for bars)
    axis: str  # what the rows are, for the y axis


def track_index(tracks: list[Track], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The 0-based track of each op (PE rows, cols), looked up vectorised: int64 (ops,)."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    width = int(max(cols.max(), max(t.col for t in tracks))) + 1
    keys = np.array([t.row * width + t.col for t in tracks], dtype=np.int64)
    order = np.argsort(keys)
    return order[np.searchsorted(keys[order], rows.astype(np.int64) * width + cols)]


def draw_pipeline(ax, ops: dict[str, np.ndarray], metrics: dict, window: tuple[int, int],
                  label_samples: bool = True, link_samples: bool = False, tracks: list[Track] | None = None) -> Drawn:
    """Draw the ops overlapping `window` on `ax`: one bar per op on its PE's track, or, with more
    than MAX_BAR_TRACKS tracks or MAX_BARS ops in the window, a raster of lanes (`lanes`)."""
    lo, hi = window
    tracks = pe_tracks(metrics, ops) if tracks is None else tracks
    keep = in_window(ops, window)
    kind, sample, start, end = (ops[c][keep] for c in ("kind", "sample", "start", "end"))
    track = track_index(tracks, ops["row"][keep], ops["col"][keep])
    ax.set_autoscale_on(False)  # one autoscale per bar makes large windows quadratic
    raster = len(tracks) > MAX_BAR_TRACKS or len(start) > MAX_BARS
    if not raster:
        _draw_bars(ax, len(tracks), track, kind, sample, start, end, window, label_samples)
        row, names, note, axis = track, [t.name for t in tracks], "", PE_AXIS
    else:
        lanes = lanes_of(tracks)
        row, names, note, axis = lanes.lane[track], lanes.names, lanes.note, lanes.axis
        image = lane_raster(row, kind, start, end, lanes.sizes, window)
        ax.imshow(image, aspect="auto", interpolation="nearest", origin="lower",
                  extent=(lo, hi, 0.5, len(image) + 0.5), zorder=1)
    n_rows = len(names)
    y = (row + 1).astype(float)  # the row each op sits on
    if link_samples:
        has_sample = np.isin(kind, SAMPLE_KINDS)
        ax.add_collection(LineCollection(sample_paths(sample[has_sample], (start + end)[has_sample] / 2,
                                                      y[has_sample]),
                                         colors="black", linewidths=0.5, alpha=0.6, zorder=4))
    ax.set_xlim(lo, hi)
    margin = 0.5 if raster else 0.6  # a raster fills its rows; bars leave a gap above and below
    ax.set_ylim(1 - margin, n_rows + margin)
    step = max(1, n_rows // 24)
    ticks = list(range(1, n_rows + 1, step))
    ax.set_yticks(ticks, [names[i - 1] for i in ticks], fontsize=8)
    busy = (np.minimum(end, hi) - np.maximum(start, lo)).sum()
    return Drawn(float(busy) / (len(tracks) * (hi - lo)) if tracks else 0.0, raster, note, axis)


def _draw_bars(ax, n_tracks: int, track: np.ndarray, kind: np.ndarray, sample: np.ndarray, start: np.ndarray,
               end: np.ndarray, window: tuple[int, int], label_samples: bool) -> None:
    """One grey band per track and one bar per op, a bar collection per track and kind."""
    lo, hi = window
    for i in range(1, n_tracks + 1):
        ax.axhspan(i - 0.4, i + 0.4, color=IDLE_COLOR, linewidth=0, zorder=0)
    order = np.lexsort((kind, track))  # ops grouped by track, then kind
    group = track[order] * (max(KIND_COLORS) + 1) + kind[order]
    bounds = np.flatnonzero(np.diff(group)) + 1
    for part in np.split(order, bounds) if len(order) else ():
        i, code = int(track[part[0]]) + 1, int(kind[part[0]])
        ax.broken_barh(list(zip(start[part], end[part] - start[part])), (i - 0.4, 0.8),
                       facecolors=KIND_COLORS[code], edgecolor="white", linewidth=0.3, zorder=2)
    if label_samples:
        wide = np.isin(kind, SAMPLE_KINDS) & (end - start >= (hi - lo) / 80)
        for k, s, a, b in list(zip(track[wide] + 1, sample[wide], start[wide], end[wide]))[:MAX_LABELS]:
            ax.text((a + b) / 2, k, str(s), ha="center", va="center", fontsize=6, color="white", zorder=3)


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


def _lanes_note(drawn: Drawn) -> str:
    """How the diagram reads, for its title."""
    if not drawn.raster:
        return "numbers on bars are sample indices"
    return f"{drawn.lanes_note}, coloured by the share of its time each kind of op fills"


def pipeline_diagram(ops: dict[str, np.ndarray], metrics: dict, window: Window | None = None,
                     samples: int | None = None, label_samples: bool = True, link_samples: bool = False):
    """A run's pipeline: time (cycles) across, its PEs up, one bar per op coloured by kind.

    Grey is idle time. With `label_samples`, each forward and backward bar wide enough
    for text carries its sample number; with `link_samples`, a thin line joins each
    sample's ops, so one sample can be followed up and down the network. With more tracks
    or ops than the figure has room for, lanes of PEs are drawn as a raster (`lanes`).
    """
    window = resolve_window(ops, metrics, window, samples)
    tracks = pe_tracks(metrics, ops)
    fig, ax = plt.subplots(figsize=(12, 1.4 + 0.5 * min(len(tracks), MAX_ROWS)))
    drawn = draw_pipeline(ax, ops, metrics, window, label_samples, link_samples, tracks)
    ax.set_xlabel("time (cycles)")
    ax.set_ylabel(drawn.axis)
    ax.set_title(f"Pipeline: {run_title(metrics)}, cycles {window[0]:,}-{window[1]:,}\n"
                 f"PEs busy {drawn.busy:.0%} of this window; {_lanes_note(drawn)}", fontsize=10)
    ax.legend(handles=legend_handles(np.unique(ops["kind"]), link_samples), loc="upper left", bbox_to_anchor=(1.0, 1.0),
              fontsize=8)
    fig.tight_layout()
    return fig


def pipeline_stack(runs: dict[str, tuple[dict, dict]], window: Window | None = None, samples: int | None = None,
                   label_samples: bool = True, link_samples: bool = False):
    """Several runs' pipelines stacked on one shared cycle axis; `runs` maps a title to (ops, metrics).

    The axis spans the union of the runs' windows (see `resolve_window`).
    """
    panels = [(title, ops, metrics, pe_tracks(metrics, ops)) for title, (ops, metrics) in runs.items()
              if len(ops.get("start", ()))]
    spans = [resolve_window(ops, metrics, window, samples) for _, ops, metrics, _ in panels]
    window = (min(lo for lo, _ in spans), max(hi for _, hi in spans))
    heights = [min(len(tracks), MAX_ROWS) + 1.5 for *_, tracks in panels]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": heights},
                             figsize=(12, 1.0 + 0.42 * sum(heights)))
    kinds = set()
    for ax, (title, ops, metrics, tracks) in zip(axes[:, 0], panels):
        drawn = draw_pipeline(ax, ops, metrics, window, label_samples, link_samples, tracks)
        lanes = f"; {drawn.lanes_note}, coloured by time share" if drawn.raster else ""
        ax.set_title(f"{title}: {run_title(metrics)}; PEs busy {drawn.busy:.0%} of this window{lanes}", fontsize=10,
                     loc="left")
        ax.set_ylabel("PE", fontsize=8)
        kinds |= set(np.unique(ops["kind"]).tolist())
    axes[-1, 0].set_xlabel("time (cycles, shared axis)")
    axes[0, 0].legend(handles=legend_handles(kinds, link_samples), loc="upper left", bbox_to_anchor=(1.0, 1.0),
                      fontsize=8)
    fig.tight_layout()
    return fig
