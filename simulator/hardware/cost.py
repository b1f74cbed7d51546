"""Cycles per op: ceil(MACs / macs_per_cycle) + op_overhead_cycles, and the MACs of each dense-layer op.

No numerics here: the simulator charges these cycles whatever the arithmetic does.
"""

from __future__ import annotations


def op_cycles(macs: int, macs_per_cycle: int, overhead_cycles: int) -> int:
    """Cycles a PE is busy with an op of `macs` multiply-accumulates."""
    return -(-macs // macs_per_cycle) + overhead_cycles


def forward_macs(n_in: int, n_out: int) -> int:
    """F: one matrix-vector product W @ h (bias add and activation ride along in the overhead)."""
    return n_in * n_out


def backward_macs(n_in: int, n_out: int, first_layer: bool, accumulate: bool) -> int:
    """B: delta * phi'(h) (n_out), W^T @ delta unless nothing lies below, and, when gradients
    are summed over several samples (`accumulate`), the outer product into the gradient buffer."""
    return n_out + (0 if first_layer else n_in * n_out) + (n_in * n_out if accumulate else 0)


def update_macs(n_in: int, n_out: int, bias: bool, momentum: bool) -> int:
    """U: one multiply-accumulate per parameter (two with a momentum buffer). A per-sample
    update streams W += coef * delta h^T, so the outer product costs nothing extra."""
    params = n_in * n_out + (n_out if bias else 0)
    return params * (2 if momentum else 1)
