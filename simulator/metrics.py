"""Turn a finished (or stopped) simulation into the numbers of `metrics.json`."""

from __future__ import annotations

import math

import numpy as np

from .config import Scenario
from .layers import FLOAT_BYTES
from .records import MESSAGE_NAMES

BUSIEST_LINKS = 8  # links metrics.json names, busiest first
LIST_EVERY_PE_UP_TO = 4096  # PEs; metrics.json lists every PE of a mesh this size or smaller (64 x 64)


def _moments(histogram: tuple[np.ndarray, np.ndarray]) -> tuple[int, int]:
    """(values counted, their sum) of a histogram; the sum is exact (integers), so sum / count is
    the mean np.mean gives of the values themselves."""
    values, counts = histogram
    return int(counts.sum()), int((values * counts).sum())


def staleness_stats(histogram: tuple[np.ndarray, np.ndarray]) -> dict:
    """Updates, mean, min, max and the histogram {staleness: updates} of one layer's update staleness."""
    values, counts = histogram
    if not len(values):
        return {"updates": 0, "mean": None, "min": None, "max": None, "histogram": {}}
    updates, total = _moments(histogram)
    return {"updates": updates, "mean": float(total) / updates, "min": int(values[0]), "max": int(values[-1]),
            "histogram": dict(zip(map(str, values.tolist()), counts.tolist()))}


def traffic_by_kind(traffic: dict[str, list[int]]) -> dict[str, dict]:
    """Messages, bytes and bytes x hops per kind of message, named for people."""
    return {MESSAGE_NAMES.get(kind, kind): {"messages": m, "bytes": b, "byte_hops": bh}
            for kind, (m, b, bh) in sorted(traffic.items())}


def _finite_or_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _region_row(p, layout, chip, total: int, samples: int) -> dict:
    """A layer's period (its busiest PE's busy cycles per sample trained) and, on regions, its region."""
    pes = layout.of_layer(p.role, p.layer) + (layout.of_layer("block", p.layer) if p.region is not None else [])
    busiest = max(chip.pes[q.coord].busy_cycles_by(total) for q in pes)
    row = {"period_cycles": busiest / samples if samples else None}
    if p.region is not None:
        g = p.region
        row["region"] = {"row": g.origin[0], "col": g.origin[1], "rows": g.rows, "cols": g.cols, "pes": g.size,
                         "utilization": float(np.mean([chip.pes[q.coord].busy_cycles_by(total) for q in pes])) / total
                         if total else 0.0}
    return row


