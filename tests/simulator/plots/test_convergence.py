"""Convergence curves and staleness histograms: what is plotted is the curve and the histogram."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from wafersim import plots
from tests.builders import fake_asgd_results


def test_four_panels_one_line_per_run(tiny_runs):
    runs = {name: (r.metrics, r.curve) for name, r in tiny_runs.items()}
    fig = plots.convergence(runs)
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 3, 3, 3]
    assert [ax.get_title() for ax in fig.axes] == ["Test accuracy vs samples", "Test accuracy vs simulated time",
                                                   "Training loss vs samples", "Training loss vs simulated time"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["samples trained", "simulated time (ms at the hardware clock)"] * 2
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["sgd", "mbgd", "cp"]
    cp = tiny_runs["cp"]
    x, y = fig.axes[1].get_lines()[2].get_data()
    np.testing.assert_allclose(x, [c / 1e9 * 1e3 for _, c, _, _ in cp.curve])
    np.testing.assert_array_equal(y, [a for *_, a in cp.curve])
    plt.close(fig)


def test_timing_only_curves_say_so():
    metrics = fake_asgd_results().metrics
    fig = plots.convergence({"t": (metrics, [(10, 100, math.nan, math.nan)])})
    assert all(not ax.get_lines() for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[0].texts] == ["no arithmetic (timing-only runs)"]
    plt.close(fig)


def test_staleness_histogram_per_layer(tiny_runs):
    metrics = tiny_runs["cp"].metrics
    assert plots.has_staleness(metrics)
    fig = plots.staleness_histograms(metrics)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3
    for ax, layer in zip(visible, metrics["layers"]):
        st = layer["staleness"]
        assert ax.get_title() == f"layer {layer['layer']}: mean {st['mean']:.2f}, max {st['max']}"
        heights = [p.get_height() for p in ax.patches]
        assert heights == list(st["histogram"].values())
        assert ax.get_xlabel() == "staleness (weight versions)" and ax.get_ylabel() == "updates (log scale)"
    plt.close(fig)


def test_shard_rows_are_titled_by_label():
    fig = plots.staleness_histograms(fake_asgd_results().metrics)
    assert [ax.get_title() for ax in fig.axes] == ["S1: mean 0.50, max 1", "S2: mean 1.50, max 2"]
    plt.close(fig)


def test_no_staleness_without_stale_updates(tiny_runs):
    assert not plots.has_staleness(tiny_runs["sgd"].metrics)
    assert not plots.has_staleness(tiny_runs["mbgd"].metrics)
