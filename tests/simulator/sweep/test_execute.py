"""Running a sweep on Dask: one whole folder per point, skipping finished ones, failures, lost workers, Ctrl-C."""

from __future__ import annotations

import copy
import json
import shutil

import distributed
import pytest

from wafersim import runner
from wafersim.sweep.execute import finished, run_point, run_sweep
from wafersim.sweep.point import POINTS, Point
from tests.builders import UNIFORM_HARDWARE, kill_worker, make, scenario_dict, when_tasks_run


def point(name: str, seed: int = 0, rate: float = 0.05, samples: int = 20, **scenario) -> Point:
    data = scenario_dict(layers=(8, 8, 4), samples=samples, seed=seed, learning_rate=rate, **scenario)
    return Point(name, {"training.learning_rate": rate, "training.seed": seed}, make(data))


def grid(samples: int = 20) -> list[Point]:
    return [point(f"p{i:04d}", seed=i % 2, rate=(0.05, 0.1)[i // 2], samples=samples) for i in range(4)]


def too_big() -> Point:
    """A point whose first layer does not fit in SRAM: the check before training raises ConfigError."""
    hardware = copy.deepcopy(UNIFORM_HARDWARE)
    hardware["pe"]["sram_bytes"] = 256
    return point("p0099", hardware=hardware)


def snapshot(out) -> dict:
    """Every file under out: its bytes and modification time."""
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*")) if p.is_file()}


def leftovers(out) -> list:
    """Hidden siblings of point folders (partial, old, lock): none may outlive a sweep."""
    return sorted(p.name for p in (out / POINTS).glob(".*"))


def without_wall(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in rows]


@pytest.fixture(scope="module")
def swept(cluster, tmp_path_factory):
    """The four-point grid swept once: (points, out folder, Outcome). Tests that change it work on a copy."""
    out = tmp_path_factory.mktemp("sweep")
    points = grid()
    return points, out, run_sweep(points, out, scheduler=cluster.scheduler_address, progress=True)


def test_a_sweep_writes_one_whole_folder_per_point_with_the_results_of_a_direct_run(swept):
    points, out, outcome = swept
    assert (outcome.total, outcome.skipped, outcome.ran, outcome.failed, outcome.interrupted) == (4, 0, 4, 0, False)
    assert [row["name"] for row in outcome.rows] == [p.name for p in points]
    assert leftovers(out) == []
    for p, row in zip(points, outcome.rows):
        folder = out / POINTS / p.name
        assert sorted(f.name for f in folder.iterdir()) == ["curve.csv", "metrics.json", "point.json", "weights.npz"]
        assert json.loads((folder / "point.json").read_text()) == row
        assert set(row) == {"name", "values", "digest", "status", "message", "wall_seconds"}
        assert (row["values"], row["digest"], row["status"]) == (p.values, p.digest, "completed")
        direct = runner.run(p.scenario, source=p.name, progress=False, trace=False)
        saved = json.loads((folder / "metrics.json").read_text())
        assert saved == json.loads(json.dumps(direct.metrics))
        assert (saved["final_test_accuracy"], saved["total_cycles"]) == (direct.metrics["final_test_accuracy"],
                                                                         direct.metrics["total_cycles"])
        assert row["message"] == direct.message
        assert finished(p, folder)


def test_a_rerun_skips_every_finished_point_and_leaves_its_folder_alone(swept, cluster):
    points, out, first = swept
    before = snapshot(out)
    again = run_sweep(points, out, scheduler=cluster.scheduler_address, progress=False)
    assert (again.total, again.skipped, again.ran, again.failed, again.interrupted) == (4, 4, 0, 0, False)
    assert again.rows == first.rows
    assert snapshot(out) == before


def test_a_rerun_runs_again_the_points_missing_or_of_another_scenario(swept, cluster, tmp_path):
    points, out, first = swept
    shutil.copytree(out, tmp_path / "out")
    out = tmp_path / "out"
    shutil.rmtree(out / POINTS / "p0001")
    row_file = out / POINTS / "p0002" / "point.json"
    row_file.write_text(json.dumps({**json.loads(row_file.read_text()), "digest": "0" * 64}))
    assert not finished(points[2], row_file.parent)
    resumed = run_sweep(points, out, scheduler=cluster.scheduler_address, progress=False)
    assert (resumed.skipped, resumed.ran, resumed.failed) == (2, 2, 0)
    assert without_wall(resumed.rows) == without_wall(first.rows)
    for name in ("p0001", "p0002"):
        assert (out / POINTS / name / "metrics.json").read_bytes() == (swept[1] / POINTS / name / "metrics.json").read_bytes()


def test_a_point_that_cannot_run_is_recorded_as_failed_and_the_others_complete(cluster, tmp_path):
    points = grid()[:2] + [too_big()]
    outcome = run_sweep(points, tmp_path, scheduler=cluster.scheduler_address, progress=False)
    assert (outcome.ran, outcome.failed, outcome.interrupted) == (3, 1, False)
    assert [row["status"] for row in outcome.rows] == ["completed", "completed", "failed"]
    message = outcome.rows[2]["message"]
    assert "\n" not in message and "sram_bytes" in message and "needs 512 bytes" in message
    assert [f.name for f in (tmp_path / POINTS / "p0099").iterdir()] == ["point.json"]
    # A failed point is not finished: the next sweep tries it again (and fails again) but skips the others.
    again = run_sweep(points, tmp_path, scheduler=cluster.scheduler_address, progress=False)
    assert (again.skipped, again.ran, again.failed) == (2, 1, 1)


def test_a_run_that_raises_leaves_a_folder_with_only_its_row(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(runner, "run", broken)
    p = point("p0000")
    row = run_point(p, tmp_path / "p0000")
    assert (row["status"], row["message"], row["digest"]) == ("failed", "RuntimeError: a bug over two lines", p.digest)
    assert [f.name for f in (tmp_path / "p0000").iterdir()] == ["point.json"]
    assert json.loads((tmp_path / "p0000" / "point.json").read_text()) == row
    assert not finished(p, tmp_path / "p0000")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["p0000"]  # no partial folder, no lock left


@pytest.mark.parametrize("status,done", [("completed", True), ("diverged", True), ("failed", False),
                                         ("interrupted", False)])
def test_finished_means_the_same_scenario_completed_or_diverged(tmp_path, status, done):
    p = point("p0000")
    assert not finished(p, tmp_path)  # no point.json
    (tmp_path / "point.json").write_text(json.dumps({"digest": p.digest, "status": status}))
    assert finished(p, tmp_path) is done
    (tmp_path / "point.json").write_text("{damaged")
    assert not finished(p, tmp_path)


def test_a_worker_killed_mid_sweep_loses_no_point(cluster, tmp_path):
    points = grid(samples=10000)  # about a second each: long enough to be killed while training
    killed = []
    killer = when_tasks_run(cluster.scheduler_address, 1, lambda spy, busy: kill_worker(spy, busy, killed), 0.3)
    outcome = run_sweep(points, tmp_path, scheduler=cluster.scheduler_address, progress=False)
    killer.join()
    assert killed, "no worker was ever busy"
    assert (outcome.ran, outcome.failed, outcome.interrupted) == (4, 0, False)
    assert [row["status"] for row in outcome.rows] == ["completed"] * 4
    assert all((tmp_path / POINTS / p.name / "metrics.json").is_file() for p in points)
    # The killed worker's leftovers (its partial folder or lock, if it died writing) go with the next claim.
    with distributed.Client(cluster.scheduler_address) as client:
        client.wait_for_workers(2, timeout=60)  # the nanny restarts it, for the tests after this one


def test_ctrl_c_stops_the_sweep_keeping_every_finished_folder_whole(monkeypatch, tmp_path, cluster):
    real = distributed.as_completed

    def first_then_ctrl_c(futures, *args, **kwargs):
        yield next(iter(real(futures, *args, **kwargs)))
        raise KeyboardInterrupt

    points = grid() + [point(f"p{i:04d}", seed=i, samples=3000) for i in range(4, 8)]
    monkeypatch.setattr(distributed, "as_completed", first_then_ctrl_c)
    outcome = run_sweep(points, tmp_path, workers=2, progress=False)  # the embedded cluster, closed at the end
    assert outcome.interrupted and outcome.ran == 1 and outcome.left == 7
    assert leftovers(tmp_path) == []
    for folder in (tmp_path / POINTS).iterdir():  # the point run, and any that ended while the sweep stopped
        assert json.loads((folder / "point.json").read_text())["status"] == "completed"
        assert (folder / "metrics.json").is_file() and (folder / "weights.npz").is_file()
    assert [row["name"] for row in outcome.rows] == sorted(f.name for f in (tmp_path / POINTS).iterdir())

    monkeypatch.setattr(distributed, "as_completed", real)
    rest = run_sweep(points, tmp_path, scheduler=cluster.scheduler_address, progress=False)
    assert not rest.interrupted and rest.skipped == len(outcome.rows) and rest.ran == 8 - rest.skipped
    assert [row["status"] for row in rest.rows] == ["completed"] * 8
    assert leftovers(tmp_path) == []
    whole = tmp_path / "uninterrupted"
    full = run_sweep(points, whole, scheduler=cluster.scheduler_address, progress=False)
    assert without_wall(rest.rows) == without_wall(full.rows)  # the rows a table is made of, and their results:
    for p in points:
        for name in ("metrics.json", "curve.csv", "weights.npz"):
            assert (tmp_path / POINTS / p.name / name).read_bytes() == (whole / POINTS / p.name / name).read_bytes()
