"""Region layout helpers: the blocks that bound a region's SRAM, and span overlaps by bisection."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wafersim.layers import DenseShape
from wafersim.region_layout import _overlaps, block_memory, block_shapes, largest_block_candidates
from wafersim.regions import Region, split


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 60), data=st.data())
def test_overlaps_by_bisection_are_every_overlapping_span(n, data):
    spans = split(n, data.draw(st.integers(1, n)))
    start = data.draw(st.integers(0, n - 1))
    stop = data.draw(st.integers(start + 1, n))
    brute = [(i, max(a, start), min(b, stop)) for i, (a, b) in enumerate(spans) if max(a, start) < min(b, stop)]
    assert list(_overlaps(spans, start, stop)) == brute


@settings(max_examples=60, deadline=None)
@given(n_out=st.integers(1, 40), n_in=st.integers(1, 40), data=st.data(), first=st.booleans(), bias=st.booleans(),
       algorithm=st.sampled_from(["cp", "sgd", "mbgd"]))
def test_the_largest_block_candidates_hold_the_largest_sram_bound(n_out, n_in, data, first, bias, algorithm):
    """What balanced placement checks against a PE's SRAM: the four blocks at rows and columns 0 and 1
    include one with the largest bound of all the region's blocks, under any schedule."""
    from tests.builders import make, scenario_dict
    from wafersim.algorithms import make_schedule
    from wafersim.optimizers import SGDConfig, make_optimizer

    R, C = data.draw(st.integers(1, n_out)), data.draw(st.integers(1, n_in))
    shape = DenseShape(n_in=n_in, n_out=n_out, bias=bias, activation="relu", first=first, top=False)
    scenario = make(scenario_dict(algorithm=algorithm))
    schedule = make_schedule(scenario.training, 3, 40)
    optimizer = make_optimizer(SGDConfig(), lambda step: 0.1)
    region = Region((0, 0), R, C)

    def largest(blocks) -> int:
        return max(block_memory(schedule, 1, b, optimizer).total for b in blocks)

    assert largest(largest_block_candidates(shape, region)) == largest(block_shapes(shape, region).values())
