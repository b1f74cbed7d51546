"""The shipped scenarios: they validate, compare on equal silicon, and quickstart trains."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from wafersim.config import load_scenario
from wafersim.runner import prepare, run

from tests.builders import lockstep_staleness, staleness_per_pe

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.mark.parametrize("name", ["quickstart", "cp-anchored", "cp-checkpoint", "cp-momentum", "cp-spike", "cp-predict",
                                  "cp-spike-predict", "mbgd", "sgd", "dni", "cdni", "gpipe", "1f1b", "pipedream",
                                  "pipedream-vsync", "pipedream-2bw", "pipemare", "zb-h1"])
def test_digits_scenarios_validate(name):
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    prepared = prepare(scenario, name)
    assert len(prepared.data.y_train) == 1438 and prepared.coords == [(0, 0), (0, 1), (0, 2)]
    assert prepared.overflow == [] and prepared.n_samples == 2876


DATA_PARALLEL = ["asgd", "asgd-staleness-aware", "downpour", "hogwild", "allreduce"]


@pytest.mark.parametrize("name", DATA_PARALLEL)
def test_data_parallel_scenarios_validate_and_fit(name):
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    prepared = prepare(scenario, name)
    assert scenario.training.workers == 4 and prepared.overflow == []
    assert len(prepared.layout.placed) == scenario.n_pes <= 16
    assert prepared.coords == [(0, 0), (0, 1), (0, 2)]


def test_the_three_families_share_network_data_and_hardware():
    """CP, MBGD/SGD and the data-parallel family run on equal silicon: same chip, network and data."""
    names = ["quickstart", "mbgd", "sgd", "cp-anchored", "cp-checkpoint", "cp-momentum", "cp-spike", "cp-predict",
             "cp-spike-predict", "dni", "cdni", "gpipe", "1f1b", "pipedream", "pipedream-vsync", "pipedream-2bw",
             "pipemare", "zb-h1"]
    names += DATA_PARALLEL
    loaded = [load_scenario(SCENARIOS / f"{n}.yaml") for n in names]
    for other in loaded[1:]:
        assert other.hardware == loaded[0].hardware and other.model == loaded[0].model
        assert other.dataset == loaded[0].dataset and other.placement == loaded[0].placement


def _write_idx(directory: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    with gzip.open(directory / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBBIII", 0, 8, 3, n, 28, 28) + images.tobytes())
    with gzip.open(directory / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBBI", 0, 8, 1, n) + labels.tobytes())


def test_mnist_scenario_reads_the_directory_it_is_given(tmp_path):
    _write_idx(tmp_path, 50)
    scenario = load_scenario(SCENARIOS / "mnist.yaml", [f"dataset.path={tmp_path}", "training.epochs=null", "training.samples=20"])
    result = run(scenario, progress=False, trace=False)
    assert result.metrics["samples_trained"] == 20
    assert result.metrics["layers"][0]["n_in"] == 784


def test_the_dni_study_runs_its_four_algorithms_on_one_network_and_the_directory_given(tmp_path):
    from wafersim.compare import load_all

    _write_idx(tmp_path, 50)
    loaded = [s for _, s in load_all([SCENARIOS / "dni-study.yaml"], [f"dataset.path={tmp_path}", "training.epochs=1"])]
    assert [s.training.algorithm for s in loaded] == ["sgd", "cp", "dni", "dni"]
    assert [s.training.options.synthetic.conditioned for s in loaded[2:]] == [False, True]
    for other in loaded[1:]:
        assert (other.hardware, other.model, other.dataset) == (loaded[0].hardware, loaded[0].model, loaded[0].dataset)
        assert other.training.learning_rate == loaded[0].training.learning_rate
    result = run(load_scenario(SCENARIOS / "cdni-mnist.yaml", [f"dataset.path={tmp_path}", "training.epochs=null",
                                                               "training.samples=20"]), progress=False, trace=False)
    assert result.metrics["samples_trained"] == 20 and result.metrics["layers"][0]["synthetic"]["conditioned"]


def test_quickstart_reaches_ninety_percent():
    result = run(load_scenario(SCENARIOS / "quickstart.yaml"), progress=False, trace=False)
    assert result.status == "completed"
    assert result.metrics["final_test_accuracy"] >= 0.90


def test_shipped_mbgd_weights_are_identical_for_hop_latency_1_and_9(tmp_path):
    from wafersim.cli import main

    for latency in (1, 9):
        assert main(["run", str(SCENARIOS / "mbgd.yaml"), "--out", str(tmp_path / str(latency)), "--no-progress",
                     "--set", f"hardware.noc.hop_latency_cycles={latency}"]) == 0
    with np.load(tmp_path / "1" / "weights.npz") as a, np.load(tmp_path / "9" / "weights.npz") as b:
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
    cycles = [json.loads((tmp_path / str(lat) / "metrics.json").read_text())["total_cycles"] for lat in (1, 9)]
    assert cycles[0] < cycles[1]


@pytest.mark.parametrize("name", DATA_PARALLEL)
def test_data_parallel_scenarios_run_from_the_command_line(name, tmp_path, capsys):
    from wafersim.cli import main

    code = main(["run", str(SCENARIOS / f"{name}.yaml"), "--out", str(tmp_path), "--no-progress",
                 "--set", "training.epochs=null", "--set", "training.samples=128"])
    assert code == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["algorithm"] == load_scenario(SCENARIOS / f"{name}.yaml").training.algorithm
    assert m["samples_trained"] == 128 and 0 < m["worker_utilization"] < 1
    assert ("shard_utilization" in m) == (name != "allreduce")
    out = capsys.readouterr().out
    assert "mean worker utilization" in out and "final test accuracy" in out


def test_validate_lists_the_sram_bound_of_every_pe(capsys):
    from wafersim.cli import main

    assert main(["validate", str(SCENARIOS / "asgd.yaml")]) == 0
    out = capsys.readouterr().out
    assert "asgd, 4 workers x 3 layers + 3 parameter-server shards on small-mesh" in out
    assert "W4 L3 " in out and "S3 " in out


def test_the_wafer_scenario_runs_compiled_and_its_pipeline_is_what_cp_gives():
    """wafer-timing.yaml (4,000 layers over a 300 x 300 mesh), cut to 10 samples: the compiled
    engine runs it, every layer does each sample's F, B and U, and layer k holds
    min(2 (D - k) + 1, samples) samples at most."""
    scenario = load_scenario(SCENARIOS / "wafer-timing.yaml", ["training.samples=10"])
    assert scenario.n_layers == 4000 and scenario.hardware.mesh.rows * scenario.hardware.mesh.cols == 90_000
    result = run(scenario, progress=False, trace=False)
    m = result.metrics
    assert m["engine"]["used"] == "compiled" and m["status"] == "completed"
    D = scenario.n_layers
    assert [layer["max_in_flight"] for layer in m["layers"]] == [min(2 * (D - k) + 1, 10) for k in range(1, D + 1)]
    assert all(row["ops"] == 30 for row in m["pe_utilization"])


def test_the_balanced_digits_mesh_shows_cps_advantage_and_the_delta_rules_differ():
    """scenarios/digits-balanced.yaml: quickstart's network on regions; CP keeps its PEs busier than
    MBGD on the same mesh, layer 1's updates are 2(D-1) stale once the pipeline is full, and the
    two delta rules train different weights (layer 2 holds samples in flight)."""
    path = SCENARIOS / "digits-balanced.yaml"
    short = ["training.epochs=null", "training.samples=300", "training.eval_every=300"]
    cp = run(load_scenario(path, short), progress=False, trace=False)
    anchored = run(load_scenario(path, short + ["training.delta_rule=anchored"]), progress=False, trace=False)
    mbgd = run(load_scenario(path, short + ["training.algorithm=mbgd", "training.batch_size=8", "timing_only=true"]),
               progress=False, trace=False)
    assert cp.metrics["mean_utilization"] > mbgd.metrics["mean_utilization"] + 0.1
    assert max(cp.metrics["layers"][0]["staleness"]["histogram"], key=int) == "4"
    assert not np.array_equal(cp.weights["W2"], anchored.weights["W2"])
    assert load_scenario(path).placement == "balanced" and len(prepare(load_scenario(path), "d").layout.placed) == 9


@pytest.mark.parametrize("name", ["digits-balanced", "mnist-balanced"])
def test_balanced_scenarios_give_their_hidden_layers_periods_within_15_percent(name, tmp_path):
    """The layers below the top have predicted periods within 15% of each other; the top layer (its
    10 outputs on one PE) is faster; every region fits its SRAM."""
    from wafersim.periods import predicted

    _write_idx(tmp_path, 50)
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", [f"dataset.path={tmp_path}"] if "mnist" in name else [])
    prepared = prepare(scenario, name)
    periods = [p.cycles for p in predicted(scenario, prepared.layout)]
    assert max(periods[:-1]) <= 1.15 * min(periods[:-1]) and periods[-1] < min(periods[:-1])
    assert prepared.overflow == [] and prepared.layout.regions[-1].rows == 1


@pytest.mark.parametrize("name", ["mnist-balanced", "digits-balanced"])
def test_balanced_scenarios_give_every_pe_the_papers_staleness(name, tmp_path):
    """CP on the shipped balanced meshes: once the pipeline fills, every update of every PE of layer
    k is exactly 2(D-k) versions stale (the paper's lockstep histogram), counted from the op log,
    and each layer's own histogram is the same. Timing only: staleness does not depend on the
    data, so the MNIST files here are generated."""
    samples = 400
    _write_idx(tmp_path, 500)  # 400 training samples after the scenario's 20% test split
    sets = ["training.epochs=null", f"training.samples={samples}", f"training.eval_every={samples}", "timing_only=true"]
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", sets + ([f"dataset.path={tmp_path}"] if "mnist" in name else []))
    result = run(scenario, progress=False, trace=True)
    depth = scenario.n_layers
    per_pe = staleness_per_pe(result.ops)
    assert len(per_pe) == sum(region.size for region in prepare(scenario, name).layout.regions)
    for (k, row, col), histogram in per_pe.items():
        assert histogram == lockstep_staleness(depth, k, samples), (k, row, col)
    for k, layer in enumerate(result.metrics["layers"], start=1):
        assert layer["staleness"]["histogram"] == {str(s): n for s, n in lockstep_staleness(depth, k, samples).items()
                                                   if n}


def test_the_wafer_class_region_scenario_fills_most_of_the_wafer_and_times_on_the_compiled_engine():
    """wafer-wse2-regions.yaml: 24 layers balanced over the WSE-2 in 4 x 4-core tiles; every block fits
    a tile's SRAM (prepare refuses otherwise), seven in ten tiles hold a block, the compiled
    engine times it, and the hidden layers' periods are within 15% of each other."""
    from wafersim.periods import predicted

    scenario = load_scenario(SCENARIOS / "wafer-wse2-regions.yaml")
    prepared = prepare(scenario, "w")
    mesh = scenario.hardware.mesh
    assert scenario.timing_only and scenario.n_layers == 24 and len(prepared.layout.regions) == 24
    assert len(prepared.layout.placed) >= 0.7 * mesh.rows * mesh.cols
    assert prepared.engine.used == "compiled" and prepared.overflow == []
    hidden = [p.cycles for p in predicted(scenario, prepared.layout)[:-1]]
    assert max(hidden) <= 1.15 * min(hidden)
