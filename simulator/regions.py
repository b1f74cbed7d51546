"""Layer regions: which R x C rectangle of PEs holds which dense layer, and how big each one is.

A dense layer with weights W (n_out x n_in) on an R x C region has its output rows cut into R
contiguous blocks and its input columns into C (`split`); PE (r, c) of the region holds
W[rows_r, cols_c]. This module only plans: it places rectangles on the mesh (`pack`, or an
explicit list checked by `overlap_problems`), chooses their sizes (`balanced_sizes`), or both
(`balanced_regions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import isqrt
from typing import Callable

import numpy as np

from .hardware.mesh import Coord


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """The (start, stop) of `parts` contiguous pieces of range(n), the first n % parts one longer
    (numpy.array_split's sizes). ValueError unless 1 <= parts <= n: no piece is ever empty."""
    if parts < 1 or parts > n:
        raise ValueError(f"cannot split {n} into {parts} non-empty pieces; give 1 to {n} pieces")
    size, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


@dataclass(frozen=True)
class Region:
    """A rows x cols rectangle of PEs whose top-left PE is `origin` (mesh row, mesh column)."""

    origin: Coord
    rows: int  # R: blocks of the layer's output rows, one per region row
    cols: int  # C: blocks of the layer's input columns, one per region column

    def __post_init__(self):
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"a region needs at least one row and one column, got {self.rows}x{self.cols}")

    @property
    def size(self) -> int:
        """PEs in the region, R * C."""
        return self.rows * self.cols

    def coord(self, r: int, c: int) -> Coord:
        """The mesh coordinate of the region's PE (r, c); (0, 0) is the origin."""
        return self.origin[0] + r, self.origin[1] + c

    def coords(self) -> list[Coord]:
        """Every PE of the region in row-major order."""
        return [self.coord(r, c) for r in range(self.rows) for c in range(self.cols)]

    def hops_to(self, other: "Region") -> int:
        """The fewest links between a PE of this region and one of `other`: 0 if they overlap, 1 if they touch."""
        (r, c), (r2, c2) = self.origin, other.origin
        dr = max(0, r2 - (r + self.rows - 1), r - (r2 + other.rows - 1))
        dc = max(0, c2 - (c + self.cols - 1), c - (c2 + other.cols - 1))
        return dr + dc

    def describe(self) -> str:
        """R x C and the origin, as messages name a region: '2x3 at (0, 4)'."""
        return f"{self.rows}x{self.cols} at ({self.origin[0]}, {self.origin[1]})"


def extent(regions: list[Region]) -> tuple[int, int]:
    """(rows, cols) of the mesh as far as `regions` reach: XY routes between their PEs, and from the port
    west of PE (0, 0), stay within it."""
    return max(g.origin[0] + g.rows for g in regions), max(g.origin[1] + g.cols for g in regions)


def regions_from_list(spec: list[list[int]]) -> list[Region]:
    """Explicit regions, one entry [row, col, R, C] per layer; ValueError naming the layer for a bad entry."""
    out = []
    for k, entry in enumerate(spec, 1):
        if len(entry) != 4:
            raise ValueError(f"layer {k}'s region {list(entry)} needs four integers [row, col, R, C]")
        row, col, rows, cols = (int(v) for v in entry)
        if rows < 1 or cols < 1:
            raise ValueError(f"layer {k}'s region {list(entry)} needs R and C of at least 1")
        out.append(Region((row, col), rows, cols))
    return out


