"""Cycles per op: ceil(MACs / macs_per_cycle) + op_overhead_cycles.

No numerics here, and nothing about layer types: each layer's shape states its MACs per
op kind (`wafersim.layers`), each optimizer its MACs per parameter.
"""

from __future__ import annotations


def op_cycles(macs: int, macs_per_cycle: int, overhead_cycles: int) -> int:
    """Cycles a PE is busy with an op of `macs` multiply-accumulates."""
    return -(-macs // macs_per_cycle) + overhead_cycles
