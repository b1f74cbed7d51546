"""Mesh utilization maps: the PE grid coloured by utilization, labelled by role, with each chain's route."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from .style import run_title

CHAIN_COLORS = ("red", "deepskyblue", "orange", "magenta", "lime", "white")
SHARD_COLOR = "magenta"
ROUTE_SHIFT = 0.28  # routes run this far (in PEs) below and right of PE centres, clear of the labels


def chains(metrics: dict) -> list[dict]:
    """The run's chains of PEs ({"name", "pes"}); runs without them chain their layers in order."""
    if metrics.get("chains"):
        return metrics["chains"]
    return [{"name": "layers", "pes": [[layer["row"], layer["col"]] for layer in metrics["layers"]]}]


def xy_route(src, dst) -> list[tuple[int, int]]:
    """Corner points (col, row) of the XY route from src to dst (row, col): along the row, then the column."""
    (r0, c0), (r1, c1) = src, dst
    return [(c0, r0), (c1, r0), (c1, r1)]


def draw_mesh(ax, metrics: dict, fontsize_scale: float = 1.0):
    """Draw the utilization grid, PE labels, shard marks and chain routes on `ax`; return the image."""
    mesh = metrics["scenario"]["hardware"]["mesh"]
    rows, cols = mesh["rows"], mesh["cols"]
    grid = np.zeros((rows, cols))
    for pe in metrics["pe_utilization"]:
        grid[pe["row"], pe["col"]] = pe["utilization"]
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1)
    cell = min(1.1, 11.0 / max(rows, cols))
    fontsize = max(3.0, 8 * cell / 1.1) * fontsize_scale
    has_shards = False
    for pe in metrics["pe_utilization"]:
        if pe.get("role") is None and pe.get("layer") is None:
            text = "idle" if cell > 0.5 else ""
        else:
            text = f"{pe.get('label') or 'L%s' % pe['layer']}\n{pe['utilization']:.0%}"
        ax.text(pe["col"], pe["row"] - 0.1, text, ha="center", va="center", fontsize=fontsize,
                color="white" if pe["utilization"] < 0.6 else "black")
        if pe.get("role") == "shard":
            has_shards = True
            ax.add_patch(Rectangle((pe["col"] - 0.45, pe["row"] - 0.45), 0.9, 0.9, fill=False, hatch="//",
                                   edgecolor=SHARD_COLOR, linewidth=2.5))
    handles = []
    all_chains = chains(metrics)
    for i, chain in enumerate(all_chains):
        color = CHAIN_COLORS[i % len(CHAIN_COLORS)]
        shift = ROUTE_SHIFT + 0.08 * (i - (len(all_chains) - 1) / 2)  # below the text; chains side by side
        for src, dst in zip(chain["pes"][:-1], chain["pes"][1:]):
            points = [(x + shift, y + shift) for x, y in xy_route(src, dst)]
            xs, ys = zip(*points)
            ax.plot(xs, ys, color=color, lw=1.5, gid="route")
            ax.annotate("", xy=points[-1], xytext=points[-2] if points[-2] != points[-1] else points[0],
                        arrowprops=dict(arrowstyle="->", color=color, lw=1.5))
        handles.append(Line2D([], [], color=color, lw=1.5,
                              label=f"{chain['name']}: route layer k -> k+1"))
    if has_shards:
        handles.append(Patch(facecolor="none", edgecolor=SHARD_COLOR, hatch="//", label="parameter-server shard"))
    step = max(1, max(rows, cols) // 16)
    ax.set_xticks(range(0, cols, step))
    ax.set_yticks(range(0, rows, step))
    ax.set_xlabel("PE column")
    ax.set_ylabel("PE row")
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=7,
                  ncol=min(2, len(handles)), frameon=False)
    return im


def _subtitle(metrics: dict) -> str:
    return f"mean utilization of PEs in use {metrics['mean_utilization']:.1%}"


def utilization_map(metrics: dict):
    """One run's PE grid coloured by utilization, each PE labelled, each chain's XY route drawn."""
    mesh = metrics["scenario"]["hardware"]["mesh"]
    rows, cols = mesh["rows"], mesh["cols"]
    cell = min(1.1, 11.0 / max(rows, cols))  # inches per PE: big meshes stay page-sized
    fig, ax = plt.subplots(figsize=(2.6 + cell * cols, 2.2 + cell * rows))
    im = draw_mesh(ax, metrics)
    ax.set_title(f"PE utilization, {run_title(metrics)}\n{_subtitle(metrics)}\n"
                 "arrows: XY route (along the row, then the column)", fontsize=9)
    fig.colorbar(im, ax=ax, label="utilization (busy cycles / total cycles)")
    fig.tight_layout()
    return fig


def utilization_maps(runs: dict[str, dict]):
    """Several runs' utilization maps side by side; `runs` maps a title to metrics."""
    fig, axes = plt.subplots(1, len(runs), squeeze=False, figsize=(1.6 + 4.4 * len(runs), 4.8))
    im = None
    for ax, (title, metrics) in zip(axes[0], runs.items()):
        im = draw_mesh(ax, metrics, fontsize_scale=0.9)
        ax.set_title(f"{title}: {run_title(metrics)}\n{_subtitle(metrics)}", fontsize=9)
    fig.colorbar(im, ax=list(axes[0]), label="utilization (busy cycles / total cycles)", shrink=0.8)
    fig.suptitle("PE utilization; arrows: XY route (along the row, then the column)", fontsize=10)
    return fig
