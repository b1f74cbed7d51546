"""Utilization maps: the grid's colours are the PEs' utilizations; labels, routes and shards as in metrics."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from wafersim import plots
from wafersim.plots.mesh import ROUTE_SHIFT, xy_route
from tests.builders import fake_asgd_results


def routes(ax) -> list[list[tuple[float, float]]]:
    return [list(zip(*line.get_data())) for line in ax.get_lines() if line.get_gid() == "route"]


def test_grid_holds_each_pes_utilization_and_its_label(tiny_runs):
    metrics = tiny_runs["cp"].metrics
    fig = plots.utilization_map(metrics)
    ax = fig.axes[0]
    grid = ax.images[0].get_array()
    for pe in metrics["pe_utilization"]:
        assert grid[pe["row"], pe["col"]] == pe["utilization"]
    texts = [t.get_text() for t in ax.texts]
    assert sorted(t for t in texts if t.startswith("L")) == [
        f"L{k}\n{metrics['layers'][k - 1]['utilization']:.0%}" for k in (1, 2, 3)]
    assert texts.count("idle") == 13
    assert ax.get_xlabel() == "PE column" and ax.get_ylabel() == "PE row"
    assert ax.get_title().startswith("PE utilization, CP on uniform-test (test-cp)")
    assert fig.axes[1].get_ylabel() == "utilization (busy cycles / total cycles)"
    plt.close(fig)


def test_routes_follow_the_chain_along_the_row_then_the_column(tiny_runs):
    metrics = tiny_runs["cp"].metrics
    fig = plots.utilization_map(metrics)
    pes = metrics["chains"][0]["pes"]
    want = [[(x + ROUTE_SHIFT, y + ROUTE_SHIFT) for x, y in xy_route(a, b)] for a, b in zip(pes[:-1], pes[1:])]
    assert routes(fig.axes[0]) == want
    plt.close(fig)


def test_xy_route_corner():
    assert xy_route((0, 3), (2, 1)) == [(3, 0), (1, 0), (1, 2)]


def test_workers_and_shards():
    fake = fake_asgd_results()
    fig = plots.utilization_map(fake.metrics)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    for label in ("W1 L1", "W1 L2", "W2 L1", "W2 L2", "S1", "S2"):
        assert sum(t.startswith(label + "\n") for t in texts) == 1
    shards = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch() == "//"]
    assert sorted((p.get_x() + 0.45, p.get_y() + 0.45) for p in shards) == [(2.0, 0.0), (2.0, 1.0)]
    drawn = routes(ax)
    assert len(drawn) == 2
    assert drawn[0][0][1] != drawn[1][0][1] and np.allclose([y - drawn[0][0][1] for _, y in drawn[0]], 0)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["worker 1: route layer k -> k+1", "worker 2: route layer k -> k+1",
                      "parameter-server shard"]
    plt.close(fig)


def test_side_by_side_maps(tiny_runs):
    fig = plots.utilization_maps({name: r.metrics for name, r in tiny_runs.items()})
    maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title().split(":")[0] for ax in maps] == ["sgd", "mbgd", "cp"]
    plt.close(fig)


def test_metrics_without_chains_route_the_layers_in_order(tiny_runs):
    metrics = {k: v for k, v in tiny_runs["cp"].metrics.items() if k != "chains"}
    fig = plots.utilization_map(metrics)
    assert len(routes(fig.axes[0])) == 2
    plt.close(fig)
