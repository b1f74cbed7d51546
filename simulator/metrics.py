"""Turn a finished (or stopped) simulation into the numbers of `metrics.json`."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from .config import Scenario


def staleness_stats(values: list[int]) -> dict:
    """Mean, min, max and a histogram {staleness: updates} of one layer's update staleness."""
    if not values:
        return {"updates": 0, "mean": None, "min": None, "max": None, "histogram": {}}
    counts = Counter(values)
    return {"updates": len(values), "mean": float(np.mean(values)), "min": int(min(values)),
            "max": int(max(values)), "histogram": {str(k): counts[k] for k in sorted(counts)}}


MESSAGE_NAMES = {"x": "activations", "e": "deltas", "y": "labels", "push": "gradients", "pull": "weight requests",
                 "weights": "weights", "ring": "all-reduce chunks"}


def traffic_by_kind(traffic: dict[str, list[int]]) -> dict[str, dict]:
    """Messages, bytes and bytes x hops per kind of message, named for people."""
    return {MESSAGE_NAMES.get(kind, kind): {"messages": m, "bytes": b, "byte_hops": bh}
            for kind, (m, b, bh) in sorted(traffic.items())}


def _finite_or_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def collect(scenario: Scenario, chip, pes, programs, recorder, plan, overflow, curve, status, n_samples) -> dict:
    """The metrics dictionary: run totals, per-PE and per-layer figures, network traffic, the scenario."""
    total = chip.now
    hw = scenario.hardware
    layer_at = {pe.coord: k for k, pe in enumerate(pes, start=1)}
    by_coord = {pe.coord: pe for pe in pes}
    pe_rows = []
    for coord in chip.mesh.coords:
        pe = by_coord.get(coord)
        busy = pe.busy_cycles if pe else 0
        layer = layer_at.get(coord)
        pe_rows.append({"row": coord[0], "col": coord[1], "layer": layer,
                        "role": None if layer is None else "layer", "worker": None,
                        "label": None if layer is None else f"L{layer}",
                        "utilization": busy / total if total else 0.0, "busy_cycles": busy,
                        "ops": pe.ops if pe else 0})
    used = [row["utilization"] for row in pe_rows if row["layer"] is not None]

    layers = []
    for program, mem, pe in zip(programs, plan, pes):
        layers.append({
            "layer": program.k, "row": program.coord[0], "col": program.coord[1],
            "n_in": program.n_in, "n_out": program.n_out,
            "op_cycles": {"F": program.cycles_F, "B": program.cycles_B, "U": program.cycles_U},
            "updates": program.updates, "in_flight_window": program.window,
            "max_in_flight": program.max_in_flight,
            "staleness": staleness_stats(recorder.staleness[program.k - 1]),
            "peak_sram_bytes": program.sram_peak, "sram_bound_bytes": mem.total,
            "utilization": pe.busy_cycles / total if total else 0.0,
        })
    all_staleness = [s for per_layer in recorder.staleness for s in per_layer]

    net = chip.network
    busiest = sorted(net.links.values(), key=lambda l: (-l.busy_cycles, l.src, l.dst))[:8]
    last = curve[-1] if curve else (0, 0, float("nan"), float("nan"))
    return {
        "algorithm": scenario.training.algorithm,
        "status": status,
        "timing_only": scenario.timing_only,
        "total_cycles": total,
        "simulated_seconds": total / hw.clock_hz,
        "samples_planned": n_samples,
        "samples_trained": recorder.samples_trained,
        "samples_per_second_simulated": recorder.samples_trained * hw.clock_hz / total if total else None,
        "mean_utilization": float(np.mean(used)) if used else 0.0,
        "mesh_utilization": float(np.mean([row["utilization"] for row in pe_rows])),
        "pe_utilization": pe_rows,
        "chains": [{"name": "layers", "pes": [list(pe.coord) for pe in pes]}],
        "final_test_accuracy": _finite_or_none(last[3]),
        "final_train_loss": _finite_or_none(last[2]),
        "mean_staleness": float(np.mean(all_staleness)) if all_staleness else None,
        "layers": layers,
        "peak_sram_bytes": {f"{p.coord[0]},{p.coord[1]}": p.sram_peak for p in programs},
        "sram_overflow": overflow,
        "network": {
            "messages": net.messages, "bytes": net.bytes_sent, "byte_hops": net.byte_hops,
            "wait_cycles": net.wait_cycles,
            "by_kind": traffic_by_kind(chip.traffic),
            "busiest_links": [{"src": list(l.src), "dst": list(l.dst), "busy_cycles": l.busy_cycles,
                               "utilization": l.busy_cycles / total if total else 0.0,
                               "messages": l.messages, "wait_cycles": l.wait_cycles} for l in busiest],
        },
        "scenario": scenario.model_dump(mode="json"),
    }
