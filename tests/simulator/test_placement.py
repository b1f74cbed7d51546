"""Tests for the layer-to-PE placement rules in wafersim.placement."""

from __future__ import annotations

import pytest

from wafersim.placement import place, row_order, snake_order


def test_snake_order_3x3():
    assert snake_order(3, 3) == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2)]


def test_row_order_3x3():
    assert row_order(3, 3) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]


@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 5), (5, 1), (2, 3), (3, 2), (4, 4), (5, 7)])
def test_snake_neighbours_and_coverage(rows, cols):
    order = snake_order(rows, cols)
    assert sorted(order) == [(r, c) for r in range(rows) for c in range(cols)]
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(order, order[1:]))


def test_row_order_jumps_back_at_a_row_change():
    order = row_order(2, 3)
    assert order[2:4] == [(0, 2), (1, 0)]


def test_place_takes_the_first_pes_of_the_order():
    assert place("snake", 3, 3, 4) == [(0, 0), (0, 1), (0, 2), (1, 2)]
    assert place("row", 3, 3, 4) == [(0, 0), (0, 1), (0, 2), (1, 0)]


def test_place_explicit_coordinates():
    assert place([[1, 1], [0, 1], [2, 0]], 3, 3, 3) == [(1, 1), (0, 1), (2, 0)]


def test_place_too_many_layers():
    with pytest.raises(ValueError, match="10 layers do not fit on 9 PEs"):
        place("snake", 3, 3, 10)


def test_free_neighbours_are_tried_below_above_right_left_and_never_shared():
    from wafersim.placement import PlacementError, free_neighbours

    used = {(0, 0), (0, 1), (0, 2)}
    assert free_neighbours([(0, 0), (0, 1)], used, 2, 3, "k") == [(1, 0), (1, 1)]
    assert free_neighbours([(1, 1)], {(1, 1), (2, 1)}, 3, 3, "k") == [(0, 1)]  # below taken: above
    assert free_neighbours([(0, 0), (0, 0)], {(0, 0)}, 2, 2, "k") == [(1, 0), (0, 1)]
    with pytest.raises(PlacementError) as info:
        free_neighbours([(0, 0)], {(0, 0), (0, 1)}, 1, 2, "training.synthetic.placement")
    assert info.value.key == "training.synthetic.placement" and "no free PE next to (0, 0) on the 1x2 mesh" in info.value.text
