"""Which PE holds which layer: snake order, row order, or explicit coordinates."""

from __future__ import annotations

from .hardware.mesh import Coord


def snake_order(rows: int, cols: int) -> list[Coord]:
    """Row 0 left to right, row 1 right to left, ...: consecutive entries are always neighbours."""
    order = []
    for r in range(rows):
        cs = range(cols) if r % 2 == 0 else range(cols - 1, -1, -1)
        order += [(r, c) for c in cs]
    return order


def row_order(rows: int, cols: int) -> list[Coord]:
    """Row-major order: every row left to right, so a row change jumps back across the mesh."""
    return [(r, c) for r in range(rows) for c in range(cols)]


def place(placement: str | list[list[int]], rows: int, cols: int, n_layers: int) -> list[Coord]:
    """The PE of each layer 1..D. Explicit lists are assumed checked by `config.placement_problems`."""
    if placement == "snake":
        order = snake_order(rows, cols)
    elif placement == "row":
        order = row_order(rows, cols)
    else:
        order = [(int(r), int(c)) for r, c in placement]
    if n_layers > len(order):
        raise ValueError(f"{n_layers} layers do not fit on {len(order)} PEs")
    return order[:n_layers]
