"""The stretch of a run a pipeline diagram shows: checked and resolved with NumPy alone.

Kept apart from the drawing so the command line can check --from/--to/--samples before
a run without importing matplotlib (about a second), which `--no-figures` never needs.
"""

from __future__ import annotations

import numpy as np

from ..records import SAMPLE_KINDS
from ..tracks import pe_tracks


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
