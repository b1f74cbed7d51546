"""The results folder: file names and formats of the contract, byte-identical for the same seed."""

from __future__ import annotations

import json

import numpy as np

from simulator.results import CURVE_HEADER, read_curve, save_npz, write
from simulator.runner import run
from tests.builders import make, scenario_dict


def test_same_scenario_and_seed_give_byte_identical_files(tmp_path):
    scenario = make(scenario_dict(samples=40, delta_rule="anchored", momentum=0.5))
    for name in ("a", "b"):
        write(run(scenario, progress=False), tmp_path / name)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"metrics.json", "curve.csv", "weights.npz", "ops.npz", "pipeline.png", "utilization.png",
            "convergence.png"} <= set(files)
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
