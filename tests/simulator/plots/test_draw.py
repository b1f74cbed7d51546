"""draw_all writes the figures a run has data for, as PNGs."""

from __future__ import annotations

from wafersim import plots
from tests.builders import fake_asgd_results


def test_cp_run_draws_four_figures(tiny_runs, tmp_path):
    paths = plots.draw_all(tiny_runs["cp"], tmp_path)
    assert sorted(p.name for p in paths) == ["convergence.png", "pipeline.png", "staleness.png", "utilization.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_sgd_run_has_no_staleness_figure(tiny_runs, tmp_path):
    paths = plots.draw_all(tiny_runs["sgd"], tmp_path)
    assert sorted(p.name for p in paths) == ["convergence.png", "pipeline.png", "utilization.png"]


def test_run_without_op_table_has_no_pipeline(tmp_path):
    fake = fake_asgd_results()
    paths = plots.draw_all(type(fake)(fake.metrics, fake.curve), tmp_path)
    assert sorted(p.name for p in paths) == ["convergence.png", "staleness.png", "utilization.png"]
