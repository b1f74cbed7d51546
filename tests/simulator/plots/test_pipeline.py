"""Pipeline diagrams: every op in the window drawn once, on its PE's track, in its kind's colour."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba

from wafersim import plots
from wafersim.plots.pipeline import sample_paths
from tests.builders import fake_asgd_results


def bars(ax) -> list:
    """The op bars of a pipeline axis: (x, width, y centre, colour) per bar."""
    out = []
    for collection in ax.collections:
        if isinstance(collection, LineCollection):
            continue
        for path, color in zip(collection.get_paths(), np.broadcast_to(collection.get_facecolor(), (len(collection.get_paths()), 4))):
            (x0, y0), (x1, y1) = path.vertices.min(axis=0), path.vertices.max(axis=0)
            out.append((x0, x1 - x0, (y0 + y1) / 2, tuple(color)))
    return out


def test_every_op_of_the_run_is_one_bar(tiny_runs):
    result = tiny_runs["cp"]
    ops = result.ops
    end = int(ops["end"].max())
    fig = plots.pipeline_diagram(ops, result.metrics, window=(0, end), label_samples=False)
    ax = fig.axes[0]
    drawn = bars(ax)
    assert len(drawn) == len(ops["start"])
    assert sorted((x, w) for x, w, _, _ in drawn) == sorted(zip(ops["start"].tolist(), (ops["end"] - ops["start"]).tolist()))
    assert ax.get_xlim() == (0, end)
    assert ax.get_xlabel() == "time (cycles)"
    assert ax.get_ylabel() == "PE (label, row, col)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L1 (0,0)", "L2 (0,1)", "L3 (0,2)"]
    assert ax.get_title().startswith("Pipeline: CP on uniform-test (test-cp), cycles 0-")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["forward (F)", "backward (B)", "update (U)", "idle"]
    plt.close(fig)


def test_bars_sit_on_their_layer_in_their_kind_colour(tiny_runs):
    result = tiny_runs["mbgd"]
    ops = result.ops
    fig = plots.pipeline_diagram(ops, result.metrics, window=(0, int(ops["end"].max())), label_samples=False)
    got = sorted((x, y, color) for x, _, y, color in bars(fig.axes[0]))
    want = sorted((s, float(k), to_rgba(plots.KIND_COLORS[c])) for s, k, c in
                  zip(ops["start"].tolist(), ops["layer"].tolist(), ops["kind"].tolist()))
    assert got == want
    plt.close(fig)


def test_cycle_window_keeps_exactly_the_overlapping_ops(tiny_runs):
    result = tiny_runs["cp"]
    ops = result.ops
    fig = plots.pipeline_diagram(ops, result.metrics, window=(100, 200))
    ax = fig.axes[0]
    inside = (ops["end"] > 100) & (ops["start"] < 200)
    assert 0 < inside.sum() < len(ops["start"])
    assert sorted(x for x, *_ in bars(ax)) == sorted(ops["start"][inside].tolist())
    labels = [t.get_text() for t in ax.texts]
    assert labels and all(label.isdigit() for label in labels)
    assert {int(label) for label in labels} <= set(ops["sample"][inside & (ops["kind"] < 2)].tolist())
    plt.close(fig)


def test_samples_window_spans_the_first_samples_forward_and_backward_ops(tiny_runs):
    ops, metrics = tiny_runs["cp"].ops, tiny_runs["cp"].metrics
    sel = (ops["kind"] < 2) & (ops["sample"] < 3)
    assert plots.resolve_window(ops, metrics, samples=3) == (int(ops["start"][sel].min()), int(ops["end"][sel].max()))
    every = ops["kind"] < 2
    assert plots.resolve_window(ops, metrics, samples=10**6) == (int(ops["start"][every].min()),
                                                                 int(ops["end"][every].max()))
    fig = plots.pipeline_diagram(ops, metrics, samples=3)
    lo, hi = plots.resolve_window(ops, metrics, samples=3)
    assert len(bars(fig.axes[0])) == int(((ops["end"] > lo) & (ops["start"] < hi)).sum())
    plt.close(fig)


def test_open_ended_windows(tiny_runs):
    ops, metrics = tiny_runs["cp"].ops, tiny_runs["cp"].metrics
    last = int(ops["end"].max())
    assert plots.resolve_window(ops, metrics, (50, None)) == (50, last)
    assert plots.resolve_window(ops, metrics, (None, 70)) == (0, 70)
    assert plots.resolve_window(ops, metrics) == plots.default_window(ops, 3)


@pytest.mark.parametrize("window, samples, message", [
    ((5, 5), None, "the window is empty: --from 5 is not before --to 5"),
    ((9, 3), None, "the window is empty: --from 9 is not before --to 3"),
    ((1, None), 4, "give either a cycle window (--from/--to) or a sample count (--samples), not both"),
    (None, 0, "--samples must be at least 1, got 0"),
    ((-1, None), None, "window cycles must not be negative, got --from -1 --to None"),
])
def test_windows_that_select_nothing_are_refused(window, samples, message):
    with pytest.raises(plots.WindowError) as err:
        plots.check_window(window, samples)
    assert str(err.value).startswith(message)


def test_window_past_the_end_is_refused(tiny_runs):
    ops, metrics = tiny_runs["cp"].ops, tiny_runs["cp"].metrics
    with pytest.raises(plots.WindowError, match="it starts at cycle 1,000,000 but the run ends at cycle"):
        plots.resolve_window(ops, metrics, (10**6, None))


def test_linked_samples_join_each_samples_ops_in_time_order(tiny_runs):
    ops, metrics = tiny_runs["cp"].ops, tiny_runs["cp"].metrics
    window = (0, int(ops["end"].max()))
    fig = plots.pipeline_diagram(ops, metrics, window=window, link_samples=True)
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    paths = lines.get_segments()
    assert len(paths) == len(np.unique(ops["sample"][ops["kind"] < 2]))  # every sample has F and B ops
    for path in paths:
        assert np.all(np.diff(path[:, 0]) >= 0)
        assert len(path) == 6  # F and B on each of the three layers
    assert "one sample's ops" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)


def test_sample_paths_skip_lone_points():
    paths = sample_paths(np.array([4, 2, 4, 7]), np.array([3.0, 1.0, 1.0, 2.0]), np.array([1.0, 1.0, 2.0, 3.0]))
    assert len(paths) == 1
    np.testing.assert_array_equal(paths[0], [[1.0, 2.0], [3.0, 1.0]])


def test_workers_and_shards_get_one_track_each_with_every_op_kind():
    fake = fake_asgd_results()
    fig = plots.pipeline_diagram(fake.ops, fake.metrics, window=(0, 60))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["W1 L1 (0,0)", "W1 L2 (0,1)", "W2 L1 (1,0)",
                                                            "W2 L2 (1,1)", "S1 (0,2)", "S2 (1,2)"]
    assert sorted((x, y) for x, _, y, _ in bars(ax)) == sorted([
        (0, 1.0), (12, 2.0), (20, 2.0), (32, 1.0), (0, 3.0), (12, 4.0), (20, 4.0), (32, 3.0),
        (42, 5.0), (42, 6.0), (50, 5.0), (52, 6.0)])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "forward (F)", "backward (B)", "update (U)", "serve weights (S)", "all-reduce add (R)", "idle"]
    plt.close(fig)


def busy_fraction(title: str) -> int:
    return int(title.split("PEs busy ")[1].split("%")[0])


def test_stacked_pipelines_share_the_axis_and_tell_the_algorithms_apart(tiny_runs):
    runs = {f"({'abc'[i]})": (r.ops, r.metrics) for i, r in enumerate(tiny_runs.values())}
    fig = plots.pipeline_stack(runs, window=(0, 400))
    axes = fig.axes
    assert len(axes) == 3 and all(ax.get_xlim() == (0, 400) for ax in axes)
    assert axes[-1].get_xlabel() == "time (cycles, shared axis)"
    titles = [ax.get_title(loc="left") for ax in axes]
    assert [t.split(":")[1].split(" on")[0].strip() for t in titles] == ["SGD", "MBGD", "CP"]
    sgd, mbgd, cp = (busy_fraction(t) for t in titles)
    assert sgd < mbgd < cp  # one op at a time < fill and drain every batch < a full pipeline
    plt.close(fig)


def test_sgd_draws_no_two_forward_or_backward_bars_at_once(tiny_runs):
    ops = tiny_runs["sgd"].ops
    fig = plots.pipeline_diagram(ops, tiny_runs["sgd"].metrics, window=(0, int(ops["end"].max())))
    update = to_rgba(plots.KIND_COLORS[2])
    spans = sorted((x, x + w) for x, w, _, color in bars(fig.axes[0]) if color != update)
    assert len(spans) == int((ops["kind"] < 2).sum())
    assert all(b0 <= a1 for (_, b0), (a1, _) in zip(spans[:-1], spans[1:]))
    plt.close(fig)
