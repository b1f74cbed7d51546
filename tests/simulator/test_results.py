"""The results folder: file names and formats of the contract, byte-identical for the same seed."""

from __future__ import annotations

import json

import numpy as np

import pytest

from wafersim.records import MESSAGE_COLUMNS, OPS_COLUMNS
from wafersim.results import CURVE_HEADER, ResultsError, read, read_curve, render, save_npz, write
from wafersim.runner import run
from tests.builders import make, scenario_dict


def test_same_scenario_and_seed_give_byte_identical_files(tmp_path):
    scenario = make(scenario_dict(samples=40, delta_rule="anchored", momentum=0.5))
    for name in ("a", "b"):
        write(run(scenario, progress=False), tmp_path / name, trace=True)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["convergence.png", "curve.csv", "messages.npz", "metrics.json", "ops.npz", "pipeline.png",
                     "staleness.png", "trace.json", "utilization.png", "weights.npz"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_another_seed_gives_other_weights(tmp_path):
    a = run(make(scenario_dict(samples=20)), progress=False)
    b = run(make(scenario_dict(samples=20, seed=1)), progress=False)
    assert not np.array_equal(a.weights["W1"], b.weights["W1"])


def test_contract_files(tmp_path):
    result = run(make(scenario_dict(samples=30, eval_every=10)), progress=False)
    write(result, tmp_path, figures=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("algorithm", "total_cycles", "samples_trained", "mean_utilization", "pe_utilization",
                "final_test_accuracy", "final_train_loss", "scenario"):
        assert key in metrics
    assert metrics["scenario"]["training"]["algorithm"] == "cp"
    assert {"row", "col", "layer", "utilization"} <= set(metrics["pe_utilization"][0])
    assert len(metrics["pe_utilization"]) == 16
    assert (tmp_path / "curve.csv").read_text().splitlines()[0] == CURVE_HEADER
    assert read_curve(tmp_path / "curve.csv") == result.curve
    with np.load(tmp_path / "weights.npz") as weights:
        assert set(weights.files) == {f"{p}{k}{s}" for p in "Wb" for k in (1, 2, 3) for s in ("", "_init")}
        np.testing.assert_array_equal(weights["W2"], result.weights["W2"])


def test_save_npz_round_trips(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int64)}
    save_npz(tmp_path / "x.npz", arrays)
    with np.load(tmp_path / "x.npz") as loaded:
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value)
            assert loaded[key].dtype == value.dtype


def test_read_gives_back_what_write_saved(tiny_runs, tmp_path):
    result = tiny_runs["mbgd"]
    write(result, tmp_path, figures=False)
    saved = read(tmp_path)
    assert saved.metrics == json.loads(json.dumps(result.metrics))
    assert saved.curve == result.curve
    assert tuple(saved.ops) == OPS_COLUMNS and tuple(saved.messages) == MESSAGE_COLUMNS
    for table in ("ops", "messages"):
        for name, column in getattr(result, table).items():
            np.testing.assert_array_equal(getattr(saved, table)[name], column)


def test_figures_redrawn_from_the_folder_equal_the_run_figures(tiny_runs, tmp_path):
    write(tiny_runs["cp"], tmp_path / "run", trace=True)
    saved = read(tmp_path / "run")
    (tmp_path / "again").mkdir()
    paths = render(saved, tmp_path / "again", trace=True)
    assert sorted(p.name for p in paths) == ["convergence.png", "pipeline.png", "staleness.png", "trace.json",
                                             "utilization.png"]
    for path in paths:
        assert path.read_bytes() == (tmp_path / "run" / path.name).read_bytes(), path.name


def test_read_folder_without_tables(tiny_runs, tmp_path):
    write(tiny_runs["sgd"], tmp_path, figures=False)
    (tmp_path / "ops.npz").unlink()
    (tmp_path / "messages.npz").unlink()
    saved = read(tmp_path)
    assert saved.ops == {} and saved.messages == {}


@pytest.mark.parametrize("make_folder, message", [
    (lambda d: None, "no such folder; give a results folder written by `wafersim run --out DIR`"),
    (lambda d: d.mkdir(), "is not a results folder: metrics.json is missing; give a folder written by "
                          "`wafersim run --out DIR`"),
    (lambda d: (d.mkdir(), (d / "metrics.json").write_text("{}")), "is not a results folder: curve.csv is missing"),
    (lambda d: (d.mkdir(), (d / "metrics.json").write_text("{"), (d / "curve.csv").write_text(CURVE_HEADER)),
     "holds a damaged metrics.json or curve.csv"),
])
def test_read_refuses_what_is_not_a_results_folder(tmp_path, make_folder, message):
    folder = tmp_path / "dir"
    make_folder(folder)
    with pytest.raises(ResultsError) as err:
        read(folder)
    assert str(err.value).startswith(str(folder)) and message in str(err.value)
