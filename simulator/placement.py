"""Which PE holds which layer: snake order, row order, or explicit coordinates."""

from __future__ import annotations

from itertools import islice

from .hardware.mesh import Coord


def snake_order(rows: int, cols: int, count: int | None = None) -> list[Coord]:
    """Row 0 left to right, row 1 right to left, ...: consecutive entries are always neighbours.
    The first `count` PEs (all by default): a run on a wafer-sized mesh lists only those it uses."""
    def walk():
        for r in range(rows):
            cs = range(cols) if r % 2 == 0 else range(cols - 1, -1, -1)
            for c in cs:
                yield r, c
    return list(islice(walk(), rows * cols if count is None else count))


def row_order(rows: int, cols: int, count: int | None = None) -> list[Coord]:
    """Row-major order: every row left to right, so a row change jumps back across the mesh.
    The first `count` PEs (all by default)."""
    n = rows * cols if count is None else min(count, rows * cols)
    return [divmod(i, cols) for i in range(n)]


def _order(placement: str | list[list[int]], rows: int, cols: int, count: int) -> list[Coord]:
    """The first `count` PEs of the rule's order (fewer if the mesh or the list is shorter)."""
    if placement == "snake":
        return snake_order(rows, cols, count)
    if placement == "row":
        return row_order(rows, cols, count)
    return [(int(r), int(c)) for r, c in placement[:count]]


def place(placement: str | list[list[int]], rows: int, cols: int, n_layers: int) -> list[Coord]:
    """The PE of each layer 1..D. Explicit lists are assumed checked by `config.placement_problems`."""
    order = _order(placement, rows, cols, n_layers)
    if n_layers > len(order):
        raise ValueError(f"{n_layers} layers do not fit on {len(order)} PEs")
    return order


def place_data_parallel(placement: str | list[list[int]], rows: int, cols: int, n_layers: int, workers: int,
                        shards: bool) -> tuple[list[list[Coord]], list[Coord]]:
    """The PEs of each worker's layers 1..D, and of the shards of layers 1..D (empty without a server).

    The rule's PE order is cut into consecutive runs of D: worker 1, worker 2, ..., then the
    shards, so under snake order every worker's layers are neighbours and regions never
    overlap. An explicit list gives the same runs in the same order.
    """
    need = (workers + (1 if shards else 0)) * n_layers
    order = _order(placement, rows, cols, need)
    if need > len(order):
        raise ValueError(f"{need} PEs needed but only {len(order)} given")
    regions = [order[w * n_layers:(w + 1) * n_layers] for w in range(workers)]
    server = order[workers * n_layers:need] if shards else []
    return regions, server


class PlacementError(Exception):
    """A placement that cannot be made, with the key that asks for it (for the ConfigError)."""

    def __init__(self, key: str, text: str):
        super().__init__(text)
        self.key, self.text = key, text


NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # below, above, right, left: the order free PEs are tried in


def free_neighbours(anchors: list[Coord], used: set[Coord], rows: int, cols: int, key: str) -> list[Coord]:
    """One free PE next to each anchor (in NEIGHBOURS order), none used twice; PlacementError if one has none."""
    taken, out = set(used), []
    for anchor in anchors:
        r, c = anchor
        spot = next(((r + dr, c + dc) for dr, dc in NEIGHBOURS
                     if 0 <= r + dr < rows and 0 <= c + dc < cols and (r + dr, c + dc) not in taken), None)
        if spot is None:
            raise PlacementError(key, f"no free PE next to {anchor} on the {rows}x{cols} mesh; use a larger mesh, "
                                      "another placement, or keep the module on its layer's PE (same)")
        taken.add(spot)
        out.append(spot)
    return out