def overlap_problems(regions: list[Region], mesh_rows: int, mesh_cols: int, limit: int = 100) -> list[str]:
    """What is wrong with a list of regions (layer k is regions[k - 1]): a region off the mesh, two sharing PEs.

    An occupancy grid of the mesh holds the first layer to claim each PE, so the check costs the
    regions' area, not their pairs. Each overlap is reported by the later layer, once per earlier
    layer it meets. After `limit` problems the check stops (one last line says so): a list with
    many overlaps is bounded by the mesh's area plus `limit` regions' areas.
    """
    owner = np.zeros((mesh_rows, mesh_cols), dtype=np.int64)  # 0: free, k: layer k (1-based) holds the PE
    problems: list[str] = []
    for k, region in enumerate(regions, 1):
        if len(problems) >= limit:
            problems.append(f"and possibly more: the check stops after {limit} problems")
            break
        (r, c), rows, cols = region.origin, region.rows, region.cols
        if r < 0 or c < 0 or r + rows > mesh_rows or c + cols > mesh_cols:
            problems.append(f"layer {k}'s region {region.describe()} runs off the {mesh_rows}x{mesh_cols} mesh")
        # Only the part on the mesh can share PEs with another region.
        r0, r1, c0, c1 = max(r, 0), min(r + rows, mesh_rows), max(c, 0), min(c + cols, mesh_cols)
        if r0 >= r1 or c0 >= c1:
            continue
        block = owner[r0:r1, c0:c1]  # a view: writing it marks the mesh
        if not block.any():
            block[...] = k
            continue
        for j in np.unique(block[block > 0]).tolist():
            other = regions[j - 1]
            (q, p) = other.origin
            shared = (max(0, min(r1, q + other.rows) - max(r0, q)) *
                      max(0, min(c1, p + other.cols) - max(c0, p)))
            problems.append(f"layer {k}'s region {region.describe()} overlaps layer {j}'s region "
                            f"{other.describe()} on {shared:,} PE{'s' if shared != 1 else ''}")
        block[block == 0] = k
    return problems


class PackError(ValueError):
    """Regions that cannot be placed or sized on the mesh, with the numbers that say why."""


def _bands(sizes: list[tuple[int, int]], mesh_cols: int) -> tuple[list[list[int]], list[int]]:
    """The layers (0-based) of each shelf-packing band, each band as full as the mesh's width allows,
    and each band's height in mesh rows (its tallest region)."""
    bands: list[list[int]] = []
    width = 0  # columns the current band has filled
    for k, (_, cols) in enumerate(sizes):
        if bands and width + cols <= mesh_cols:
            bands[-1].append(k)
            width += cols
        else:
            bands.append([k])
            width = cols
    return bands, [max(sizes[k][0] for k in band) for band in bands]


def pack(sizes: list[tuple[int, int]], mesh_rows: int, mesh_cols: int) -> list[Region]:
    """Regions of sizes (R_k, C_k), k = 1..D in order, shelf-packed in a snake so consecutive layers are neighbours.

    Layers fill a band (shelf) left to right as long as they fit the mesh's width; the band is as
    tall as its tallest region; the next band starts below it and fills right to left, and so on.
    The first region of a band sits at the band's top; each later one as low in the band as it can
    while still sharing a row with the one before it, so within a band consecutive regions share a
    column edge. The band's tallest region spans it and every region after it reaches the band's
    bottom, the last one too. The next band's first region sits at that band's top, on the side
    where the last one stopped, and went to a new band because it was wider than the columns left:
    the two share a column as well as the row boundary. So consecutive regions always touch
    (`Region.hops_to` is 1), band changes too. Deterministic: the same sizes give the same regions.
    """
    for k, (rows, cols) in enumerate(sizes, 1):
        if rows < 1 or cols < 1:
            raise ValueError(f"layer {k}'s region {rows}x{cols} needs at least one row and one column")
        if rows > mesh_rows or cols > mesh_cols:
            raise PackError(f"layer {k}'s region {rows}x{cols} does not fit on the {mesh_rows}x{mesh_cols} mesh")
    need = sum(rows * cols for rows, cols in sizes)
    if need > mesh_rows * mesh_cols:
        raise PackError(f"{len(sizes):,} regions need {need:,} PEs but the {mesh_rows}x{mesh_cols} mesh has "
                        f"{mesh_rows * mesh_cols:,}")

    bands, heights = _bands(sizes, mesh_cols)
    if sum(heights) > mesh_rows:
        raise PackError(f"shelf packing {len(sizes):,} regions ({need:,} PEs) needs {sum(heights):,} mesh rows in "
                        f"{len(bands):,} bands but the {mesh_rows}x{mesh_cols} mesh has {mesh_rows:,} rows; use "
                        f"smaller regions or a larger mesh")

    out: list[Region] = [None] * len(sizes)  # type: ignore[list-item]
    top = 0  # mesh row of the current band's top
    for b, (band, height) in enumerate(zip(bands, heights)):
        rightward = b % 2 == 0
        edge = 0 if rightward else mesh_cols  # the column where the next region's near side goes
        prev_row = prev_rows = None
        for k in band:
            rows, cols = sizes[k]
            if prev_row is None:
                row = top
            else:  # as low as the band allows, but sharing at least the previous region's bottom row
                row = min(top + height - rows, prev_row + prev_rows - 1)
            if rightward:
                col, edge = edge, edge + cols
            else:
                edge -= cols
                col = edge
            out[k] = Region((row, col), rows, cols)
            prev_row, prev_rows = row, rows
        top += height
    return out


