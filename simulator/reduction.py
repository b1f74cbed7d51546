"""The reduction tree of a region's row or column: which block sends its sum to which, in what order they add.

A row of C blocks adds its partial sums towards its end (block C-1), a column of R blocks its
partial deltas towards its end (block R-1), along a binomial tree: number the blocks by their
distance d = n-1-i from the end; block d > 0 sends its subtotal to d - lowbit(d), so the end
hears from d = 1, 2, 4, 8, ..., block 4 from 5 and 6, block 6 from 7. A sum crosses
lowbit(d) links and a block's subtotal is ready ceil(log2 n) steps after the last partial at
most, where a chain would take n-1 (each step waits for the op in progress on its block).

A block adds its children's subtotals farthest first (the lowest index first) and its own
partial last: for n <= 4 that is the chain's order, (p_0 + p_1) + p_2 and so on; beyond, the
order is another fixed one, so runs stay deterministic and a split layer still equals the
unsplit one to float32 rounding.
"""

from __future__ import annotations

from functools import lru_cache


def _lowbit(d: int) -> int:
    return d & -d


def parent(i: int, n: int) -> int:
    """The block that block i of n (0..n-1, the end n-1) sends its subtotal to; i itself at the end."""
    d = n - 1 - i
    return i if d == 0 else i + _lowbit(d)


@lru_cache(maxsize=1 << 16)
def children(i: int, n: int) -> tuple[int, ...]:
    """The blocks whose subtotals block i of n adds, in the order it adds them (its own partial after)."""
    d = n - 1 - i
    out = []
    step = 1
    while step <= i and (d == 0 or step < _lowbit(d)):
        out.append(i - step)
        step *= 2
    return tuple(out[::-1])


def slot(i: int, n: int) -> int:
    """Where block i's subtotal goes among its parent's parts (`children(parent(i, n), n)`); 0 at the end."""
    d = n - 1 - i
    return 0 if d == 0 else children(parent(i, n), n).index(i)
