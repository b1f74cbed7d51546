"""A network on layer regions: each dense layer's blocks placed on its R x C rectangle, their SRAM, and their wiring.

`placement: balanced` sizes the regions by the layers' work and packs them
(`regions.balanced_regions`); a placement listing [row, col, R, C] per layer gives them
(`regions.regions_from_list`). Every PE of a region runs a `BlockProgram`; the PE at
(0, C-1) of each region (its first row's end) stands for the layer in results: its
updates count the samples trained and its staleness is the layer's. `wiring` works out,
for every block, which pieces of which vectors it sends where (`region_program.Route`).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from functools import lru_cache

from .algorithms.region_program import Route, Wiring
from .hardware.mesh import Coord
from .layers import FLOAT_BYTES
from .layers.block import BlockShape
from .layers.channel_block import ChannelShape
from .memory import LayerMemory, layer_memory
from .region_checks import filters_of as _filters, reporting_block
from .reduction import children, parent, slot
from .regions import Region, split

_END = float("inf")  # sorts after every stop: (start, _END) follows each span that starts at `start`


def output_spans(shape, parts: int) -> list[tuple[int, int]]:
    """The flat output floats of each of `parts` row blocks: a dense layer's rows; whole output channels."""
    if shape.kind == "dense":
        return split(shape.n_out, parts)
    filters = _filters(shape) if shape.kind != "pool" else 1
    per = shape.output_floats // filters
    return [(f0 * per, f1 * per) for f0, f1 in split(filters, parts)]


def input_spans(shape, parts: int) -> list[tuple[int, int]]:
    """The flat input floats of each of `parts` column blocks (a dense layer's columns; else all of it)."""
    return split(shape.n_in, parts) if shape.kind == "dense" else [(0, shape.input_floats)]


def _cut(shape, f0: int, f1: int):
    """A convolution's (or conv and pool's) shape with filters [f0, f1) only."""
    if shape.kind == "conv":
        return replace(shape, filters=f1 - f0)
    if shape.kind == "conv+pool":
        return replace(shape, conv=replace(shape.conv, filters=f1 - f0), pool=replace(shape.pool, channels=f1 - f0))
    return shape


def block_shapes(shape, region: Region) -> dict[tuple[int, int], object]:
    """(r, c) -> the shape of block (r, c) of the layer on `region`."""
    if shape.kind != "dense":
        filters = split(_filters(shape), region.rows) if shape.kind != "pool" else [(0, 1)]
        return {(r, 0): ChannelShape(_cut(shape, f0, f1), column_end=r == region.rows - 1,
                                     column_blocks=region.rows, column_children=len(children(r, region.rows)))
                for r, (f0, f1) in enumerate(filters)}
    split(shape.n_out, region.rows), split(shape.n_in, region.cols)  # ValueError for a region finer than the layer
    made: dict[tuple, BlockShape] = {}  # a region has only a few different blocks: one object each

    def block(r: int, c: int) -> BlockShape:
        key = (r < shape.n_out % region.rows, c < shape.n_in % region.cols, c == 0, c == region.cols - 1,
               r == region.rows - 1, len(children(c, region.cols)), len(children(r, region.rows)))
        found = made.get(key)
        if found is None:
            found = made[key] = _dense_block(shape, region.rows, region.cols, r, c)
        return found

    return {(r, c): block(r, c) for r in range(region.rows) for c in range(region.cols)}


@lru_cache(maxsize=1 << 16)
def _dense_block(shape, R: int, C: int, r: int, c: int) -> BlockShape:
    """Block (r, c) of a dense layer on an R x C region: its piece of the rows and columns as `split` cuts them."""
    return BlockShape(n_in=shape.n_in // C + (c < shape.n_in % C), n_out=shape.n_out // R + (r < shape.n_out % R),
                      bias=shape.bias and c == 0, activation=shape.activation, first=shape.first, top=shape.top,
                      row_end=c == C - 1, column_end=r == R - 1, row_blocks=C, column_blocks=R,
                      row_children=len(children(c, C)), column_children=len(children(r, R)))


@lru_cache(maxsize=4096)
def _candidate_indices(n: int, long: int) -> tuple[int, ...]:
    """Pieces of a row (or column) of n blocks, the first `long` one float longer, among which one bounds
    every block's SRAM in that direction: 0 (its bias), the end (its dL/dh_r), and the piece with the most
    tree children among the long and among the short ones."""
    out = {0, n - 1}
    for pieces in (range(0, min(long, n - 1)), range(long, n - 1)):
        if len(pieces):
            out.add(max(pieces, key=lambda i: (len(children(i, n)), -i)))
    return tuple(sorted(out))


def largest_block_candidates(shape, region: Region) -> list:
    """Blocks one of which has the largest SRAM bound of `block_shapes(shape, region)`. A block's bound
    grows with its rows and columns, its bias (c = 0), the end of its row, and its trees' buffers (one
    per child) and depends on nothing else of where it sits; so the longest of each kind of piece, per
    direction, is enough (`_candidate_indices`): at most 4 x 4 blocks, whatever the region's size."""
    if shape.kind != "dense":
        return list(block_shapes(shape, region).values())
    R, C = region.rows, region.cols
    return [_dense_block(shape, R, C, r, c) for r in _candidate_indices(R, shape.n_out % R)
            for c in _candidate_indices(C, shape.n_in % C)]