def _smallest_fit(k: int, n_out: int, n_in: int, fits: Callable[[int, int, int], bool], limit: int) -> int | None:
    """The fewest PEs R * C <= limit (R <= n_out, C <= n_in) on which layer k fits, or None.

    Assumes `fits` is monotone: a region with more rows or more columns holds smaller blocks, so
    it fits whenever a smaller one does. Then the least C that fits R rows never grows with R: one
    pass over R, each R asking only whether a C that beats the best so far fits, finds the minimum.
    """
    if fits(k, 1, 1):
        return 1
    best = limit + 1  # PEs of the best fit so far (none yet)
    c = n_in  # never below the least C that fits the R at hand, unless no C that beats best does
    for r in range(1, min(n_out, limit) + 1):
        c = min(c, (best - 1) // r)  # the most columns that still beat best
        if c < 1:  # even one column cannot beat best from here on
            break
        if not fits(k, r, c):
            continue
        if c > 1 and fits(k, r, c - 1):
            lo, hi = 1, c - 1  # fits(k, r, hi) holds: find the least such column count
            while lo < hi:
                mid = (lo + hi) // 2
                if fits(k, r, mid):
                    hi = mid
                else:
                    lo = mid + 1
            c = lo
        best = r * c
    return best if best <= limit else None


# A grid at most SQUARE times as wide as tall (or tall as wide) counts as square: a region's
# broadcast down its columns and reduction along its rows take R and C hops, so a thin region
# is slow for its PEs. A square shape may give up at most 1/SLACK of the PEs a thinner one gets.
SQUARE = 2
SLACK = 8


@lru_cache(maxsize=4096)
def _ranked(n: int, n_out: int, n_in: int, least: int, square: bool) -> tuple[tuple[int, int], ...]:
    """Shapes R x C with least <= R * C <= n, R <= n_out and C <= n_in, most PEs first, ties to the
    squarer, then to the one shaped like the weights (taller when n_out > n_in); only square ones
    (`SQUARE`) if `square`. Under a monotone `fits` only the widest C of each R can come first:
    the widest square one (R from sqrt(least / SQUARE) to sqrt(SQUARE * n)), or the widest of all."""
    tall = n_out > n_in
    if square:
        rs = range(max(1, isqrt(least // SQUARE)), min(n_out, isqrt(SQUARE * n)) + 1)
        shapes = [(r, min(n_in, n // r, SQUARE * r)) for r in rs]
        shapes = [(r, c) for r, c in shapes if c >= 1 and r <= SQUARE * c and r * c >= least]
    else:
        shapes = [(r, min(n_in, n // r)) for r in range(1, min(n_out, n) + 1)]
        shapes = [(r, c) for r, c in shapes if r * c >= least]

    def key(shape: tuple[int, int]):
        r, c = shape
        return -r * c, max(r, c) / min(r, c), (r < c) if tall else (r > c), r
    return tuple(sorted(shapes, key=key))


def _shape(k: int, n: int, n_out: int, n_in: int, fits: Callable[[int, int, int], bool],
           column_sums: bool = True) -> tuple[int, int]:
    """Layer k's R x C for a count of n PEs (n at least its smallest fit).

    P is the most PEs R * C <= n that fit (n itself if some factorisation of n fits). Among the
    shapes that fit with at least P * (1 - 1/SLACK) PEs, a square one (`SQUARE`) with the most PEs
    wins, else the one with the most PEs (`_ranked` orders them). So 86 PEs for a 64 x 64 layer
    give 7 x 12, not 2 x 43; 400 for a 10 x 784 layer give 10 x 40, as square as its 10 rows allow.
    A layer without column sums (`column_sums` False: the first, whose B sends no deltas down)
    pays only for its rows' sums (op A along a tree of C blocks), so it takes the fewest columns instead,
    then the most PEs: 15 PEs for a 256 x 784 layer within 8 rows give 7 x 2, not 3 x 5.
    """
    most = 0
    for d in range(isqrt(n), 0, -1):  # d <= sqrt(n): the factorisations of n, squarest first
        if n % d == 0 and any(rows <= n_out and cols <= n_in and fits(k, rows, cols)
                              for rows, cols in ((d, n // d), (n // d, d))):
            most = n
            break
    if not most:  # the widest C <= n // R for each R: enough under a monotone `fits`
        most = max((rows * min(n_in, n // rows) for rows in range(1, min(n_out, n) + 1)
                    if fits(k, rows, min(n_in, n // rows))), default=0)
    if not most:  # not reached when n is at least the layer's smallest fit
        raise PackError(f"layer {k + 1} ({n_out}x{n_in}) fits on no region of at most {n:,} PEs")
    least = -(-most * (SLACK - 1) // SLACK)
    if not column_sums:  # the most rows for each C, fewest columns first; the widest C = most fits
        for cols in range(1, min(n_in, n) + 1):
            rows = min(n_out, n // cols)
            if rows * cols >= least and fits(k, rows, cols):
                return rows, cols
    for square in (True, False):
        for shape in _ranked(n, n_out, n_in, least, square):
            if fits(k, *shape):
                return shape
    raise AssertionError("the shape with `most` PEs fits and is ranked")


def _smallest_fits(fits: Callable[[int, int, int], bool], dims: list[tuple[int, int]], limit: int) -> np.ndarray:
    """Each layer's fewest PEs that fit (`_smallest_fit`); PackError names the first layer that fits in no limit PEs."""
    out = np.empty(len(dims), dtype=np.int64)
    for k, (n_out, n_in) in enumerate(dims):
        least = _smallest_fit(k, n_out, n_in, fits, limit)
        if least is None:
            raise PackError(f"layer {k + 1} ({n_out}x{n_in}) fits on no region of at most {limit:,} PEs")
        out[k] = least
    return out


def _counts(work: np.ndarray, low: np.ndarray, cap: np.ndarray, budget: int) -> np.ndarray:
    """Each layer's PE count for `budget` PEs in all (low.sum() <= budget): see `balanced_sizes`."""
    def counts(m: int) -> np.ndarray:
        return np.minimum(np.maximum(-(-work // m), low), cap)

    lo, hi = 1, max(int(work.max(initial=0)), 1)  # counts(hi) == low, which fits the budget
    while lo < hi:
        mid = (lo + hi) // 2
        if counts(mid).sum() <= budget:
            hi = mid
        else:
            lo = mid + 1
    n = counts(lo)
    left = budget - int(n.sum())
    if lo > 1 and left > 0:
        more = counts(lo - 1) - n  # what each layer gains one step finer; they sum to more than `left`
        load = (work / n).tolist()  # MACs per PE now
        for k in sorted(np.flatnonzero(more).tolist(), key=lambda k: (-load[k], k)):
            step = min(int(more[k]), left)
            n[k] += step
            left -= step
            if not left:
                break
    return n


def _check(work: list[int], dims: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Work and the most PEs of each layer (one weight each) as arrays; ValueError for bad input."""
    if len(work) != len(dims):
        raise ValueError(f"{len(work)} work figures for {len(dims)} layers")
    if any(w < 0 for w in work):
        raise ValueError("work per layer is a MAC count and cannot be negative")
    if any(n_out < 1 or n_in < 1 for n_out, n_in in dims):
        raise ValueError("every layer needs at least one output and one input")
    return np.array(work, dtype=np.int64), np.array([n_out * n_in for n_out, n_in in dims], dtype=np.int64)


def _over_budget(layers: int, floor: int, budget: int) -> PackError:
    return PackError(f"the {layers:,} layers need at least {floor:,} PEs to fit in SRAM but the budget is {budget:,}")


def _shaped(w: np.ndarray, low: np.ndarray, cap: np.ndarray, budget: int, dims: list[tuple[int, int]],
            fits: Callable[[int, int, int], bool], column_sums: list[bool] | None) -> list[tuple[int, int]]:
    """Each layer's count for `budget` (`_counts`) shaped into R x C (`_shape`; column_sums default all True)."""
    sums = column_sums or [True] * len(dims)
    return [_shape(k, int(n), n_out, n_in, fits, sums[k])
            for k, (n, (n_out, n_in)) in enumerate(zip(_counts(w, low, cap, budget), dims))]


def balanced_sizes(work: list[int], fits: Callable[[int, int, int], bool], dims: list[tuple[int, int]],
                   budget: int, column_sums: list[bool] | None = None) -> list[tuple[int, int]]:
    """Each layer's region (R_k, C_k), its PE count about proportional to work[k], at most `budget` PEs in all.

    work[k] is layer k's MACs per sample; dims[k] its (n_out, n_in), which bound R_k and C_k;
    fits(k, R, C) (k 0-based) says whether layer k's block fits a PE's SRAM on an R x C region and
    must be monotone (more rows or columns never stop a fit). The count of layer k for a per-PE
    work target m is n_k(m) = max(ceil(work_k / m), its smallest fit), at most n_out * n_in; the
    least integer m whose counts sum to <= budget is found by binary search (the sum never grows
    with m), the PEs left over go to the layers with the most work per PE up to their count at
    m - 1, and each count is then shaped into R x C (`_shape`: a square region may take up to
    1/SLACK fewer PEs than the count, a thin one never more than it; a layer whose
    column_sums[k] is False, default True, the tallest). PackError names a layer
    that fits on no region within the budget, or gives the PEs the smallest fits need in all.
    """
    w, cap = _check(work, dims)
    low = _smallest_fits(fits, dims, budget)
    if low.sum() > budget:
        raise _over_budget(len(dims), int(low.sum()), budget)
    return _shaped(w, low, cap, budget, dims, fits, column_sums)


def balanced_regions(work: list[int], fits: Callable[[int, int, int], bool], dims: list[tuple[int, int]],
                     mesh_rows: int, mesh_cols: int, column_sums: list[bool] | None = None,
                     budget: int | None = None) -> list[Region]:
    """`balanced_sizes` then `pack` on a mesh, with the largest budget tried that shelf-packs.

    Shelf packing leaves gaps, so the whole mesh seldom packs: the budget starts at `budget` (by
    default, and at most, the mesh's PEs) and shrinks by the mesh's rows over the rows the bands
    need (at least one PE a try) until the sizes pack; after 30 tries it drops to the smallest
    fits. Regions also stay within the mesh's rows and columns. A tall region (a layer without
    column sums) may need a band of its own; unless that packs at least as many PEs as square
    shapes do, the square ones are used. PackError if the smallest fits exceed the budget or do
    not pack.
    """
    bounded = [(min(n_out, mesh_rows), min(n_in, mesh_cols)) for n_out, n_in in dims]
    w, cap = _check(work, bounded)
    area = mesh_rows * mesh_cols
    low = _smallest_fits(fits, bounded, area)
    floor = int(low.sum())
    if floor > area:
        raise PackError(f"the {len(dims):,} layers need at least {floor:,} PEs to fit in SRAM but the "
                        f"{mesh_rows}x{mesh_cols} mesh has {area:,}")
    if budget is not None and floor > budget:
        raise _over_budget(len(dims), floor, budget)
    budget = area if budget is None else min(budget, area)

    def packed(sums: list[bool] | None) -> list[Region]:
        spend = budget
        for tries in range(1, 1000):
            sizes = _shaped(w, low, cap, spend, bounded, fits, sums)
            rows = sum(_bands(sizes, mesh_cols)[1])
            if rows <= mesh_rows:
                return pack(sizes, mesh_rows, mesh_cols)
            if spend == floor:
                raise PackError(f"the {len(dims):,} layers' smallest regions that fit in SRAM ({floor:,} PEs) need "
                                f"{rows:,} mesh rows shelf-packed but the {mesh_rows}x{mesh_cols} mesh has "
                                f"{mesh_rows:,}")
            spend = floor if tries >= 30 else max(floor, min(spend - 1, spend * mesh_rows // rows))
        raise AssertionError("the budget reaches the floor within 30 tries")

    if not column_sums or all(column_sums):
        return packed(None)
    try:
        tall = packed(column_sums)
    except PackError:
        return packed(None)
    try:
        square = packed(None)
    except PackError:
        return tall
    return tall if sum(r.size for r in tall) >= sum(r.size for r in square) else square
