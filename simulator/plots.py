"""Figures drawn from a run's results alone (metrics, curve, op table); nothing here runs the simulator."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

KIND_COLORS = {0: "#1f77b4", 1: "#ff7f0e", 2: "#2ca02c"}  # F, B, U
KIND_NAMES = {0: "forward (F)", 1: "backward (B)", 2: "update (U)"}
PNG_META = {"Software": None}  # no version string, so figures are reproducible byte for byte
MAX_LABELS = 800  # sample numbers written on bars, at most


def default_window(ops: dict[str, np.ndarray], n_layers: int) -> tuple[int, int]:
    """Cycles [0, end) that cover the first 4D + 4 samples entering layer 1: fill plus a steady stretch."""
    first = (ops["layer"] == 1) & (ops["kind"] == 0)
    starts = np.sort(ops["start"][first])
    n_show = 4 * n_layers + 4
    end = int(starts[n_show]) if len(starts) > n_show else int(ops["end"].max())
    return 0, max(end, 1)


def pipeline_diagram(ops: dict[str, np.ndarray], metrics: dict, window: tuple[int, int] | None = None,
                     label_samples: bool = True):
    """Time (cycles) across, layers up: one bar per op, forward/backward/update in distinct colours.

    White space is idle time. With `label_samples`, each forward and backward bar wide
    enough for text carries its sample number, so one sample can be followed up and
    down the network.
    """
    n_layers = len(metrics["layers"])
    lo, hi = window or default_window(ops, n_layers)
    keep = (ops["end"] > lo) & (ops["start"] < hi)
    layer, kind, sample, start, end = (ops[c][keep] for c in ("layer", "kind", "sample", "start", "end"))
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.55 * min(n_layers, 24)))
    ax.set_autoscale_on(False)  # one autoscale per bar makes large windows quadratic
    for k in np.unique(layer):
        for code, color in KIND_COLORS.items():
            sel = (layer == k) & (kind == code)
            if sel.any():
                ax.broken_barh(list(zip(start[sel], end[sel] - start[sel])), (k - 0.4, 0.8),
                               facecolors=color, edgecolor="white", linewidth=0.3)
    if label_samples:
        wide = (kind != 2) & (end - start >= (hi - lo) / 60)
        for k, s, a, b in list(zip(layer[wide], sample[wide], start[wide], end[wide]))[:MAX_LABELS]:
            ax.text((a + b) / 2, k, str(s), ha="center", va="center", fontsize=6, color="white")
    ax.set_xlim(lo, hi)
    ax.set_ylim(0.4, n_layers + 0.6)
    ticks = range(1, n_layers + 1, max(1, n_layers // 24))
    ax.set_yticks(ticks, [f"layer {k}" for k in ticks])
    ax.set_xlabel("time (cycles)")
    scen = metrics["scenario"]
    ax.set_title(f"Pipeline: {scen['training']['algorithm'].upper()} on {scen['hardware']['name']} "
                 f"({scen['name']}), cycles {lo:,}-{hi:,}; numbers are sample indices, white is idle")
    ax.legend(handles=[Patch(color=KIND_COLORS[k], label=KIND_NAMES[k]) for k in KIND_COLORS],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def utilization_map(metrics: dict):
    """The PE grid coloured by utilization, each PE labelled with its layer, and the layer-to-layer route."""
    rows = metrics["scenario"]["hardware"]["mesh"]["rows"]
    cols = metrics["scenario"]["hardware"]["mesh"]["cols"]
    grid = np.zeros((rows, cols))
    for pe in metrics["pe_utilization"]:
        grid[pe["row"], pe["col"]] = pe["utilization"]
    cell = min(1.1, 11.0 / max(rows, cols))  # inches per PE: big meshes stay page-sized
    fig, ax = plt.subplots(figsize=(2.2 + cell * cols, 1.6 + cell * rows))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1)
    fontsize = max(3.0, 8 * cell / 1.1)
    for pe in metrics["pe_utilization"]:
        text = f"L{pe['layer']}\n{pe['utilization']:.0%}" if pe["layer"] is not None else ("idle" if cell > 0.5 else "")
        ax.text(pe["col"], pe["row"], text, ha="center", va="center", fontsize=fontsize,
                color="white" if pe["utilization"] < 0.6 else "black")
    path = [(layer["row"], layer["col"]) for layer in metrics["layers"]]
    for (r0, c0), (r1, c1) in zip(path[:-1], path[1:]):
        # XY route: along the row first, then along the column.
        ax.annotate("", xy=(c1, r0), xytext=(c0, r0), arrowprops=dict(arrowstyle="-", color="red", lw=1.5))
        ax.annotate("", xy=(c1, r1), xytext=(c1, r0), arrowprops=dict(arrowstyle="->", color="red", lw=1.5))
    step = max(1, max(rows, cols) // 16)
    ax.set_xticks(range(0, cols, step))
    ax.set_yticks(range(0, rows, step))
    ax.set_xlabel("PE column")
    ax.set_ylabel("PE row")
    ax.set_title(f"PE utilization, {metrics['algorithm'].upper()} on {metrics['scenario']['hardware']['name']}\n"
                 f"mean over PEs holding a layer {metrics['mean_utilization']:.1%}; red: route layer k -> k+1",
                 fontsize=10)
    fig.colorbar(im, ax=ax, label="utilization (busy cycles / total cycles)")
    fig.tight_layout()
    return fig


def convergence(runs: dict[str, tuple[dict, list]]):
    """Test accuracy against samples and against simulated seconds, and training loss, for one or more runs."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for label, (metrics, curve) in runs.items():
        if not curve:
            continue
        samples, cycles, loss, acc = (np.array(col, dtype=float) for col in zip(*curve))
        seconds = cycles / metrics["scenario"]["hardware"]["clock_hz"]
        axes[0].plot(samples, acc, marker=".", label=label)
        axes[1].plot(seconds * 1e3, acc, marker=".", label=label)
        axes[2].plot(samples, loss, marker=".", label=label)
    axes[0].set(xlabel="samples trained", ylabel="test accuracy", title="Accuracy vs samples")
    axes[1].set(xlabel="simulated time (ms at the hardware clock)", ylabel="test accuracy", title="Accuracy vs time")
    axes[2].set(xlabel="samples trained", ylabel="mean training loss since last evaluation",
                title="Training loss (cross-entropy)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_all(metrics: dict, curve: list, ops: dict, out_dir: Path) -> list[Path]:
    """Write pipeline.png (if there is an op table), utilization.png and convergence.png."""
    out_dir = Path(out_dir)
    figures = {"utilization.png": utilization_map(metrics),
               "convergence.png": convergence({metrics["scenario"]["name"]: (metrics, curve)})}
    if ops and len(ops.get("start", [])):
        figures["pipeline.png"] = pipeline_diagram(ops, metrics)
    paths = []
    for name, fig in figures.items():
        fig.savefig(out_dir / name, dpi=110, metadata=PNG_META)
        plt.close(fig)
        paths.append(out_dir / name)
    return paths
