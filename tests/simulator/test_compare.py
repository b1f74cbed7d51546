"""wafersim compare: scenario lists, the side-by-side table, combined figures and clean errors."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import distributed
import pytest

from wafersim.cli import EXIT_CONFIG, main
from wafersim.compare import COLUMNS, comparison_csv, comparison_md, row, time_to_accuracy
from wafersim.results import read
from tests.builders import kill_worker, when_tasks_run
from tests.simulator.test_cli import TINY


def write_tiny(directory, name, algorithm="cp"):
    """The CLI tests' tiny scenario named `name`, with `algorithm` (MBGD in batches of 4)."""
    text = TINY.replace("name: tiny\n", f"name: {name}\n").replace("algorithm: cp", f"algorithm: {algorithm}")
    if algorithm == "mbgd":
        text = text.replace("training:\n", "training:\n  batch_size: 4\n")
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """`wafersim compare` of a CP and an MBGD tiny scenario listed in a comparison file: (code, out, stdout)."""
    base = tmp_path_factory.mktemp("compare")
    (base / "s").mkdir()
    write_tiny(base / "s", "tiny-cp")
    write_tiny(base / "s", "tiny-mbgd", "mbgd")
    listing = base / "both.yaml"
    listing.write_text("compare:\n  - s/tiny-cp.yaml\n  - s/tiny-mbgd.yaml\n")
    out = base / "out"
    proc = subprocess.run([sys.executable, "-m", "wafersim.cli", "compare", str(listing), "--out", str(out),
                           "--no-progress", "--target-accuracy", "0.25", "--set", "training.eval_every=5"],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, out, proc.stdout


def test_compare_writes_each_run_and_the_comparison(compared):
    code, out, stdout = compared
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "comparison.md", "convergence.png",
                                                     "pipelines.png", "tiny-cp", "tiny-mbgd", "utilization.png"]
    for name in ("tiny-cp", "tiny-mbgd"):
        assert (out / name / "metrics.json").is_file() and (out / name / "pipeline.png").is_file()
    assert (out / "comparison.md").read_text() in stdout


def test_table_values_are_the_metrics(compared):
    _, out, _ = compared
    rows = list(csv.DictReader((out / "comparison.csv").read_text().splitlines()))
    assert [r["scenario"] for r in rows] == ["tiny-cp", "tiny-mbgd"]
    assert list(rows[0]) == [name for name, _ in COLUMNS]
    for r in rows:
        saved = read(out / r["scenario"])
        m = saved.metrics
        assert m["scenario"]["training"]["eval_every"] == 5  # --set applies to every scenario
        assert (r["algorithm"], r["hardware"], int(r["samples"])) == (m["algorithm"], "tiny-hw", m["samples_trained"])
        assert float(r["simulated_time_ms"]) == m["simulated_seconds"] * 1e3
        assert float(r["mean_utilization"]) == m["mean_utilization"]
        assert float(r["final_accuracy"]) == m["final_test_accuracy"]
        assert int(r["peak_sram_bytes_per_pe"]) == max(m["peak_sram_bytes"].values())
        first = next(c for _, c, _, a in saved.curve if a >= 0.25)
        assert float(r["time_to_target_ms"]) == first / 1e9 * 1e3
    assert float(rows[0]["mean_staleness"]) > 0 and float(rows[1]["mean_staleness"]) == 0


def test_time_to_accuracy_is_the_first_evaluation_at_or_above():
    metrics = {"scenario": {"hardware": {"clock_hz": 2.0e6}}}
    curve = [(1, 100, 1.0, 0.5), (2, 200, 1.0, 0.9), (3, 300, 1.0, 0.95)]
    assert time_to_accuracy(metrics, curve, 0.9) == 200 / 2.0e6 * 1e3
    assert time_to_accuracy(metrics, curve, 0.96) is None
    assert time_to_accuracy(metrics, [(1, 100, math.nan, math.nan)], 0.1) is None


def test_unreached_target_and_missing_values(tiny_runs):
    rows = [row(tiny_runs["sgd"], 1.0)]
    rows[0]["final_accuracy"] = None
    assert comparison_csv(rows).splitlines()[1].split(",")[6:8] == ["", ""]
    line = comparison_md(rows, 1.0).splitlines()[-1].split(" | ")
    assert line[6:8] == ["-", "not reached"]


def run_compare(args, capsys):
    code = main(["compare", *map(str, args), "--no-progress"])
    return code, capsys.readouterr().err


def test_missing_scenario(tmp_path, capsys):
    code, err = run_compare([write_tiny(tmp_path, "a"), tmp_path / "absent.yaml", "--out", tmp_path / "o"], capsys)
    assert code == EXIT_CONFIG
    assert err.startswith(f"error: {tmp_path / 'absent.yaml'}: 1 problem(s)") and "file not found" in err
    assert not (tmp_path / "o").exists()


def test_invalid_scenario_is_refused_before_any_run(tmp_path, capsys):
    bad = write_tiny(tmp_path, "b").read_text().replace("learning_rate: 0.05", "learning_rate: -1")
    (tmp_path / "b.yaml").write_text(bad)
    code, err = run_compare([write_tiny(tmp_path, "a"), tmp_path / "b.yaml", "--out", tmp_path / "o"], capsys)
    assert code == EXIT_CONFIG and "training.learning_rate" in err and "b.yaml" in err
    assert not (tmp_path / "o").exists()


