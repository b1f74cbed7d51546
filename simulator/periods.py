"""How many cycles each layer's PEs compute per sample, before a run (predicted) and after it (measured).

A layer's period is the most busy cycles any one of its PEs spends per sample: F + B +
the region's sums (A) + U per sample (an update of a minibatch of B samples counts 1/B).
With every message overlapped, the slowest layer (the bottleneck) sets how fast samples
stream; the port, which sends every input through one link, sets a floor of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from .algorithms.pipeline import op_macs
from .algorithms.region_program import sum_op_cycles
from .hardware.cost import op_cycles
from .layers import FLOAT_BYTES


@dataclass(frozen=True)
class Period:
    """One layer's predicted cycles per sample and the PE that takes them."""

    layer: int
    cycles: float
    coord: tuple[int, int]


def pe_cycles(shape, schedule, optimizer, pe) -> float:
    """Busy cycles per sample of one PE (`pe`: the hardware's pe section)."""
    def cycles(macs: int) -> int:
        return op_cycles(macs, pe.macs_per_cycle, pe.op_overhead_cycles)

    F, B, U = (cycles(macs) for macs in op_macs(shape, schedule, optimizer))
    total = F + B + U * schedule.updates() / max(schedule.n_samples, 1)
    if hasattr(shape, "row_sum_macs"):  # a region's block: its steps on its row's and column's trees (op A)
        total += sum(sum_op_cycles(shape, cycles))
    return total


def predicted(scenario, layout) -> list[Period]:
    """Every pipeline layer's period, from its PEs' shapes and the hardware (layer 1 first)."""
    pe, schedule = scenario.hardware.pe, layout.schedules[0]
    best: dict[int, Period] = {}
    for p in layout.placed:
        if p.role not in ("layer", "block"):
            continue
        cycles = pe_cycles(p.shape, schedule, p.optimizer, pe)
        if p.layer not in best or cycles > best[p.layer].cycles:
            best[p.layer] = Period(p.layer, cycles, p.coord)
    return [best[k] for k in sorted(best)]


def port_cycles(scenario) -> int:
    """Cycles the port's link takes to send one input (its floats, through one link)."""
    return -(-scenario.model.input_floats * FLOAT_BYTES // scenario.hardware.noc.link_bytes_per_cycle)


def describe(scenario, layout, listed: int = 8) -> list[str]:
    """Lines for `wafersim validate`: the regions (if any), each layer's predicted period, the bottleneck."""
    lines = []
    if layout.regions is not None:
        shown = [f"L{k} {g.describe()}" for k, g in enumerate(layout.regions[:listed], 1)]
        more = len(layout.regions) - listed
        lines.append("  regions: " + ", ".join(shown) + (f", ... {more:,} more" if more > 0 else ""))
    periods = predicted(scenario, layout)
    if not periods:
        return lines
    shown = ", ".join(f"L{p.layer} {p.cycles:,.0f}" for p in periods[:listed])
    more = len(periods) - listed
    slowest = max(periods, key=lambda p: p.cycles)
    fastest = min(periods, key=lambda p: p.cycles)
    lines.append(f"  predicted cycles per sample: {shown}" + (f", ... {more:,} more" if more > 0 else "")
                 + f"; bottleneck layer {slowest.layer} ({slowest.cycles:,.0f} on PE {list(slowest.coord)}), "
                   f"fastest {fastest.cycles:,.0f}; the port sends an input in {port_cycles(scenario):,}")
    return lines
