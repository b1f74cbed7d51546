"""Tests for the PE grid and its dimension-order routes in wafersim.hardware.mesh."""

from __future__ import annotations

import itertools

import pytest

from wafersim.hardware.mesh import PORT, Mesh


def test_xy_route_goes_along_the_row_then_the_column():
    assert Mesh(3, 4).route((0, 0), (2, 3)) == [
        ((0, 0), (0, 1)), ((0, 1), (0, 2)), ((0, 2), (0, 3)),
        ((0, 3), (1, 3)), ((1, 3), (2, 3)),
    ]


def test_xy_route_backwards():
    assert Mesh(3, 4).route((2, 3), (0, 1)) == [
        ((2, 3), (2, 2)), ((2, 2), (2, 1)),
        ((2, 1), (1, 1)), ((1, 1), (0, 1)),
    ]


def test_route_to_itself_is_empty():
    assert Mesh(2, 2).route((1, 1), (1, 1)) == []


def test_route_from_the_port_to_the_first_pe_is_one_link():
    assert Mesh(2, 2).route(PORT, (0, 0)) == [((0, -1), (0, 0))]


def test_route_from_the_port_enters_along_row_zero():
    assert Mesh(2, 2).route(PORT, (1, 1)) == [((0, -1), (0, 0)), ((0, 0), (0, 1)), ((0, 1), (1, 1))]


def test_hops_is_the_manhattan_distance_and_the_route_length():
    mesh = Mesh(3, 4)
    for src, dst in itertools.product(mesh.coords, repeat=2):
        expected = abs(src[0] - dst[0]) + abs(src[1] - dst[1])
        assert mesh.hops(src, dst) == expected
        assert len(mesh.route(src, dst)) == expected


def test_route_links_join_neighbours_end_to_end():
    mesh = Mesh(3, 3)
    for src, dst in itertools.product(mesh.coords, repeat=2):
        route = mesh.route(src, dst)
        nodes = [src] + [b for _, b in route]
        assert all(a == prev for (a, _), prev in zip(route, nodes))
        assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in route)
        assert nodes[-1] == dst


@pytest.mark.parametrize("src, dst", [((0, 0), (2, 0)), ((0, 0), (0, 2)), ((-1, 0), (0, 0)), ((0, 0), (0, -2)),
                                      ((5, 5), (0, 0))])
def test_route_outside_the_mesh_raises(src, dst):
    with pytest.raises(ValueError, match="is not a PE of the 2x2 mesh"):
        Mesh(2, 2).route(src, dst)


def test_membership_and_coords():
    mesh = Mesh(2, 3)
    assert mesh.coords == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert (1, 2) in mesh
    assert (2, 0) not in mesh
    assert PORT not in mesh


@pytest.mark.parametrize("rows, cols", [(0, 3), (3, 0), (-1, 1)])
def test_empty_mesh_is_rejected(rows, cols):
    with pytest.raises(ValueError, match="at least one row and one column"):
        Mesh(rows, cols)


def test_no_route_leads_into_the_port():
    with pytest.raises(ValueError, match="port only sends"):
        Mesh(2, 2).route((1, 1), PORT)
