"""The synthetic-gradient figure of a dni run: one loss and one cosine line per interface, from metrics alone."""

from __future__ import annotations

import numpy as np
from tests.simulator.algorithms.test_dni import dni
from tests.builders import make

from wafersim.runner import run


def test_the_synthetic_figure_draws_each_interface_loss_and_cosine(tmp_path):
    from wafersim import plots
    from wafersim.results import write

    result = run(make(dni(samples=60)), progress=False)
    fig = plots.synthetic_curves(result.metrics)
    loss_ax, cos_ax = fig.axes[:2]
    rows = [row for row in result.metrics["layers"] if "synthetic" in row]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["after layer 1", "after layer 2"]
    for line, row in zip(cos_ax.get_lines(), rows):
        assert list(line.get_xdata()) == [point[0] for point in row["synthetic"]["curve"]] == [20, 40, 60]
        np.testing.assert_allclose(line.get_ydata(), [point[2] for point in row["synthetic"]["curve"]])
    assert "synthetic.png" in [p.name for p in write(result, tmp_path)]


def test_many_interfaces_are_drawn_as_final_values_per_layer():
    from wafersim import plots

    metrics = run(make(dni(layers=(6,) * 16 + (4,), samples=20)), progress=False).metrics
    loss_ax, cos_ax = plots.synthetic_curves(metrics).axes[:2]
    (line,) = loss_ax.get_lines()
    assert list(line.get_xdata()) == list(range(1, 16)) and loss_ax.get_xlabel() == "interface after layer"
    finals = [row["synthetic"]["final_loss"] for row in metrics["layers"] if "synthetic" in row]
    np.testing.assert_allclose(line.get_ydata(), finals)
