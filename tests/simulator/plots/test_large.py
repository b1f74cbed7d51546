"""Figures of wafer-scale runs: rasters and summaries instead of one artist per PE, op or layer."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from wafersim import plots
from wafersim.plots import lanes
from wafersim.plots.mesh import MAX_ARROWS
from wafersim.plots.pipeline import MAX_BAR_TRACKS, MAX_ROWS
from wafersim.plots.style import IDLE_COLOR
from wafersim.records import KIND_COLORS
from tests.builders import UNIFORM_HARDWARE, make, scenario_dict

DEEP = 150  # layers: more tracks than MAX_BAR_TRACKS, more layers than staleness panels


def scenario_meta(rows: int, cols: int) -> dict:
    return {"name": "wide", "training": {"algorithm": "cp"}, "hardware": {"name": "wafer", "clock_hz": 1e9,
                                                                           "mesh": {"rows": rows, "cols": cols}}}


def snake(n: int, cols: int) -> list[tuple[int, int]]:
    return [(i // cols, i % cols if (i // cols) % 2 == 0 else cols - 1 - i % cols) for i in range(n)]


def wide_metrics(n_layers: int, rows: int, cols: int, shards: int = 0) -> dict:
    """Metrics of a pipelined run of n_layers PEs (plus shards) on a rows x cols mesh, only the PEs in use listed."""
    coords = snake(n_layers + shards, cols)
    pes = [{"row": r, "col": c, "layer": k % n_layers + 1, "role": "layer" if k < n_layers else "shard",
            "worker": None, "label": f"L{k + 1}" if k < n_layers else f"S{k - n_layers + 1}",
            "utilization": (k % 10) / 10, "busy_cycles": k, "ops": 1} for k, (r, c) in enumerate(coords)]
    return {"scenario": scenario_meta(rows, cols), "mean_utilization": 0.45, "pe_utilization": pes,
            "chains": [{"name": "layers", "pes": [list(rc) for rc in coords[:n_layers]]}]}


@pytest.fixture(scope="module")
def deep_run():
    """A timing-only CP run of DEEP layers on a 13 x 13 mesh."""
    from wafersim.runner import run

    hardware = {**UNIFORM_HARDWARE, "mesh": {"rows": 13, "cols": 13}}
    data = scenario_dict(layers=(8,) * (DEEP + 1), samples=12, hardware=hardware, eval_every=100)
    data["timing_only"] = True
    return run(make(data), progress=False)


# --- pipeline lanes --------------------------------------------------------------------------


def test_binned_cycles_are_the_exact_overlaps():
    rng = np.random.default_rng(3)
    start = rng.integers(0, 1000, 500).astype(float)
    end = start + rng.integers(1, 300, 500)
    group = rng.integers(0, 4, 500)
    edges = np.linspace(0.0, 1100.0, 12)
    got = lanes.binned_cycles(group, start, end, 4, edges)
    want = np.zeros((4, 11))
    for g, a, b in zip(group, start, end):
        want[g] += np.clip(np.minimum(b, edges[1:]) - np.maximum(a, edges[:-1]), 0, None)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_lanes_mix_the_kinds_by_their_share_of_time():
    # Track 0 is a forward for the whole window, track 1 idle, track 2 half backward: lanes of two tracks.
    track, kind = np.array([0, 2]), np.array([0, 1])
    start, end = np.array([0, 0]), np.array([100, 50])
    image = lanes.lane_raster(track // 2, kind, start, end, np.array([2, 1]), (0, 100), bins=2)
    assert image.shape == (2, 2, 3)
    f, b, idle = (np.array(to_rgb(c)) for c in (KIND_COLORS[0], KIND_COLORS[1], IDLE_COLOR))
    np.testing.assert_allclose(image[0, 0], (f + idle) / 2)  # lane 1: tracks 0 and 1
    np.testing.assert_allclose(image[1], [b, idle])  # lane 2: track 2 alone, busy in the first half
    assert lanes.lane_size(600) == 1 and lanes.lane_size(601) == 2 and lanes.lane_size(2000) == 4


def test_a_deep_pipeline_is_one_raster_with_a_row_per_track(deep_run):
    ops, metrics = deep_run.ops, deep_run.metrics
    assert DEEP > MAX_BAR_TRACKS
    fig = plots.pipeline_diagram(ops, metrics, window=(0, int(ops["end"].max())))
    ax = fig.axes[0]
    (image,) = ax.images
    assert image.get_array().shape[:2] == (DEEP, lanes.TIME_BINS)
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)] and not ax.texts
    assert len(ax.get_yticks()) <= 25 and ax.get_yticklabels()[0].get_text().startswith("L1 ")
    assert "each lane holds one PE" in ax.get_title()
    assert fig.get_size_inches()[1] == pytest.approx(1.4 + 0.5 * MAX_ROWS)
    plt.close(fig)


def test_more_tracks_than_lanes_share_lanes_and_linked_samples_follow_them():
    n_tracks, per_lane = 1500, lanes.lane_size(1500)
    coords = snake(n_tracks, 50)
    k = np.arange(n_tracks)
    ops = {"row": np.array([r for r, _ in coords]), "col": np.array([c for _, c in coords]), "layer": k + 1,
           "kind": np.zeros(n_tracks, dtype=np.int64), "sample": np.zeros(n_tracks, dtype=np.int64),
           "start": 10 * k, "end": 10 * k + 10}
    fig = plots.pipeline_diagram(ops, wide_metrics(n_tracks, 50, 50), window=(0, 10 * n_tracks), link_samples=True)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape[0] == -(-n_tracks // per_lane) and per_lane == 3
    (line,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    (path,) = line.get_segments()
    np.testing.assert_array_equal(path[:, 1], k // per_lane + 1)  # the sample climbs lane by lane
    assert f"each lane holds {per_lane} PEs" in ax.get_title()
    plt.close(fig)


def test_stacked_deep_pipelines_keep_a_page_height(deep_run):
    fig = plots.pipeline_stack({"a": (deep_run.ops, deep_run.metrics), "b": (deep_run.ops, deep_run.metrics)})
    assert fig.get_size_inches()[1] == pytest.approx(1.0 + 0.42 * 2 * (MAX_ROWS + 1.5))
    assert all(len(ax.images) == 1 for ax in fig.axes)
    plt.close(fig)


# --- utilization map --------------------------------------------------------------------------


def test_a_wafer_map_is_one_raster_with_one_route_line_and_no_labels():
    metrics = wide_metrics(2000, 316, 316, shards=300)
    assert 2000 - 1 > MAX_ARROWS
    fig = plots.utilization_map(metrics)
    ax = fig.axes[0]
    (image,) = ax.images
    grid = image.get_array()
    assert grid.shape == (316, 316) and not ax.texts and not ax.patches
    used = {(pe["row"], pe["col"]) for pe in metrics["pe_utilization"]}
    assert int((~np.ma.getmaskarray(grid)).sum()) == len(used)  # idle PEs are masked: drawn grey
    assert grid[0, 3] == metrics["pe_utilization"][3]["utilization"]
    (route,) = [line for line in ax.get_lines() if line.get_gid() == "route"]
    assert np.isnan(route.get_xydata()).any()  # hops joined, gaps between them
    (shards,) = [c for c in ax.collections if c.get_gid() == "shards"]
    assert len(shards.get_offsets()) == 300
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "layers: route layer k -> k+1", "parameter-server shard", "idle PE (holds nothing)"]
    assert "lines: XY route" in ax.get_title()
    plt.close(fig)


def test_a_deep_run_on_a_small_mesh_keeps_labels_and_arrows(deep_run):
    fig = plots.utilization_map(deep_run.metrics)
    ax = fig.axes[0]
    assert len([t for t in ax.texts if t.get_text().startswith("L")]) == DEEP
    assert len([line for line in ax.get_lines() if line.get_gid() == "route"]) == DEEP - 1
    assert not np.ma.getmaskarray(ax.images[0].get_array()).any()
    plt.close(fig)


def test_few_shards_are_hatched_one_patch_each():
    fig = plots.utilization_map(wide_metrics(20, 100, 100, shards=5))
    hatched = [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_hatch() == "//"]
    assert len(hatched) == 5
    plt.close(fig)


# --- staleness and the whole run -------------------------------------------------------------


def test_many_layers_staleness_is_summarised_in_two_panels(deep_run):
    metrics = deep_run.metrics
    fig = plots.staleness_histograms(metrics)
    by_layer, pooled = fig.axes
    mean, = [line for line in by_layer.get_lines() if line.get_label() == "mean"]
    assert len(mean.get_xdata()) == DEEP
    np.testing.assert_allclose(mean.get_ydata(), [row["staleness"]["mean"] for row in metrics["layers"]])
    heights = sum(p.get_height() for p in pooled.patches)
    assert heights == sum(row["staleness"]["updates"] for row in metrics["layers"])
    plt.close(fig)


def test_every_figure_of_a_deep_run(deep_run, tmp_path):
    paths = plots.draw_all(deep_run, tmp_path)
    assert sorted(p.name for p in paths) == ["convergence.png", "pipeline.png", "staleness.png", "utilization.png"]


def test_a_run_without_figures_does_not_import_matplotlib(tmp_path):
    data = scenario_dict(samples=8)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    code = ("import sys; from wafersim.cli import main; "
            f"code = main(['run', {str(tmp_path / 's.yaml')!r}, '--out', {str(tmp_path / 'out')!r}, '--no-figures', "
            "'--quiet']); print(code, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "False"]


def test_a_wafer_of_layer_regions_draws_every_outline_as_one_collection_and_names_the_first():
    """2,500 regions of 4 x 4 PEs on a 200 x 200 mesh (40,000 PEs in use): one raster, one collection of
    outlines, a label for each of the first MAX_REGION_LABELS regions, no PE labels."""
    from matplotlib.collections import PatchCollection

    from wafersim.plots.mesh import MAX_REGION_LABELS

    coords = [(4 * (i // 50), 4 * (i % 50)) for i in range(2500)]
    pes = [{"row": r + dr, "col": c + dc, "layer": k + 1, "role": "layer" if (dr, dc) == (0, 3) else "block",
            "label": f"L{k + 1}", "utilization": 0.5, "busy_cycles": 1, "ops": 1}
           for k, (r, c) in enumerate(coords) for dr in range(4) for dc in range(4)]
    layers = [{"layer": k + 1, "row": r, "col": c + 3, "region": {"row": r, "col": c, "rows": 4, "cols": 4, "pes": 16,
                                                                "utilization": 0.25}}
              for k, (r, c) in enumerate(coords)]
    metrics = {"scenario": scenario_meta(200, 200), "mean_utilization": 0.5, "pe_utilization": pes, "layers": layers,
               "chains": [{"name": "layers", "pes": [[r, c + 3] for r, c in coords]}]}
    fig = plots.utilization_map(metrics)
    ax = fig.axes[0]
    outlines = [c for c in ax.collections if isinstance(c, PatchCollection) and c.get_gid() == "regions"]
    assert len(outlines) == 1 and len(outlines[0].get_paths()) == 2500
    names = [t.get_text() for t in ax.texts]
    assert len(names) == MAX_REGION_LABELS and names[0] == "L1 4x4\n25%"
    plt.close(fig)


def test_a_pipeline_on_layer_regions_draws_a_lane_per_region():
    """Regions of 50, 60 and 70 PEs (180 tracks, a raster): lane 1 all forward, lane 2 half its PEs in
    backward, lane 3 idle; each lane named by its region and its PE count."""
    sizes, pes, ops = (50, 60, 70), [], {name: [] for name in ("row", "col", "layer", "kind", "sample", "start", "end")}
    for k, n in enumerate(sizes, start=1):
        for i in range(n):
            pes.append({"row": k, "col": i, "layer": k, "role": "layer" if i == n - 1 else "block",
                        "label": f"L{k}" if i == n - 1 else f"L{k} 0,{i}", "utilization": 0.5})
            if k == 1 or (k == 2 and i % 2 == 0):
                for name, value in zip(ops, (k, i, k, 0 if k == 1 else 1, 0, 0, 100)):
                    ops[name].append(value)
    ops = {name: np.array(values, dtype=np.int64) for name, values in ops.items()}
    metrics = {"scenario": scenario_meta(4, 80), "pe_utilization": pes, "mean_utilization": 0.5}
    fig = plots.pipeline_diagram(ops, metrics, window=(0, 100))
    ax = fig.axes[0]
    (image,) = ax.images
    grid = image.get_array()
    f, b, idle = (np.array(to_rgb(c)) for c in (KIND_COLORS[0], KIND_COLORS[1], IDLE_COLOR))
    assert grid.shape[:2] == (3, 100)
    np.testing.assert_allclose(grid[0], np.tile(f, (100, 1)))
    np.testing.assert_allclose(grid[1], np.tile((b + idle) / 2, (100, 1)))
    np.testing.assert_allclose(grid[2], np.tile(idle, (100, 1)))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L1 region (50 PEs)", "L2 region (60 PEs)",
                                                            "L3 region (70 PEs)"]
    assert "each lane is one layer's region, its PEs' time together" in ax.get_title()
    assert ax.get_ylabel() == "layer region (its PEs)"
    plt.close(fig)
