"""sweep.report: which figures a sweep folder gets, what they show, and that they draw from the files alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wafersim.sweep import report, table
from tests.simulator.sweep.test_table import GRID, LR, RULE, SEED, accuracy, make_sweep

MOMENTUM = "training.momentum"
PNG = b"\x89PNG\r\n\x1a\n"


def pngs(paths) -> list[str]:
    for p in paths:
        assert p.read_bytes()[:8] == PNG and p.stat().st_size > 1000
    return sorted(p.name for p in paths)


def choice_of(folder):
    sweep, rows, axes = table.load(folder)
    return report.choose(sweep, rows, axes)


def test_one_numeric_axis_draws_metric_and_paired_but_no_heat_map(tmp_path):
    make_sweep(tmp_path)
    assert pngs(report.draw(tmp_path)) == ["sweep_metric.png", "sweep_paired.png"]
    assert not (tmp_path / "sweep_heatmap.png").exists()


def test_two_numeric_axes_draw_all_three(tmp_path):
    make_sweep(tmp_path, grid={RULE: GRID[RULE], LR: GRID[LR], MOMENTUM: [0.0, 0.9]}, seeds=2)
    assert pngs(report.draw(tmp_path)) == ["sweep_heatmap.png", "sweep_metric.png", "sweep_paired.png"]
    c = choice_of(tmp_path)
    assert (c.metric, c.x, c.group, c.pair, c.heat, c.others) == (
        "final_test_accuracy", LR, RULE, RULE, (LR, MOMENTUM), (MOMENTUM,))


def test_defaults(tmp_path):
    make_sweep(tmp_path)
    c = choice_of(tmp_path)
    assert (c.metric, c.x, c.group, c.pair, c.heat, c.others) == ("final_test_accuracy", LR, RULE, RULE, None, ())


def test_report_entries_of_sweep_json_win(tmp_path):
    make_sweep(tmp_path, grid={RULE: GRID[RULE], LR: GRID[LR], MOMENTUM: [0.0, 0.9]}, seeds=2,
               report={"metric": "total_cycles", "x": MOMENTUM, "group": RULE, "pair": MOMENTUM})
    c = choice_of(tmp_path)
    assert (c.metric, c.x, c.group, c.pair, c.heat) == ("total_cycles", MOMENTUM, RULE, MOMENTUM, (MOMENTUM, LR))
    assert pngs(report.draw(tmp_path)) == ["sweep_heatmap.png", "sweep_metric.png", "sweep_paired.png"]


@pytest.mark.parametrize("entry, value, words", [
    ("x", "training.epochs", "does not sweep"),
    ("pair", LR, "takes 3 values"),
    ("metric", "final_test_acuracy", "not a numeric metric"),
    ("metric", "algorithm", "not a numeric metric"),
    ("metric", LR, "not a numeric metric"),
])
def test_report_entries_that_cannot_be_drawn(tmp_path, entry, value, words):
    make_sweep(tmp_path, report={entry: value})
    with pytest.raises(report.ReportError, match=words):
        report.draw(tmp_path)


def test_paired_differences_match_seed_by_seed(tmp_path):
    from wafersim.plots import sweep as figures

    make_sweep(tmp_path, statuses={"p0010": "diverged"})  # anchored, 0.001, seed 1: its pair drops out
    sweep, rows, axes = table.load(tmp_path)
    first, second, diffs = figures.paired(rows, "final_test_accuracy", RULE, axes)
    assert (first, second) == ("immediate", "anchored")
    expected = [accuracy({RULE: "anchored", LR: lr, SEED: s}) - accuracy({RULE: "immediate", LR: lr, SEED: s})
                for lr in GRID[LR] for s in range(3) if (lr, s) != (0.001, 1)]
    assert diffs == expected


def test_metric_axis_is_logarithmic_only_past_a_factor_ten(tmp_path):
    from wafersim.plots import sweep as figures

    make_sweep(tmp_path)
    rows = table.rows(tmp_path)
    log = figures.metric_lines(rows, "final_test_accuracy", LR, RULE, [])
    assert log.axes[0].get_xscale() == "log" and len(log.axes[0].get_lines()) == 2
    narrow = [{**r, LR: {0.001: 1.0, 0.01: 2.0, 0.1: 5.0}[r[LR]]} for r in rows]
    assert figures.metric_lines(narrow, "final_test_accuracy", LR, RULE, []).axes[0].get_xscale() == "linear"


def test_single_seed_and_no_seeds(tmp_path):
    make_sweep(tmp_path / "one", seeds=1)
    assert pngs(report.draw(tmp_path / "one")) == ["sweep_metric.png", "sweep_paired.png"]
    make_sweep(tmp_path / "none", seeds=None)
    assert pngs(report.draw(tmp_path / "none")) == ["sweep_metric.png", "sweep_paired.png"]


def test_single_point(tmp_path):
    make_sweep(tmp_path, grid={LR: [0.01]}, seeds=None)
    assert pngs(report.draw(tmp_path)) == ["sweep_metric.png"]


def test_seeds_only(tmp_path):
    make_sweep(tmp_path, grid={}, seeds=4)
    c = choice_of(tmp_path)
    assert (c.x, c.group, c.pair, c.heat) == (None, None, None, None)
    assert pngs(report.draw(tmp_path)) == ["sweep_metric.png"]


def test_every_point_failed_still_draws_the_metric_figure(tmp_path):
    make_sweep(tmp_path, statuses={f"p{k:04d}": "failed" for k in range(18)})
    assert pngs(report.draw(tmp_path)) == ["sweep_metric.png"]


def test_a_figure_that_no_longer_applies_is_removed(tmp_path):
    make_sweep(tmp_path)
    (tmp_path / "sweep_heatmap.png").write_bytes(b"old")
    report.draw(tmp_path)
    assert not (tmp_path / "sweep_heatmap.png").exists()


def test_draw_is_reproducible_byte_for_byte(tmp_path):
    make_sweep(tmp_path)
    first = {p.name: p.read_bytes() for p in report.draw(tmp_path)}
    assert {p.name: p.read_bytes() for p in report.draw(tmp_path)} == first


def test_a_few_hundred_points(tmp_path):
    grid = {RULE: GRID[RULE], LR: [10.0 ** -k for k in range(1, 9)], MOMENTUM: [0.0, 0.5, 0.9]}
    make_sweep(tmp_path, grid=grid, seeds=5)
    assert len(json.loads((tmp_path / "sweep.json").read_text())["points"]) == 240
    assert pngs(report.draw(tmp_path)) == ["sweep_heatmap.png", "sweep_metric.png", "sweep_paired.png"]


def test_importing_tables_and_report_does_not_import_matplotlib():
    code = ("import sys, wafersim.sweep.table, wafersim.sweep.report; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_derived_keys_split_no_line_panel_or_pair(tmp_path):
    make_sweep(tmp_path, seeds=2)
    for folder in (tmp_path / "points").iterdir():
        point = json.loads((folder / "point.json").read_text())
        point["values"] = {RULE: point["values"][RULE], LR: point["values"][LR], MOMENTUM: point["values"][LR] * 9,
                           SEED: point["values"][SEED]}
        (folder / "point.json").write_text(json.dumps(point))
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    sweep.update(axes=[RULE, LR, MOMENTUM, SEED], derived={MOMENTUM: "9 * training.learning_rate"})
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    c = choice_of(tmp_path)
    assert (c.x, c.group, c.pair, c.heat, c.others, c.declared) == (LR, RULE, RULE, None, (), (RULE, LR, SEED))
    assert pngs(report.draw(tmp_path)) == ["sweep_metric.png", "sweep_paired.png"]
