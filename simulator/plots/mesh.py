"""Mesh utilization maps: the PE grid coloured by utilization, labelled by role, with each chain's route
and each layer region's outline."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from .style import IDLE_COLOR, run_title

CHAIN_COLORS = ("red", "deepskyblue", "orange", "magenta", "lime", "white")
SHARD_COLOR = "magenta"
ROUTE_SHIFT = 0.28  # routes run this far (in PEs) below and right of PE centres, clear of the labels
MAX_CELLS = 1_000_000  # a larger mesh is drawn around the PEs in use, not whole (a wafer has ~10^6 PEs)
MAX_LABELS = 2_000  # more PEs in use than this are coloured but not labelled
MIN_LABEL_CELL = 0.15  # inches per PE below which a label (two lines of 3 pt or more) would not fit
MAX_ARROWS = 300  # route hops drawn one line and arrow each, at most; more make one thin line per chain
MAX_SHARD_PATCHES = 200  # shards hatched one patch each, at most; more are one set of square markers
MAX_REGION_LABELS = 200  # layer regions named on a map too large for PE labels, at most


def chains(metrics: dict) -> list[dict]:
    """The run's chains of PEs ({"name", "pes"}); runs without them chain their layers in order."""
    if metrics.get("chains"):
        return metrics["chains"]
    return [{"name": "layers", "pes": [[layer["row"], layer["col"]] for layer in metrics["layers"]]}]


def xy_route(src, dst) -> list[tuple[int, int]]:
    """Corner points (col, row) of the XY route from src to dst (row, col): along the row, then the column."""
    (r0, c0), (r1, c1) = src, dst
    return [(c0, r0), (c1, r0), (c1, r1)]


def view(metrics: dict) -> tuple[int, int, int, int]:
    """The PE rows r0..r1 and columns c0..c1 (inclusive) a map draws: the whole mesh, or on a
    mesh of more than MAX_CELLS PEs the box around the PEs in use, with a margin of one PE."""
    mesh = metrics["scenario"]["hardware"]["mesh"]
    rows, cols = mesh["rows"], mesh["cols"]
    if rows * cols <= MAX_CELLS:
        return 0, rows - 1, 0, cols - 1
    used = [(pe["row"], pe["col"]) for pe in metrics["pe_utilization"] if pe.get("role") is not None]
    used = used or [(0, 0)]
    r0, r1 = max(0, min(r for r, _ in used) - 1), min(rows - 1, max(r for r, _ in used) + 1)
    c0, c1 = max(0, min(c for _, c in used) - 1), min(cols - 1, max(c for _, c in used) + 1)
    return r0, r1, c0, c1


def draw_mesh(ax, metrics: dict, fontsize_scale: float = 1.0):
    """Draw the utilization grid, PE labels, shard marks and chain routes on `ax`; return the image."""
    r0, r1, c0, c1 = view(metrics)
    rows, cols = r1 - r0 + 1, c1 - c0 + 1
    grid = np.zeros((rows, cols))
    used = np.zeros((rows, cols), dtype=bool)  # PEs that hold a layer or a shard
    shown = [pe for pe in metrics["pe_utilization"] if r0 <= pe["row"] <= r1 and c0 <= pe["col"] <= c1]
    for pe in shown:
        grid[pe["row"] - r0, pe["col"] - c0] = pe["utilization"]
        used[pe["row"] - r0, pe["col"] - c0] = pe.get("role") is not None or pe.get("layer") is not None
    cell = min(1.1, 11.0 / max(rows, cols))  # inches per PE in `utilization_map`
    fontsize = max(3.0, 8 * cell / 1.1) * fontsize_scale
    in_use = int(used.sum())
    labelled = in_use <= MAX_LABELS and cell >= MIN_LABEL_CELL
    cmap = "viridis"
    if not labelled:
        # No "idle" labels to tell them apart: idle PEs take the idle grey, not the colour of 0%.
        grid = np.ma.array(grid, mask=~used)
        cmap = plt.get_cmap("viridis").with_extremes(bad=IDLE_COLOR)
    # One raster of rows x cols cells, whatever the mesh size (a wafer is ~10^5 PEs).
    im = ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, extent=(c0 - 0.5, c1 + 0.5, r1 + 0.5, r0 - 0.5))
    for pe in shown:
        if pe.get("role") is None and pe.get("layer") is None:
            if cell <= 0.5:
                continue  # too small to read: idle PEs are the dark cells
            text = "idle"
        elif not labelled:
            text = ""
        else:
            kind = pe.get("kind")
            label = pe.get('label') or 'L%s' % pe['layer']
            text = f"{label}{' ' + kind if kind not in (None, 'dense') else ''}\n{pe['utilization']:.0%}"
        if text:
            ax.text(pe["col"], pe["row"] - 0.1, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if pe["utilization"] < 0.6 else "black")
    shards = [(pe["col"], pe["row"]) for pe in shown if pe.get("role") == "shard"]
    _draw_shards(ax, shards, cell)
    regions = [layer for layer in metrics.get("layers", ()) if layer.get("region")]
    if regions:
        _draw_regions(ax, regions, fontsize, labelled)
    all_chains, arrows = chains(metrics), has_arrows(metrics)
    handles = [_draw_route(ax, chain, i, len(all_chains), arrows) for i, chain in enumerate(all_chains)]
    if shards:
        handles.append(Patch(facecolor="none", edgecolor=SHARD_COLOR, hatch="//", label="parameter-server shard"))
    if not labelled and not used.all():
        handles.append(Patch(facecolor=IDLE_COLOR, edgecolor="grey", label="idle PE (holds nothing)"))
    step = max(1, max(rows, cols) // 16)
    ax.set_xticks(range(c0, c1 + 1, step))
    ax.set_yticks(range(r0, r1 + 1, step))
    mesh = metrics["scenario"]["hardware"]["mesh"]
    whole = (r0, r1, c0, c1) == (0, mesh["rows"] - 1, 0, mesh["cols"] - 1)
    ax.set_xlabel("PE column" if whole else f"PE column (columns {c0}-{c1} of {mesh['cols']:,})")
    ax.set_ylabel("PE row" if whole else f"PE row (rows {r0}-{r1} of {mesh['rows']:,}: the PEs in use)")
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=7,
                  ncol=min(2, len(handles)), frameon=False)
    return im


