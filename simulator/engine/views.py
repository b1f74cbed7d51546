"""A timing pass's counters seen as the chip, programs and recorder that `metrics.collect` reads.

The event engine leaves its measurements on live objects (PEs, links, layer programs, the
recorder); the compiled engine has them as arrays. These small records give the arrays
the same attributes, so that one `collect` turns either into `metrics.json`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..algorithms.pipeline import layer_stats
from ..hardware.link import Link
from ..hardware.mesh import Coord, Mesh
from ..metrics import BUSIEST_LINKS
from ..records import MESSAGE_KEY_OF_CODE
from .pipeline_pass import T_BYTE_HOPS, T_BYTES, T_MESSAGES, T_WAIT
from .timing import Timeline, TimingPlan


@dataclass
class PEView:
    """A PE's counters after the pass (`hardware.pe.PE`)."""

    busy_cycles: int
    busy_until: int
    ops: int

    def busy_cycles_by(self, cycle: int) -> int:
        return self.busy_cycles - max(0, self.busy_until - cycle)


@dataclass
class NetworkView:
    """The network's counters (`hardware.link.Network`): links that carried a message, and totals."""

    links: dict[tuple[Coord, Coord], Link]  # those that may be among the busiest (`busiest_candidates`)
    messages: int
    bytes_sent: int
    byte_hops: int
    wait_cycles: int


@dataclass
class ChipView:
    """What `collect` reads of a chip: the cycle reached, the mesh, the PEs in use, the network and traffic."""

    now: int
    mesh: Mesh
    pes: dict[Coord, PEView]
    network: NetworkView
    traffic: dict[str, list[int]]


@dataclass
class ProgramView:
    """A layer program's figures (`LayerProgram.stats` and `sram_peak`)."""

    figures: dict
    sram_peak: int

    def stats(self) -> dict:
        return self.figures


@dataclass
class RecorderView:
    """What a run recorded per layer: its staleness histogram, and the samples trained."""

    staleness_counts: list[tuple[np.ndarray, np.ndarray]]  # per layer: staleness values, updates of each
    samples_trained: int


def views(plan: TimingPlan, timeline: Timeline, mesh: Mesh) -> tuple[ChipView, dict[Coord, ProgramView], RecorderView]:
    """The chip, the programs (in PE order, as `assemble` makes them: worker 1's layers first) and the recorder of a pass."""
    tl = timeline
    pes = {coord: PEView(int(tl.busy_cycles[p]), int(tl.busy_until[p]), int(tl.pe_ops[p]))
           for p, coord in enumerate(plan.coords)}
    links = {pair: Link(pair[0], pair[1], free_at=int(tl.link_free[i]), busy_cycles=int(tl.link_busy[i]),
                        messages=int(tl.link_messages[i]), wait_cycles=int(tl.link_wait[i]))
             for i, pair in plan.link_pairs(tl, busiest_candidates(tl))}
    totals = tl.totals
    network = NetworkView(links, int(totals[T_MESSAGES]), int(totals[T_BYTES]), int(totals[T_BYTE_HOPS]),
                          int(totals[T_WAIT]))
    traffic = {MESSAGE_KEY_OF_CODE[code]: [int(v) for v in row] for code, row in enumerate(tl.traffic) if row[0] > 0}
    chip = ChipView(tl.now, mesh, pes, network, traffic)
    programs = {}
    for p, coord in enumerate(plan.coords):
        figures = layer_stats(tuple(int(plan.cycles[kind][p]) for kind in "FBU"), int(tl.updates[p]),
                              int(plan.window[p]), int(tl.max_in_flight[p]), int(tl.sram_peak[p]))
        if plan.all_reduce:
            figures["reduce_ops"] = int(tl.reduce_ops[p])  # `RingLayer.stats`
        if "A" in plan.cycles and plan.cycles["A"][p]:  # a region's block that adds its row's or column's parts
            figures["op_cycles"]["A"] = int(plan.cycles["A"][p])  # `BlockProgram.stats`
        programs[coord] = ProgramView(figures, int(tl.sram_peak[p]))
    return chip, programs, RecorderView(staleness_counts(tl, plan.depth), tl.samples_trained)


def busiest_candidates(tl: Timeline) -> np.ndarray:
    """The links `metrics.collect` may name among its BUSIEST_LINKS: every link that carried a message,
    or on a mesh with more, those busy (up to the end) at least as long as the BUSIEST_LINKS-th busiest,
    ties and all; the rest can be neither listed nor needed, and a wafer has millions."""
    used = np.flatnonzero(tl.link_messages)
    if len(used) <= 64 * BUSIEST_LINKS:
        return used
    busy = tl.link_busy[used] - np.maximum(0, tl.link_free[used] - tl.now)
    floor = np.partition(busy, len(busy) - BUSIEST_LINKS)[len(busy) - BUSIEST_LINKS]
    return used[busy >= floor]


def staleness_counts(tl: Timeline, n_layers: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each layer's histogram (staleness values ascending, updates of each), from the pass's log of
    updates (sorted once, not per layer)."""
    width = int(tl.stale_value.max()) + 1 if len(tl.stale_value) else 1
    keys, n = np.unique(tl.stale_layer.astype(np.int64) * width + tl.stale_value, return_counts=True)
    layers, values = np.divmod(keys, width)
    bounds = np.searchsorted(layers, np.arange(n_layers + 1))
    return [(values[a:b], n[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