def block_spans(shape, region: Region) -> dict[tuple[int, int], tuple]:
    """(r, c) -> (the index of W, the index of b) that block (r, c) holds (b's None: zeros, no bias)."""
    if shape.kind == "dense":
        rows, cols = split(shape.n_out, region.rows), split(shape.n_in, region.cols)
        return {(r, c): ((slice(r0, r1), slice(c0, c1)), slice(r0, r1) if c == 0 else None)
                for r, (r0, r1) in enumerate(rows) for c, (c0, c1) in enumerate(cols)}
    if shape.kind == "pool":
        return {(0, 0): (slice(None), slice(None))}
    norm = shape.norm
    return {(r, 0): (slice(f0, f1), (slice(None), slice(f0, f1)) if norm else slice(f0, f1))
            for r, (f0, f1) in enumerate(split(_filters(shape), region.rows))}


def block_memory(schedule, k: int, shape: BlockShape, optimizer) -> LayerMemory:
    """A block's SRAM bound: a layer's (`layer_memory`, on the block's shape) plus the region's
    buffers, per sample in its window: dL/dh_r at the row's end, dz_r from it elsewhere; where it
    adds on its row's tree, each child's subtotal and its own partial; on its column's tree, the
    same of partial deltas. (A block has at most log2 of its row's blocks children, and a child
    holds at most a window of samples too.)"""
    base = layer_memory(schedule, k, shape, optimizer)
    window = schedule.window(k)
    floats = shape.n_out
    if shape.row_sum_macs():
        floats += (1 + shape.row_children) * shape.n_out
    if shape.column_sum_macs():
        floats += (1 + shape.column_children) * shape.n_in
    return LayerMemory(layer=k, weights=base.weights, gradient_buffer=base.gradient_buffer,
                       optimizer_state=base.optimizer_state, activations=base.activations,
                       weight_stash=base.weight_stash, region_buffers=window * floats * FLOAT_BYTES)


def _overlaps(spans: list[tuple[int, int]], start: int, stop: int):
    """(index, lo, hi) of each span of `spans` (contiguous, ascending) that meets [start, stop), with the
    common part [lo, hi); the first is found by bisection, so a wafer's regions wire in time linear in their PEs."""
    i = bisect_right(spans, (start, _END)) - 1  # the last span starting at or before `start`
    for i in range(max(i, 0), len(spans)):
        a, b = spans[i]
        if a >= stop:
            break
        lo, hi = max(a, start), min(b, stop)
        if lo < hi:
            yield i, lo, hi


def wiring(shapes: list, regions: list[Region]) -> dict[Coord, Wiring]:
    """Every block's Wiring: its pieces in and out, its parents on its row's and column's trees, and whether it reports."""
    D = len(shapes)
    rows = [output_spans(s, g.rows) for s, g in zip(shapes, regions)]
    cols = [input_spans(s, g.cols) for s, g in zip(shapes, regions)]
    out: dict[Coord, Wiring] = {}
    for k in range(D):
        g = regions[k]
        (r_top, c_left), R, C = g.origin, g.rows, g.cols
        report = reporting_block(R, C)
        # What depends on the column only (its input's pieces; at the column's end, where dL/dx_c goes)
        # and on the row only (at the row's end: its dL/dh_r pieces, its h_r's, the row's other blocks).
        x_pieces = [1 if k == 0 else sum(1 for _ in _overlaps(rows[k - 1], c0, c1)) for c0, c1 in cols[k]]
        back = [()] * C
        if k > 0:
            below = regions[k - 1]
            end = below.cols - 1
            back = [tuple(Route(lo - c0, hi - c0, (below.coord(r2, end),), lo - rows[k - 1][r2][0])
                          for r2, lo, hi in _overlaps(rows[k - 1], c0, c1)) for c0, c1 in cols[k]]
        ends = []
        for r, (r0, r1) in enumerate(rows[k]):
            e_pieces, up = 0, ()
            if k < D - 1:  # h_r's pieces to every PE of the columns above that read them
                above = regions[k + 1]
                e_pieces = sum(1 for _ in _overlaps(cols[k + 1], r0, r1))
                up = tuple(Route(lo - r0, hi - r0, tuple(above.coord(r2, c2) for r2 in range(above.rows)),
                                 lo - cols[k + 1][c2][0]) for c2, lo, hi in _overlaps(cols[k + 1], r0, r1))
            ends.append((e_pieces, up, tuple((r_top + r, c_left + c2) for c2 in range(C - 1))))
        for r in range(R):
            for c in range(C):
                at_end = c == C - 1
                e_pieces, up, peers = ends[r] if at_end else (0, (), ())
                coord = (r_top + r, c_left + c)
                out[coord] = Wiring(
                    coord=coord, r=r, c=c, x_pieces=x_pieces[c], e_pieces=e_pieces,
                    row_next=(r_top + r, c_left + parent(c, C)), column_next=(r_top + parent(r, R), c_left + c),
                    row_slot=slot(c, C), column_slot=slot(r, R),
                    row_peers=peers, out_routes=up, back_routes=back[c] if r == R - 1 else (),
                    reports=(r, c) == report)
    return out


def port_targets(shape, region: Region) -> list[tuple[tuple[Coord, ...], int, int]]:
    """(PEs, start, stop): each column of layer 1's region and the slice of the input its PEs read (one multicast)."""
    return [(tuple(region.coord(r, c) for r in range(region.rows)), c0, c1)
            for c, (c0, c1) in enumerate(input_spans(shape, region.cols))]
