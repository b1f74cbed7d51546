"""Region layout helpers: the distinct block shapes without making every block, and span overlaps by bisection."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wafersim.layers import DenseShape
from wafersim.region_layout import _overlaps, block_shapes, distinct_block_shapes
from wafersim.regions import Region, split


@settings(max_examples=60, deadline=None)
@given(n_out=st.integers(1, 40), n_in=st.integers(1, 40), data=st.data(), first=st.booleans(), top=st.booleans(),
       bias=st.booleans())
def test_distinct_block_shapes_are_the_set_of_every_blocks_shape(n_out, n_in, data, first, top, bias):
    R, C = data.draw(st.integers(1, n_out)), data.draw(st.integers(1, n_in))
    shape = DenseShape(n_in=n_in, n_out=n_out, bias=bias, activation="relu", first=first, top=top)
    region = Region((0, 0), R, C)
    assert distinct_block_shapes(shape, region) == set(block_shapes(shape, region).values())


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 60), data=st.data())
def test_overlaps_by_bisection_are_every_overlapping_span(n, data):
    spans = split(n, data.draw(st.integers(1, n)))
    start = data.draw(st.integers(0, n - 1))
    stop = data.draw(st.integers(start + 1, n))
    brute = [(i, max(a, start), min(b, stop)) for i, (a, b) in enumerate(spans) if max(a, start) < min(b, stop)]
    assert list(_overlaps(spans, start, stop)) == brute
