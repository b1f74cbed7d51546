"""Figures are pure functions of results: what they draw follows from the op table and metrics alone."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from simulator import plots
from simulator.runner import run
from tests.builders import make, scenario_dict


@pytest.fixture(scope="module")
def result():
    return run(make(scenario_dict(samples=30, eval_every=10)), progress=False)


def test_pipeline_diagram_draws_every_op_in_the_window(result):
    ops = result.ops
    fig = plots.pipeline_diagram(ops, result.metrics, window=(0, int(ops["end"].max())), label_samples=False)
    ax = fig.axes[0]
    bars = sum(len(collection.get_paths()) for collection in ax.collections)
    assert bars == len(ops["start"])
    assert ax.get_xlim() == (0, int(ops["end"].max()))
    assert ax.get_xlabel() == "time (cycles)"
    plt.close(fig)


def test_pipeline_diagram_window_keeps_only_overlapping_ops(result):
    ops = result.ops
    fig = plots.pipeline_diagram(ops, result.metrics, window=(100, 200), label_samples=True)
    ax = fig.axes[0]
    inside = np.sum((ops["end"] > 100) & (ops["start"] < 200))
    assert sum(len(c.get_paths()) for c in ax.collections) == inside
    labels = [t.get_text() for t in ax.texts]
    assert labels and all(label.isdigit() for label in labels)
    plt.close(fig)


def test_utilization_map_labels_each_layer(result):
    fig = plots.utilization_map(result.metrics)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum(text.startswith("L") for text in texts) == 3 and texts.count("idle") == 13
    plt.close(fig)


def test_convergence_plots_one_line_per_run(result):
    fig = plots.convergence({"a": (result.metrics, result.curve), "b": (result.metrics, result.curve)})
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2, 2]
    assert "ms" in fig.axes[1].get_xlabel()
    plt.close(fig)


def test_draw_all_writes_three_pngs(result, tmp_path):
    paths = plots.draw_all(result.metrics, result.curve, result.ops, tmp_path)
    assert sorted(p.name for p in paths) == ["convergence.png", "pipeline.png", "utilization.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
