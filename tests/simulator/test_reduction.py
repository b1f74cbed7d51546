"""The reduction tree of a region's row or column: its shape, depth and order of sums."""

from __future__ import annotations

from math import ceil, log2

import numpy as np
from hypothesis import given, strategies as st

from wafersim.reduction import children, parent, slot


def test_hand_checked_trees():
    assert [parent(i, 1) for i in range(1)] == [0] and children(0, 1) == ()
    assert [parent(i, 2) for i in range(2)] == [1, 1] and children(1, 2) == (0,)
    assert [children(i, 5) for i in range(5)] == [(), (), (1,), (), (0, 2, 3)]
    assert [parent(i, 8) for i in range(8)] == [1, 3, 3, 7, 5, 7, 7, 7]
    assert children(7, 8) == (3, 5, 6) and children(3, 8) == (1, 2)
    assert [slot(i, 8) for i in range(8)] == [0, 0, 1, 0, 0, 1, 2, 0]


def _depth(i: int, n: int) -> int:
    return max((1 + _depth(j, n) for j in children(i, n)), default=0)


def _total(i: int, n: int, parts: list):
    """Block i's subtotal as the programs add it: its children's subtotals in order, then its own part."""
    acc = None
    for j in children(i, n):
        acc = _total(j, n, parts) if acc is None else acc + _total(j, n, parts)
    return parts[i] if acc is None else acc + parts[i]


@given(st.integers(1, 300))
def test_every_block_is_a_child_of_its_parent_once_and_the_tree_is_shallow(n):
    for i in range(n - 1):
        p = parent(i, n)
        assert i < p <= n - 1
        assert children(p, n)[slot(i, n)] == i
    assert parent(n - 1, n) == n - 1
    assert sorted(j for i in range(n) for j in children(i, n)) == list(range(n - 1))
    assert _depth(n - 1, n) <= (ceil(log2(n)) if n > 1 else 0)


@given(st.integers(1, 4))
def test_up_to_four_blocks_add_in_the_chains_order(n):
    parts = [f"p{i}" for i in range(n)]
    chain = parts[0]
    for p in parts[1:]:
        chain = f"({chain}+{p})"
    assert _total(n - 1, n, [_Sym(p) for p in parts]).text == chain


class _Sym:
    """A symbolic summand: `a + b` records the bracketing."""

    def __init__(self, text: str):
        self.text = text

    def __add__(self, other: "_Sym") -> "_Sym":
        return _Sym(f"({self.text}+{other.text})")


@given(st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_the_tree_sums_every_part_once(n, seed):
    parts = list(np.random.default_rng(seed).integers(-1000, 1000, n))
    assert _total(n - 1, n, parts) == sum(parts)
