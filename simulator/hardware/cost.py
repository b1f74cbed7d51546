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


def backward_macs(n_in: int, n_out: int, first_layer: bool) -> int:
    """B: the weight gradient (an outer product), plus W^T @ delta unless nothing lies below."""
    return n_in * n_out * (1 if first_layer else 2)


def update_macs(n_in: int, n_out: int, bias: bool, momentum: bool) -> int:
    """U: one multiply-accumulate per parameter, two with a momentum buffer."""
    params = n_in * n_out + (n_out if bias else 0)
    return params * (2 if momentum else 1)