def _draw_shards(ax, shards: list[tuple[int, int]], cell: float) -> None:
    """Hatch the shard PEs (col, row): a patch each, or past MAX_SHARD_PATCHES one set of square outlines."""
    if len(shards) <= MAX_SHARD_PATCHES:
        for col, row in shards:
            ax.add_patch(Rectangle((col - 0.45, row - 0.45), 0.9, 0.9, fill=False, hatch="//",
                                   edgecolor=SHARD_COLOR, linewidth=2.5))
    elif shards:
        cols, rows = zip(*shards)
        side = 0.9 * cell * 72  # points
        ax.scatter(cols, rows, s=side ** 2, marker="s", facecolors="none", edgecolors=SHARD_COLOR,
                   linewidths=max(0.3, min(2.5, side / 8)), gid="shards")


def _draw_regions(ax, layers: list[dict], fontsize: float, labelled: bool) -> None:
    """Outline every layer's region (one collection, so 10^5 regions draw as fast as one) and, where the PEs
    are too many to label one by one, name the first MAX_REGION_LABELS regions with their mean utilization."""
    boxes = [Rectangle((g["col"] - 0.5, g["row"] - 0.5), g["cols"], g["rows"])
             for g in (layer["region"] for layer in layers)]
    ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="white", linewidth=1.2, gid="regions"))
    if labelled:
        return
    for layer in layers[:MAX_REGION_LABELS]:
        g = layer["region"]
        ax.text(g["col"] + (g["cols"] - 1) / 2, g["row"] + (g["rows"] - 1) / 2,
                f"L{layer['layer']} {g['rows']}x{g['cols']}\n{g['utilization']:.0%}", ha="center", va="center",
                fontsize=fontsize, color="white" if g["utilization"] < 0.6 else "black")


def _draw_route(ax, chain: dict, i: int, n_chains: int, arrows: bool) -> Line2D:
    """Draw chain i's XY route hop by hop, each hop one line and arrow, or (arrows False) all its hops
    as one thin line; return its legend entry."""
    color = CHAIN_COLORS[i % len(CHAIN_COLORS)]
    shift = ROUTE_SHIFT + 0.08 * (i - (n_chains - 1) / 2)  # below the text; chains side by side
    hops = list(zip(chain["pes"][:-1], chain["pes"][1:]))
    if arrows:
        for src, dst in hops:
            points = [(x + shift, y + shift) for x, y in xy_route(src, dst)]
            xs, ys = zip(*points)
            ax.plot(xs, ys, color=color, lw=1.5, gid="route")
            ax.annotate("", xy=points[-1], xytext=points[-2] if points[-2] != points[-1] else points[0],
                        arrowprops=dict(arrowstyle="->", color=color, lw=1.5))
        width = 1.5
    else:
        # Hops end to end, NaN between them: one artist for the whole chain.
        xy = np.full((4 * len(hops), 2), np.nan)  # three corners a hop, then a gap
        for h, (src, dst) in enumerate(hops):
            xy[4 * h: 4 * h + 3] = np.array(xy_route(src, dst), dtype=float) + shift
        width = 0.6
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=width, gid="route")
    return Line2D([], [], color=color, lw=width, label=f"{chain['name']}: route layer k -> k+1")


def has_arrows(metrics: dict) -> bool:
    """Whether the routes are drawn hop by hop with arrows (at most MAX_ARROWS hops in all)."""
    return sum(len(chain["pes"]) - 1 for chain in chains(metrics)) <= MAX_ARROWS


def _route_note(metrics: dict) -> str:
    return ("arrows" if has_arrows(metrics) else "lines") + ": XY route (along the row, then the column)"


def _subtitle(metrics: dict) -> str:
    return f"mean utilization of PEs in use {metrics['mean_utilization']:.1%}"


def utilization_map(metrics: dict):
    """One run's PE grid coloured by utilization, each PE labelled, each chain's XY route drawn."""
    r0, r1, c0, c1 = view(metrics)
    rows, cols = r1 - r0 + 1, c1 - c0 + 1
    cell = min(1.1, 11.0 / max(rows, cols))  # inches per PE: big meshes stay page-sized
    fig, ax = plt.subplots(figsize=(2.6 + cell * cols, 2.2 + cell * rows))
    im = draw_mesh(ax, metrics)
    ax.set_title(f"PE utilization, {run_title(metrics)}\n{_subtitle(metrics)}\n{_route_note(metrics)}", fontsize=9)
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
    arrows = all(has_arrows(metrics) for metrics in runs.values())
    fig.suptitle(f"PE utilization; {'arrows' if arrows else 'lines'}: XY route (along the row, then the column)",
                 fontsize=10)
    return fig
