"""Which PEs a run used and in what order to show them: one track per PE in use."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

ROLE_ORDER = {"layer": 0, "block": 0, "worker": 0, "synthetic": 0, "shard": 1}  # layers (each with its dni
# module, or its region's other blocks), then shards


class Track(NamedTuple):
    """One PE in use: its coordinates, the short label written on it ("L2", "W1 L2", "S2") and its role."""

    row: int
    col: int
    label: str
    role: str | None
    layer: int | None = None

    @property
    def name(self) -> str:
        """The label with the PE's coordinates, e.g. "L2 (0,1)"."""
        return f"{self.label} ({self.row},{self.col})"


def _label(pe: dict) -> str:
    """The PE's label; a layer other than dense says its kind ("L2 conv")."""
    label = pe.get("label") or (f"L{pe['layer']}" if pe.get("layer") is not None else "PE")
    kind = pe.get("kind")
    return f"{label} {kind}" if kind not in (None, "dense") and pe.get("role") != "synthetic" else label


def _role(pe: dict) -> str | None:
    return pe.get("role", "layer" if pe.get("layer") is not None else None)


def pe_tracks(metrics: dict, ops: dict[str, np.ndarray] | None = None) -> list[Track]:
    """The PEs that hold a role, plus any other PE that ran an op, in display order.

    Order: PEs with a layer role by (worker, layer), then shards by layer, then the rest
    by coordinate.
    """
    pes = {(pe["row"], pe["col"]): pe for pe in metrics["pe_utilization"]}
    used = {coord for coord, pe in pes.items() if _role(pe) is not None}
    if ops is not None and len(ops.get("row", ())):  # the PEs that ran ops, found once each (a wafer logs millions)
        rows, cols = ops["row"].astype(np.int64), ops["col"].astype(np.int64)
        low, width = int(cols.min()), int(cols.max() - cols.min()) + 1
        keys = np.unique(rows * width + (cols - low))
        used |= set(zip((keys // width).tolist(), (keys % width + low).tolist()))

    def key(coord):
        pe = pes.get(coord, {})
        role = _role(pe)
        return (ROLE_ORDER.get(role, 2), pe.get("worker") or 0, pe.get("layer") or 0, role == "synthetic", coord)

    return [Track(r, c, _label(pes.get((r, c), {})), _role(pes.get((r, c), {})), pes.get((r, c), {}).get("layer"))
            for r, c in sorted(used, key=key)]
