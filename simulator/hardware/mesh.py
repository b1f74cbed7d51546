"""The PE grid: coordinates, the I/O port, and dimension-order (XY) routes between them."""

from __future__ import annotations

Coord = tuple[int, int]

# Samples and labels enter through an I/O port just west of PE (0, 0), one link away.
PORT: Coord = (0, -1)


class Mesh:
    """A rows x cols grid of PEs joined by links between 4-neighbours, plus the I/O port."""

    def __init__(self, rows: int, cols: int):
        if rows < 1 or cols < 1:
            raise ValueError(f"a mesh needs at least one row and one column, got {rows}x{cols}")
        self.rows = rows
        self.cols = cols

    def __contains__(self, coord: Coord) -> bool:
        r, c = coord
        return 0 <= r < self.rows and 0 <= c < self.cols

    @property
    def coords(self) -> list[Coord]:
        """Every PE in row-major order."""
        return [(r, c) for r in range(self.rows) for c in range(self.cols)]

    def route(self, src: Coord, dst: Coord) -> list[tuple[Coord, Coord]]:
        """The directed links from src to dst: first along the row (X), then along the column (Y)."""
        if dst == PORT:
            raise ValueError("the I/O port only sends: no route leads into it")
        for end in (src, dst):
            if end != PORT and end not in self:
                raise ValueError(f"{end} is not a PE of the {self.rows}x{self.cols} mesh")
        links = []
        (r, c), (r2, c2) = src, dst
        while c != c2:
            step = 1 if c2 > c else -1
            links.append(((r, c), (r, c + step)))
            c += step
        while r != r2:
            step = 1 if r2 > r else -1
            links.append(((r, c), (r + step, c)))
            r += step
        return links

    def hops(self, src: Coord, dst: Coord) -> int:
        """Manhattan distance, the number of links an XY route crosses."""
        return abs(src[0] - dst[0]) + abs(src[1] - dst[1])
