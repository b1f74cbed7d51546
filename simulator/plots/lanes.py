"""Pipeline lanes as a raster: what a diagram with more tracks or ops than pixels draws instead of bars.

Consecutive tracks are grouped into at most MAX_LANES lanes and the window is cut into
TIME_BINS equal bins; each cell of the raster takes the colours of the op kinds, mixed in
the proportion of the cell's PE time they fill, and the idle colour for the rest. The
cycles are summed exactly (see `binned_cycles`), so an op too short for a pixel still
tints it, and the image costs time linear in the ops however many there are.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import to_rgb

from ..records import KIND_COLORS
from .style import IDLE_COLOR

MAX_LANES = 600  # raster rows at most (about two pixels each at the default figure height)
TIME_BINS = 1000  # raster columns (about a pixel each at the default figure width)


def lane_size(n_tracks: int, max_lanes: int = MAX_LANES) -> int:
    """Tracks per lane: 1 up to `max_lanes` tracks, else the fewest that keep the lanes within it."""
    return max(1, math.ceil(n_tracks / max_lanes))


def binned_cycles(group: np.ndarray, start: np.ndarray, end: np.ndarray, n_groups: int,
                  edges: np.ndarray) -> np.ndarray:
    """Cycles of the intervals [start, end) inside each bin [edges[j], edges[j+1]), summed per group:
    float64 (n_groups, len(edges) - 1).

    The part of [a, b) before t is (t - a)+ - (t - b)+, so the covered cycles before every edge
    are, per group, counts and sums of the starts (and ends) before it: two bincounts and a
    cumulative sum, O(intervals + groups x bins) for any interval lengths.
    """
    n_edges = len(edges)

    def ramp(t: np.ndarray) -> np.ndarray:
        """Sum over the intervals of (edge - t)+, per group and edge."""
        first = np.searchsorted(edges, t, side="right")  # edges from here on lie after t
        flat = group * (n_edges + 1) + first
        shape = (n_groups, n_edges + 1)
        count = np.bincount(flat, minlength=n_groups * (n_edges + 1)).reshape(shape)[:, :n_edges].cumsum(axis=1)
        total = np.bincount(flat, weights=t, minlength=n_groups * (n_edges + 1)).reshape(shape)[:, :n_edges]
        return count * edges - total.cumsum(axis=1)

    covered = ramp(start) - ramp(end)  # (n_groups, n_edges): cycles covered before each edge
    return np.diff(covered, axis=1)


def lane_raster(track: np.ndarray, kind: np.ndarray, start: np.ndarray, end: np.ndarray, n_tracks: int,
                window: tuple[int, int], per_lane: int, bins: int = TIME_BINS) -> np.ndarray:
    """The RGB raster float (lanes, bins, 3) of ops on 0-based `track`s over `window` [lo, hi) cycles.

    Lane i holds tracks i*per_lane .. (i+1)*per_lane - 1 (the last lane may hold fewer).
    """
    lo, hi = window
    n_lanes = -(-n_tracks // per_lane)
    bins = max(1, min(bins, hi - lo))  # no bin narrower than a cycle
    edges = np.linspace(0.0, hi - lo, bins + 1)  # cycles from lo
    codes = sorted(KIND_COLORS)
    kind_index = np.searchsorted(codes, kind)
    group = (track // per_lane) * len(codes) + kind_index
    a = np.clip(start - lo, 0, hi - lo).astype(np.float64)
    b = np.clip(end - lo, 0, hi - lo).astype(np.float64)
    cycles = binned_cycles(group, a, b, n_lanes * len(codes), edges).reshape(n_lanes, len(codes), bins)
    tracks_in_lane = np.minimum(per_lane, n_tracks - per_lane * np.arange(n_lanes))  # (n_lanes,)
    share = cycles / (np.diff(edges)[None, None, :] * tracks_in_lane[:, None, None])  # (lanes, kinds, bins)
    colors = np.array([to_rgb(KIND_COLORS[c]) for c in codes])  # (kinds, 3)
    busy = share.sum(axis=1, keepdims=True)  # (lanes, 1, bins)
    rgb = np.einsum("lkb,kc->lbc", share, colors) + (1.0 - busy).transpose(0, 2, 1) * np.array(to_rgb(IDLE_COLOR))
    return np.clip(rgb, 0.0, 1.0)