def collect(scenario: Scenario, chip, layout, programs: dict, recorder, overflow, curve, status, n_samples,
            engine: dict) -> dict:
    """The metrics dictionary: run totals, per-PE and per-layer figures, network traffic, the scenario.

    `engine` says which engine ran and why (`wafersim.engine.EngineChoice.describe`).
    """
    total = chip.now
    staleness = recorder.staleness_counts  # per layer: (staleness values ascending, updates of each)
    layer_staleness = [staleness_stats(counts) for counts in staleness]
    hw = scenario.hardware

    def util(coord) -> float:
        return chip.pes[coord].busy_cycles_by(total) / total if total else 0.0

    placed = {p.coord: p for p in layout.placed}
    mesh = chip.mesh
    # Every PE of a small mesh; on a larger one only the PEs in use, so metrics.json (and the
    # memory to build it) grows with the run, not with the wafer.
    every_pe = mesh.rows * mesh.cols <= LIST_EVERY_PE_UP_TO
    listed = mesh.coords if every_pe else sorted(placed)
    pe_rows = []
    for coord in listed:
        p, pe = placed.get(coord), chip.pes.get(coord)
        pe_rows.append({"row": coord[0], "col": coord[1], "layer": p.layer if p else None,
                        "role": p.role if p else None, "worker": p.worker if p else None,
                        "label": p.label if p else None, "kind": p.shape.kind if p else None,
                        "utilization": util(coord) if pe else 0.0,
                        "busy_cycles": pe.busy_cycles_by(total) if pe else 0, "ops": pe.ops if pe else 0})
    used = [row["utilization"] for row in pe_rows if row["role"] is not None]

    # A layer's row describes its shard under a parameter server, else its PE (worker 1's, data parallel).
    describing = layout.of_role("shard") or layout.worker(1)
    layers = []
    for p in describing:
        program = programs[p.coord]
        same_layer = [q for role in ("layer", "worker", "shard") for q in layout.of_layer(role, p.layer)]
        layers.append({
            "layer": p.layer, "row": p.coord[0], "col": p.coord[1], "role": p.role, "label": p.label,
            "kind": p.shape.kind, "n_in": p.shape.input_floats, "n_out": p.shape.output_floats,
            "parameters": p.shape.param_count,
            **program.stats(),
            "staleness": layer_staleness[p.layer - 1],
            "sram_bound_bytes": p.memory.total,
            "sram_bound": {"weights": p.memory.weights, "gradient_buffer": p.memory.gradient_buffer,
                           "optimizer_state": p.memory.optimizer_state, "activations": p.memory.activations,
                           "weight_stash": p.memory.weight_stash, "exchange_buffers": p.memory.exchange_buffers,
                           **({"synthetic": p.memory.synthetic} if p.memory.synthetic else {}),
                           **({"region_buffers": p.memory.region_buffers} if p.memory.region_buffers else {})},
            "max_peak_sram_bytes": max(programs[q.coord].sram_peak for q in same_layer),
            "utilization": util(p.coord),
            **_region_row(p, layout, chip, total, recorder.samples_trained),
        })
    # Every update of every layer, without merging the histograms (10,000 layers may have millions of entries).
    all_updates = sum(st["updates"] for st in layer_staleness)
    all_total = sum(_moments(histogram)[1] for histogram in staleness)
    chains = [{"name": "layers", "pes": [list(p.coord) for p in layout.worker(1)]}]
    roles = {}
    if scenario.training.data_parallel:
        chains = [{"name": f"worker {w}", "pes": [list(p.coord) for p in layout.worker(w)]}
                  for w in range(1, scenario.training.workers + 1)]
        for role in ("worker", "shard"):
            values = [util(p.coord) for p in layout.of_role(role)]
            if values:
                roles[f"{role}_utilization"] = float(np.mean(values))

    net = chip.network

    def link_busy(link) -> int:
        """A link's busy cycles up to the end (a stopped run may have reserved it beyond)."""
        return max(0, link.busy_cycles - max(0, link.free_at - total))

    busiest = sorted(net.links.values(), key=lambda l: (-link_busy(l), l.src, l.dst))[:BUSIEST_LINKS]
    last = curve[-1] if curve else (0, 0, float("nan"), float("nan"))
    optimizer = describing[0].optimizer if describing else None
    return {
        "algorithm": scenario.training.algorithm,
        "engine": engine,
        "optimizer": {"name": scenario.training.optimizer_config.name,
                      "schedule": scenario.training.schedule_config.name,
                      "state_bytes_per_parameter": optimizer.state_per_param * FLOAT_BYTES if optimizer else 0,
                      "update_macs_per_parameter": optimizer.macs_per_param if optimizer else 0,
                      "state_bytes": sum(p.memory.optimizer_state for p in layout.placed)},
        "status": status,
        "timing_only": scenario.timing_only,
        "total_cycles": total,
        "simulated_seconds": total / hw.clock_hz,
        "samples_planned": n_samples,
        "samples_trained": recorder.samples_trained,
        "samples_per_second_simulated": recorder.samples_trained * hw.clock_hz / total if total else None,
        "mean_utilization": float(np.mean(used)) if used else 0.0,
        "mesh_utilization": (float(np.mean([row["utilization"] for row in pe_rows])) if every_pe
                             else float(np.sum(used)) / (mesh.rows * mesh.cols)),
        "pe_utilization_lists": "every PE" if every_pe else "the PEs in use",
        **roles,
        "pe_utilization": pe_rows,
        "chains": chains,
        "final_test_accuracy": _finite_or_none(last[3]),
        "final_train_loss": _finite_or_none(last[2]),
        "mean_staleness": float(all_total) / all_updates if all_updates else None,
        "bottleneck_layer": max((row for row in layers if row["period_cycles"] is not None),
                                key=lambda row: row["period_cycles"], default={"layer": None})["layer"],
        "layers": layers,
        "peak_sram_bytes": {f"{r},{c}": program.sram_peak for (r, c), program in programs.items()},
        "sram_overflow": overflow,
        "network": {
            "messages": net.messages, "bytes": net.bytes_sent, "byte_hops": net.byte_hops,
            "wait_cycles": net.wait_cycles,
            "by_kind": traffic_by_kind(chip.traffic),
            "busiest_links": [{"src": list(l.src), "dst": list(l.dst), "busy_cycles": link_busy(l),
                               "utilization": link_busy(l) / total if total else 0.0,
                               "messages": l.messages, "wait_cycles": l.wait_cycles} for l in busiest],
        },
        "scenario": scenario.model_dump(mode="json"),
    }
