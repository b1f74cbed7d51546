"""Tests for layer regions in wafersim.regions: splitting, checking, packing and sizing R x C rectangles."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wafersim.regions import (PackError, Region, balanced_regions, balanced_sizes, overlap_problems, pack,
                              regions_from_list, split)


def always(k, rows, cols):
    return True


def block_fits(dims, capacity):
    """A monotone SRAM test: layer k fits when its largest block holds at most `capacity` weights."""
    return lambda k, rows, cols: -(-dims[k][0] // rows) * -(-dims[k][1] // cols) <= capacity


# split

def test_split_gives_the_first_pieces_one_longer():
    assert split(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert split(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert split(5, 5) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert split(7, 1) == [(0, 7)]


@pytest.mark.parametrize("n, parts", [(1, 1), (9, 4), (64, 7), (100, 100), (1000, 33)])
def test_split_matches_numpy_array_split(n, parts):
    pieces = np.array_split(np.arange(n), parts)
    assert split(n, parts) == [(int(p[0]), int(p[-1]) + 1) for p in pieces]


@pytest.mark.parametrize("n, parts", [(5, 0), (5, 6), (0, 1), (3, -1)])
def test_split_refuses_empty_pieces(n, parts):
    with pytest.raises(ValueError, match=f"cannot split {n} into {parts} non-empty pieces"):
        split(n, parts)


# Region and explicit lists

def test_region_coordinates_and_description():
    region = Region((0, 4), 2, 3)
    assert region.size == 6
    assert region.coord(1, 2) == (1, 6)
    assert region.coords() == [(0, 4), (0, 5), (0, 6), (1, 4), (1, 5), (1, 6)]
    assert region.describe() == "2x3 at (0, 4)"


def test_region_hops_to():
    a = Region((0, 0), 2, 2)
    assert a.hops_to(Region((0, 2), 1, 1)) == 1  # touching on the right
    assert a.hops_to(Region((2, 1), 1, 3)) == 1  # touching below
    assert a.hops_to(Region((2, 2), 1, 1)) == 2  # diagonal
    assert a.hops_to(Region((1, 1), 3, 3)) == 0  # overlapping
    assert Region((5, 7), 1, 1).hops_to(a) == 4 + 6


def test_region_needs_a_row_and_a_column():
    with pytest.raises(ValueError, match="at least one row and one column, got 0x3"):
        Region((0, 0), 0, 3)


def test_regions_from_list():
    assert regions_from_list([[0, 0, 2, 2], [0, 2, 1, 3]]) == [Region((0, 0), 2, 2), Region((0, 2), 1, 3)]
    with pytest.raises(ValueError, match=r"layer 2's region \[1, 1, 1\] needs four integers"):
        regions_from_list([[0, 0, 1, 1], [1, 1, 1]])
    with pytest.raises(ValueError, match=r"layer 1's region \[0, 0, 0, 2\] needs R and C of at least 1"):
        regions_from_list([[0, 0, 0, 2]])


# overlap_problems

def test_overlap_problems_clean():
    assert overlap_problems(regions_from_list([[0, 0, 2, 2], [0, 2, 2, 2], [2, 0, 1, 4]]), 3, 4) == []


def test_overlap_problems_names_both_layers():
    regions = regions_from_list([[0, 0, 2, 2], [0, 1, 2, 2], [5, 5, 2, 2]])
    assert overlap_problems(regions, 6, 6) == [
        "layer 2's region 2x2 at (0, 1) overlaps layer 1's region 2x2 at (0, 0) on 2 PEs",
        "layer 3's region 2x2 at (5, 5) runs off the 6x6 mesh",
    ]


def test_overlap_problems_reports_every_earlier_layer_met():
    regions = regions_from_list([[0, 0, 1, 2], [1, 0, 1, 2], [0, 1, 2, 2], [-1, 0, 2, 1]])
    assert overlap_problems(regions, 4, 4) == [
        "layer 3's region 2x2 at (0, 1) overlaps layer 1's region 1x2 at (0, 0) on 1 PE",
        "layer 3's region 2x2 at (0, 1) overlaps layer 2's region 1x2 at (1, 0) on 1 PE",
        "layer 4's region 2x1 at (-1, 0) runs off the 4x4 mesh",
        "layer 4's region 2x1 at (-1, 0) overlaps layer 1's region 1x2 at (0, 0) on 1 PE",
    ]


def test_overlap_problems_stop_after_the_limit():
    problems = overlap_problems([Region((0, 0), 2, 2)] * 10, 2, 2, limit=3)
    assert len(problems) == 4
    assert problems[-1] == "and possibly more: the check stops after 3 problems"


# pack

def test_pack_hand_checked_snake():
    # Band 1 (rows 0-1, left to right): 2x2, 1x3 (dropped to row 1, still beside the 2x2), 2x1.
    # Band 2 (rows 2-4, right to left): the 3x3 under the 2x1, against the right edge.
    regions = pack([(2, 2), (1, 3), (2, 1), (3, 3)], 6, 6)
    assert [r.describe() for r in regions] == ["2x2 at (0, 0)", "1x3 at (1, 2)", "2x1 at (0, 5)", "3x3 at (2, 3)"]
    assert [a.hops_to(b) for a, b in zip(regions, regions[1:])] == [1, 1, 1]


def test_pack_third_band_runs_left_to_right_again():
    regions = pack([(1, 3), (2, 3), (1, 4), (1, 2), (2, 2)], 6, 6)
    assert [r.describe() for r in regions] == ["1x3 at (0, 0)", "2x3 at (0, 3)", "1x4 at (2, 2)", "1x2 at (2, 0)",
                                               "2x2 at (3, 0)"]
    assert all(a.hops_to(b) == 1 for a, b in zip(regions, regions[1:]))


def test_pack_is_deterministic_and_valid_for_single_pes():
    regions = pack([(1, 1)] * 9, 3, 3)
    assert [r.origin for r in regions] == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2)]
    assert regions == pack([(1, 1)] * 9, 3, 3)


def test_pack_errors():
    with pytest.raises(PackError, match=r"^layer 2's region 1x7 does not fit on the 6x6 mesh$"):
        pack([(1, 1), (1, 7)], 6, 6)
    with pytest.raises(PackError, match=r"^3 regions need 40 PEs but the 6x6 mesh has 36$"):
        pack([(4, 4), (4, 4), (2, 4)], 6, 6)
    with pytest.raises(PackError, match=r"^shelf packing 3 regions \(36 PEs\) needs 9 mesh rows in 3 bands but the "
                                        r"6x6 mesh has 6 rows; use smaller regions or a larger mesh$"):
        pack([(3, 4), (3, 4), (3, 4)], 6, 6)
    with pytest.raises(ValueError, match="layer 1's region 0x2 needs at least one row and one column"):
        pack([(0, 2)], 6, 6)


def test_pack_ten_thousand_regions_on_a_1000x1000_mesh():
    rng = random.Random(0)
    sizes = [(rng.randint(1, 8), rng.randint(1, 8)) for _ in range(10_000)]
    regions = pack(sizes, 1000, 1000)
    assert [(r.rows, r.cols) for r in regions] == sizes
    assert overlap_problems(regions, 1000, 1000) == []
    assert all(a.hops_to(b) == 1 for a, b in zip(regions, regions[1:]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 10), st.integers(1, 10), st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), max_size=15))
def test_pack_is_valid_or_refuses(mesh_rows, mesh_cols, sizes):
    try:
        regions = pack(sizes, mesh_rows, mesh_cols)
    except PackError:
        return
    assert [(r.rows, r.cols) for r in regions] == sizes
    assert overlap_problems(regions, mesh_rows, mesh_cols) == []
    assert all(a.hops_to(b) == 1 for a, b in zip(regions, regions[1:]))


# balanced_sizes

def test_balanced_sizes_proportional_to_work():
    assert balanced_sizes([100, 400, 100], always, [(8, 8)] * 3, 6) == [(1, 1), (2, 2), (1, 1)]


def test_balanced_sizes_spends_what_is_left_on_the_busiest_layers():
    # 1 PE each is 3 PEs; 2 each would be 6 > 5: the two PEs left go to layers 1 and 2.
    assert balanced_sizes([100, 100, 100], always, [(8, 8)] * 3, 5) == [(1, 2), (1, 2), (1, 1)]
    assert balanced_sizes([100, 300, 100], always, [(8, 8)] * 3, 5) == [(1, 1), (1, 3), (1, 1)]


def test_balanced_sizes_prefers_square_shapes():
    assert balanced_sizes([4096], always, [(64, 64)], 86) == [(7, 12)]  # 7x12 = 84, not 2x43 = 86
    assert balanced_sizes([4096], always, [(64, 64)], 81) == [(9, 9)]
    assert balanced_sizes([7840], always, [(10, 784)], 400) == [(10, 40)]  # as square as 10 rows allow
    assert balanced_sizes([7840], always, [(784, 10)], 400) == [(40, 10)]
    assert balanced_sizes([7840], always, [(10, 784)], 2) == [(1, 2)]  # wide like the weights
    assert balanced_sizes([7840], always, [(784, 10)], 2) == [(2, 1)]


def test_a_layer_without_a_column_sums_takes_the_fewest_columns():
    # 15 PEs for a 256 x 784 layer within 8 rows: 7 x 2 (14, within 1/SLACK of 15), not 3 x 5.
    assert balanced_sizes([15], always, [(8, 784)], 15) == [(3, 5)]
    assert balanced_sizes([15], always, [(8, 784)], 15, [False]) == [(7, 2)]
    assert balanced_sizes([16], always, [(8, 784)], 16, [False]) == [(8, 2)]
    assert balanced_sizes([8], always, [(8, 784)], 8, [False]) == [(8, 1)]
    # Only the layers without one: the others stay square; a tall one still fits its SRAM.
    dims = [(64, 64), (64, 64)]
    fits = block_fits(dims, 600)  # blocks of at most 600 weights: 8 PEs at least (8 x 1 or 2 x 4)
    assert balanced_sizes([1, 1], fits, dims, 40, [False, True]) == [(8, 1), (2, 4)]


def test_balanced_regions_use_tall_regions_only_when_they_pack_as_many_pes():
    dims = [(256, 784), (256, 256), (10, 256)]
    work = [3 * 256 * 784, 4 * 256 * 256, 4 * 10 * 256]
    tall = balanced_regions(work, always, dims, 8, 8, [False, True, True], budget=13)
    assert [(r.rows, r.cols) for r in tall] == [(8, 1), (2, 2), (1, 1)]
    assert [(r.rows, r.cols) for r in balanced_regions(work, always, dims, 8, 8, budget=13)] == [(2, 4), (2, 2), (1, 1)]
    # Within 24 PEs layer 1 would be 8 x 2, a band of 8 rows to itself: the square shapes pack more.
    shapes = [(4, 4), (1, 7), (1, 1)]
    assert [(r.rows, r.cols) for r in balanced_regions(work, always, dims, 8, 8, budget=24)] == shapes
    assert [(r.rows, r.cols) for r in balanced_regions(work, always, dims, 8, 8, [False, True, True], budget=24)] == shapes
    assert balanced_sizes(work, always, [(8, 784), (8, 256), (1, 256)], 24, [False, True, True])[0] == (8, 2)
    with pytest.raises(PackError, match=r"^the 3 layers need at least 3 PEs to fit in SRAM but the budget is 2$"):
        balanced_regions(work, always, dims, 8, 8, budget=2)


def test_balanced_sizes_respects_dims_and_fits():
    dims = [(1, 64), (64, 64), (3, 5)]
    fits = block_fits(dims, 600)  # layer 2 needs 7 PEs (64 x 64 / 600), layer 1 and 3 fit on one
    sizes = balanced_sizes([64, 64 * 64, 15], fits, dims, 40)
    assert sum(r * c for r, c in sizes) <= 40
    assert all(r <= n_out and c <= n_in and fits(k, r, c) for k, ((r, c), (n_out, n_in)) in enumerate(zip(sizes, dims)))
    assert sizes[0][0] == 1
    # With little work the smallest fit still holds: layer 2 gets at least 7 PEs.
    sizes = balanced_sizes([1, 1, 1], fits, dims, 40)
    assert sizes[1][0] * sizes[1][1] >= 7 and fits(1, *sizes[1])


def test_balanced_sizes_errors():
    dims = [(4, 4), (8, 8)]
    with pytest.raises(PackError, match=r"^layer 2 \(8x8\) fits on no region of at most 10 PEs$"):
        balanced_sizes([1, 1], block_fits(dims, 4), dims, 10)
    with pytest.raises(PackError, match=r"^the 2 layers need at least 20 PEs to fit in SRAM but the budget is 19$"):
        balanced_sizes([1, 1], block_fits(dims, 4), dims, 19)
    with pytest.raises(ValueError, match="2 work figures for 1 layers"):
        balanced_sizes([1, 1], always, [(2, 2)], 4)


def test_balanced_sizes_ten_thousand_layers():
    rng = random.Random(1)
    dims = [(rng.randint(1, 300), rng.randint(1, 300)) for _ in range(10_000)]
    work = [n_out * n_in for n_out, n_in in dims]
    fits = block_fits(dims, 12_288)  # 48 KB of fp32 weights
    sizes = balanced_sizes(work, fits, dims, 850_000)
    assert sum(r * c for r, c in sizes) <= 850_000
    assert all(fits(k, *size) for k, size in enumerate(sizes))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(0, 200)), min_size=1, max_size=6),
       st.integers(1, 60), st.integers(1, 80))
def test_balanced_sizes_within_budget_dims_and_fits(layers, capacity, budget):
    dims = [(n_out, n_in) for n_out, n_in, _ in layers]
    fits = block_fits(dims, capacity)
    try:
        sizes = balanced_sizes([w for _, _, w in layers], fits, dims, budget)
    except PackError:
        least = [min(r * c for r in range(1, n_out + 1) for c in range(1, n_in + 1) if fits(k, r, c))
                 for k, (n_out, n_in) in enumerate(dims)]
        assert sum(least) > budget
        return
    assert sum(r * c for r, c in sizes) <= budget
    assert all(1 <= r <= n_out and 1 <= c <= n_in and fits(k, r, c)
               for k, ((r, c), (n_out, n_in)) in enumerate(zip(sizes, dims)))


# balanced_regions

def test_balanced_regions_packs_within_the_mesh():
    dims = [(64, 64), (64, 256), (256, 64), (10, 64)]
    work = [n_out * n_in for n_out, n_in in dims]
    regions = balanced_regions(work, block_fits(dims, 1024), dims, 8, 8)
    assert overlap_problems(regions, 8, 8) == []
    assert all(a.hops_to(b) == 1 for a, b in zip(regions, regions[1:]))
    assert sum(r.size for r in regions) <= 64
    assert [r.size for r in regions][1] > regions[3].size  # more work, more PEs


def test_balanced_regions_refuses_when_even_the_smallest_fits_do_not_pack():
    dims = [(4, 4)] * 3
    with pytest.raises(PackError, match=r"^the 3 layers need at least 12 PEs to fit in SRAM but the 3x3 mesh has 9$"):
        balanced_regions([16] * 3, block_fits(dims, 4), dims, 3, 3)
    dims = [(2, 2)] * 3  # 2 PEs each, shaped 1x2: one band each, 3 rows
    with pytest.raises(PackError, match=r"^the 3 layers' smallest regions that fit in SRAM \(6 PEs\) need 3 mesh rows "
                                        r"shelf-packed but the 2x3 mesh has 2$"):
        balanced_regions([4] * 3, block_fits(dims, 2), dims, 2, 3)
