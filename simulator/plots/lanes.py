"""Pipeline lanes as a raster: what a diagram with more tracks or ops than pixels draws instead of bars.

Tracks are grouped into at most MAX_LANES lanes (`lanes_of`: consecutive tracks, or on layer
regions one lane per region) and the window is cut into TIME_BINS equal bins; each cell of the raster takes the colours of the op kinds, mixed in
the proportion of the cell's PE time they fill, and the idle colour for the rest. The
cycles are summed exactly (see `binned_cycles`), so an op too short for a pixel still
tints it, and the image costs time linear in the ops however many there are.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from matplotlib.colors import to_rgb

from ..records import KIND_COLORS
from .style import IDLE_COLOR

MAX_LANES = 600  # raster rows at most (about two pixels each at the default figure height)
TIME_BINS = 1000  # raster columns (about a pixel each at the default figure width)


PE_AXIS = "PE (label, row, col)"  # the y axis of bars, one PE each, and of lanes of consecutive PEs


def lane_size(n_tracks: int, max_lanes: int = MAX_LANES) -> int:
    """Tracks per lane: 1 up to `max_lanes` tracks, else the fewest that keep the lanes within it."""
    return max(1, math.ceil(n_tracks / max_lanes))


class Lanes(NamedTuple):
    """Which lane each track is drawn in, how many tracks each lane holds, and their names."""

    lane: np.ndarray  # int64 (tracks,): the 0-based lane of each track
    sizes: np.ndarray  # int64 (lanes,): tracks in each
    names: list[str]  # per lane
    note: str  # how to read a lane, for the title
    axis: str  # what the lanes are, for the y axis


def lanes_of(tracks: list) -> Lanes:
    """The lanes of a raster: on layer regions one per region (its blocks' time summed, so a lane reads
    as the region's busy share: 12 lanes for a 12-layer network on 600,000 PEs), if the regions are at
    most MAX_LANES; else consecutive tracks, `lane_size` of them a lane, named by the first."""
    layers = [t.layer for t in tracks]
    if any(t.role == "block" for t in tracks) and None not in layers and len(set(layers)) <= MAX_LANES:
        keys, lane, sizes = np.unique(np.array(layers, dtype=np.int64), return_inverse=True, return_counts=True)
        return Lanes(lane.astype(np.int64), sizes.astype(np.int64),
                     [f"L{k} region ({n:,} PEs)" for k, n in zip(keys.tolist(), sizes.tolist())],
                     "each lane is one layer's region, its PEs' time together", "layer region (its PEs)")
    per = lane_size(len(tracks))
    lane = np.arange(len(tracks), dtype=np.int64) // per
    sizes = np.bincount(lane, minlength=-(-len(tracks) // per)).astype(np.int64) if len(tracks) else lane
    each = "one PE" if per == 1 else f"{per} PEs (labelled by the first)"
    return Lanes(lane, sizes, [tracks[i * per].name for i in range(len(sizes))], f"each lane holds {each}",
                 PE_AXIS)


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


def lane_raster(lane: np.ndarray, kind: np.ndarray, start: np.ndarray, end: np.ndarray, sizes: np.ndarray,
                window: tuple[int, int], bins: int = TIME_BINS) -> np.ndarray:
    """The RGB raster float (lanes, bins, 3) of ops in 0-based `lane`s (of sizes[i] tracks each) over
    `window` [lo, hi) cycles."""
    lo, hi = window
    n_lanes = len(sizes)
    bins = max(1, min(bins, hi - lo))  # no bin narrower than a cycle
    edges = np.linspace(0.0, hi - lo, bins + 1)  # cycles from lo
    codes = sorted(KIND_COLORS)
    kind_index = np.searchsorted(codes, kind)
    group = lane * len(codes) + kind_index
    a = np.clip(start - lo, 0, hi - lo).astype(np.float64)
    b = np.clip(end - lo, 0, hi - lo).astype(np.float64)
    cycles = binned_cycles(group, a, b, n_lanes * len(codes), edges).reshape(n_lanes, len(codes), bins)
    share = cycles / (np.diff(edges)[None, None, :] * np.asarray(sizes)[:, None, None])  # (lanes, kinds, bins)
    colors = np.array([to_rgb(KIND_COLORS[c]) for c in codes])  # (kinds, 3)
    busy = share.sum(axis=1, keepdims=True)  # (lanes, 1, bins)
    rgb = np.einsum("lkb,kc->lbc", share, colors) + (1.0 - busy).transpose(0, 2, 1) * np.array(to_rgb(IDLE_COLOR))
    return np.clip(rgb, 0.0, 1.0)