def test_duplicate_names(tmp_path, capsys):
    a = write_tiny(tmp_path, "a")
    code, err = run_compare([a, a, "--out", tmp_path / "o"], capsys)
    assert code == EXIT_CONFIG
    assert err == (f"error: {a}: 1 problem(s) in the configuration:\n  - name: 'a' is also the name of {a}; each "
                   "compared scenario writes to OUT/<name>, so names must differ: rename one\n")


@pytest.mark.parametrize("text, message", [
    ("compare: []\n", "compare: must be a non-empty list of scenario file paths"),
    ("compare: a.yaml\n", "compare: must be a non-empty list of scenario file paths"),
    ("compare: [a.yaml]\nname: x\n", "a comparison file holds only `compare:`, found also name"),
    ("compare: [list.yaml]\n", "compare: list.yaml is itself a comparison file; list scenarios only"),
    ("compare: [nowhere.yaml]\n", "nowhere.yaml: 1 problem(s) in the configuration:\n  - scenario file not found"),
])
def test_bad_comparison_file(tmp_path, capsys, text, message):
    write_tiny(tmp_path, "a")
    (tmp_path / "list.yaml").write_text(text)
    code, err = run_compare([tmp_path / "list.yaml", "--out", tmp_path / "o"], capsys)
    assert code == EXIT_CONFIG and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_target_accuracy(tmp_path, capsys):
    code, err = run_compare([write_tiny(tmp_path, "a"), "--target-accuracy", "90", "--out", tmp_path / "o"], capsys)
    assert code == EXIT_CONFIG
    assert err == "error: --target-accuracy must be a fraction in (0, 1], got 90.0\n"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverged_run_is_compared_and_reported(tmp_path, capsys, cluster):
    from wafersim.cli import EXIT_DIVERGED

    good, bad = write_tiny(tmp_path, "good"), write_tiny(tmp_path, "bad")
    bad.write_text(bad.read_text().replace("learning_rate: 0.05", "learning_rate: 1.0e30"))
    code, err = run_compare([good, bad, "--out", tmp_path / "o", "--scheduler", cluster.scheduler_address], capsys)
    assert code == EXIT_DIVERGED
    assert err == f"error: bad diverged; their results up to that point are in {tmp_path / 'o'}\n"
    rows = list(csv.DictReader((tmp_path / "o" / "comparison.csv").read_text().splitlines()))
    assert [r["scenario"] for r in rows] == ["good", "bad"]


def test_each_run_is_byte_for_byte_the_run_wafersim_run_gives(compared, tmp_path):
    """Running on a Dask worker changes nothing: the same files as `wafersim run` of the same scenario."""
    _, out, _ = compared
    alone = tmp_path / "alone"
    assert main(["run", str(out.parent / "s" / "tiny-mbgd.yaml"), "--out", str(alone), "--no-progress", "--quiet",
                 "--set", "training.eval_every=5"]) == 0
    for name in ("metrics.json", "curve.csv", "weights.npz", "ops.npz", "messages.npz"):
        assert (alone / name).read_bytes() == (out / "tiny-mbgd" / name).read_bytes(), name


def on_workers(client, fail: bool) -> None:
    """Make runner.run raise on the cluster's workers (fail) or put it back."""
    def patch(dask_worker, fail=fail):
        from wafersim import runner

        real = getattr(runner, "_real_run", runner.run)
        runner._real_run = real

        def broken(scenario, **kwargs):
            if scenario.name == "b":
                raise RuntimeError("no such\n  luck")
            return real(scenario, **kwargs)

        runner.run = broken if fail else real

    client.run(patch)


def test_a_run_failing_on_its_worker_is_reported_and_the_others_compared(tmp_path, capsys, cluster):
    from wafersim.cli import EXIT_FAILED

    with distributed.Client(cluster.scheduler_address) as client:
        on_workers(client, fail=True)
        try:
            code, err = run_compare([write_tiny(tmp_path, "a"), write_tiny(tmp_path, "b"), "--out", tmp_path / "o",
                                     "--no-figures", "--scheduler", cluster.scheduler_address], capsys)
        finally:
            on_workers(client, fail=False)
    assert code == EXIT_FAILED
    assert err == (f"error: 1 run(s) failed (b: RuntimeError: no such luck); the runs so far are compared in "
                   f"{tmp_path / 'o'}\n")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a", "comparison.csv", "comparison.md"]


def test_a_worker_killed_mid_run_loses_no_run(tmp_path, capsys, cluster):
    killed = []
    killer = when_tasks_run(cluster.scheduler_address, 1, lambda spy, busy: kill_worker(spy, busy, killed), 0.5)
    code, err = run_compare([write_tiny(tmp_path, "a"), write_tiny(tmp_path, "b"), "--out", tmp_path / "o",
                             "--no-figures", "--scheduler", cluster.scheduler_address,
                             "--set", "training.samples=40000"], capsys)
    killer.join()
    assert killed and (code, err) == (0, "")
    assert [read(tmp_path / "o" / name).metrics["status"] for name in ("a", "b")] == ["completed"] * 2
    with distributed.Client(cluster.scheduler_address) as client:
        client.wait_for_workers(2, timeout=60)  # the nanny restarts it, for the tests after this one


def test_a_scheduler_nobody_answers_at_is_refused_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    from wafersim import cluster

    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    code, err = run_compare([write_tiny(tmp_path, "a"), "--out", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9"],
                            capsys)
    assert code == EXIT_CONFIG
    assert err.startswith("error: no Dask scheduler answers at tcp://127.0.0.1:9 (") and "\n" not in err[:-1]
    assert not (tmp_path / "o").exists() and list(tmp_path.iterdir()) == [tmp_path / "a.yaml"]
