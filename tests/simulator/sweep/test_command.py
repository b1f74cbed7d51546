"""`wafersim sweep` from the command line: a sweep into its folder, a rerun that skips it, a report, refusals."""

from __future__ import annotations

import csv
import json
import shutil

import yaml

from tests.builders import scenario_dict
from wafersim.cli import main


def sweep_file(tmp_path, **extra) -> str:
    """A sweep of two learning rates x two seeds over a tiny scenario (4 points of 20 samples)."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(scenario_dict(layers=(8, 8, 4), samples=20)))
    data = {"name": "tiny", "scenario": "base.yaml", "axes": {"training.learning_rate": [0.05, 0.1]}, "seeds": 2,
            "report": {"metric": "final_test_accuracy", "x": "training.learning_rate"}, **extra}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_a_sweep_writes_its_points_tables_and_figures_and_a_rerun_skips_them(tmp_path, capsys, cluster):
    out = tmp_path / "out"
    args = ["sweep", sweep_file(tmp_path), "--out", str(out), "--no-progress", "--scheduler", cluster.scheduler_address]
    assert main(args) == 0
    assert capsys.readouterr().out.endswith(f"4 points: 4 ran, 0 already done, 0 failed; table {out / 'sweep.csv'}\n")
    described = json.loads((out / "sweep.json").read_text())
    assert described["points"] == ["p0000", "p0001", "p0002", "p0003"]
    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["training.learning_rate"], r["training.seed"], r["status"]) for r in rows] == [
        ("0.05", "0", "completed"), ("0.05", "1", "completed"), ("0.1", "0", "completed"), ("0.1", "1", "completed")]
    assert (out / "sweep_summary.csv").is_file() and (out / "sweep_metric.png").is_file()
    table = (out / "sweep.csv").read_bytes()

    assert main(args) == 0
    assert "4 points: 0 ran, 4 already done, 0 failed" in capsys.readouterr().out
    assert (out / "sweep.csv").read_bytes() == table

    (out / "sweep_metric.png").unlink()
    assert main(["sweep", "--report", str(out), "--quiet"]) == 0
    assert (out / "sweep_metric.png").is_file() and (out / "sweep.csv").read_bytes() == table


def test_every_point_is_checked_before_any_runs(tmp_path, capsys):
    path = sweep_file(tmp_path, axes={"training.learning_rate": [0.05, -1.0]})
    assert main(["sweep", path, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: 1 problem(s) in the configuration:\n  - p0002 (training.learning_rate=-1.0)")
    assert not (tmp_path / "out").exists()


def test_a_report_of_a_folder_without_a_sweep_is_refused(tmp_path, capsys):
    assert main(["sweep", "--report", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path} holds no sweep.json: give the folder a `wafersim sweep` "
                                       "wrote\n")


def test_no_sweep_file_is_refused(capsys):
    assert main(["sweep"]) == 2
    assert capsys.readouterr().err == "error: give a sweep file (wafersim sweep SWEEP.yaml) or --report DIR\n"


def test_figures_that_need_points_not_finished_yet_wait_for_them(tmp_path, capsys, cluster):
    """An interrupted sweep may hold one value of its paired key only: the tables are written and the
    figures say what they wait for (no error); a rerun finishes the points and draws them."""
    path = sweep_file(tmp_path, axes={"training.delta_rule": ["immediate", "anchored"]}, seeds=1,
                      report={"pair": "training.delta_rule"})
    out = tmp_path / "out"
    args = ["sweep", path, "--out", str(out), "--no-progress", "--scheduler", cluster.scheduler_address]
    assert main(args) == 0
    shutil.rmtree(out / "points" / "p0001")  # the anchored point, as if the sweep had been stopped before it
    capsys.readouterr()
    assert main(["sweep", "--report", str(out)]) == 0
    assert "figures not drawn yet: report.pair is 'training.delta_rule'" in capsys.readouterr().out
    assert main(args) == 0 and (out / "sweep_paired.png").is_file()


def test_points_that_fail_are_reported_and_the_exit_status_says_so(tmp_path, capsys, cluster):
    """Layers that do not fit in SRAM fail at run time (after validation): each point's folder says why, exit 5."""
    path = sweep_file(tmp_path, seeds=None, set={"hardware.pe.sram_bytes": 256})
    out = tmp_path / "out"
    assert main(["sweep", path, "--out", str(out), "--no-progress", "--scheduler", cluster.scheduler_address]) == 5
    captured = capsys.readouterr()
    assert "2 points: 2 ran, 0 already done, 2 failed" in captured.out
    assert captured.err == (f"error: {path}: 2 point(s) failed (p0000, p0001); their point.json says why; run again "
                            "to retry them\n")
    row = json.loads((out / "points" / "p0000" / "point.json").read_text())
    assert row["status"] == "failed" and "SRAM" in row["message"]


def test_an_out_folder_that_cannot_be_made_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "out"
    assert main(["sweep", sweep_file(tmp_path), "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == (f"error: cannot write the sweep folder {out}: Not a directory; give a "
                                       "writable --out\n")


def test_an_interrupted_sweep_says_how_to_finish_it(tmp_path, capsys, monkeypatch):
    """Ctrl-C (the execution returns an interrupted outcome, its own tests stop it for real): exit 130, the rerun named."""
    from wafersim.sweep import execute

    monkeypatch.setattr(execute, "run_sweep", lambda points, out, **_: execute.Outcome(
        total=len(points), skipped=0, ran=0, interrupted=True))
    path = sweep_file(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", path, "--out", str(out), "--no-progress", "--no-figures"]) == 130
    assert capsys.readouterr().err == (f"error: {path}: interrupted; the points finished are in {out / 'points'}: run "
                                       "the same command again to finish the rest\n")


def test_a_scheduler_nobody_answers_at_is_refused_and_no_point_runs(tmp_path, capsys, monkeypatch):
    from wafersim import cluster

    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    path, out = sweep_file(tmp_path), tmp_path / "out"
    assert main(["sweep", path, "--out", str(out), "--no-progress", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: no Dask scheduler answers at tcp://127.0.0.1:9 (") and err.count("\n") == 1
    assert "start one with `dask scheduler`" in err and list((out / "points").iterdir()) == []
