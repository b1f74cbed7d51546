"""Tests for the wafersim command line in wafersim.cli: exit codes, messages and the results folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wafersim.cli import EXIT_BROKEN_PIPE, EXIT_CONFIG, EXIT_DIVERGED, main

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"

TINY = """\
name: tiny
hardware:
  name: tiny-hw
  clock_hz: 1.0e9
  mesh: {rows: 2, cols: 2}
  pe: {macs_per_cycle: 64, sram_bytes: 1048576, op_overhead_cycles: 4}
  noc: {hop_latency_cycles: 1, link_bytes_per_cycle: 16, contention: true}
placement: snake
model:
  layers: [8, 8, 4]
  activation: relu
dataset:
  name: synthetic
  samples: 60
training:
  algorithm: cp
  learning_rate: 0.05
  samples: 40
  eval_every: 10
  seed: 0
"""

FIGURES = ("pipeline.png", "utilization.png", "convergence.png")


def tiny(directory: Path, text: str = TINY) -> Path:
    path = directory / "tiny.yaml"
    path.write_text(text)
    return path


def read_metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One end-to-end run of the tiny scenario: (exit code, results folder)."""
    base = tmp_path_factory.mktemp("tiny")
    out = base / "out"
    code = main(["run", str(tiny(base)), "--out", str(out), "--no-progress"])
    return code, out


def test_validate_shipped_quickstart(capsys):
    assert main(["validate", str(QUICKSTART)]) == 0
    out = capsys.readouterr().out
    assert "quickstart.yaml: valid (cp, 3 layers on small-mesh" in out


def test_validate_on_regions_gives_each_layers_largest_block_bound(capsys):
    assert main(["validate", str(QUICKSTART.parent / "digits-balanced.yaml")]) == 0
    assert ("SRAM bound per block (the largest of each layer): L1 20,736, L2 16,440, L3 6,776 of 1,048,576 bytes)"
            in capsys.readouterr().out)


def test_output_to_a_reader_that_stops_ends_quietly():
    """`wafersim validate ... | head -1`: the reader closes the pipe; no traceback, exit 141 (128 + SIGPIPE)."""
    proc = subprocess.Popen([sys.executable, "-m", "wafersim", "validate", str(QUICKSTART)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before it writes a byte
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE and err == ""


def test_validate_broken_scenario(tmp_path, capsys):
    path = tiny(tmp_path, TINY.replace("learning_rate: 0.05", "learning_rate: '0.05'"))
    assert main(["validate", str(path)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert "tiny.yaml" in captured.err
    assert "training.learning_rate" in captured.err
    assert "Traceback" not in captured.err


def test_validate_reports_sram_overflow(tmp_path, capsys):
    path = tiny(tmp_path, TINY.replace("sram_bytes: 1048576", "sram_bytes: 300"))
    assert main(["validate", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "hardware.pe.sram_bytes: layer 1 (8->8 on PE [0, 0]) needs 512 bytes" in err
    assert "allow_sram_overflow" in err


def test_validate_applies_overrides(tmp_path, capsys):
    assert main(["validate", str(tiny(tmp_path)), "--set", "model.layers=[8, 8, 8, 8, 8, 4]"]) == EXIT_CONFIG
    assert "(hardware.mesh) has 4" in capsys.readouterr().err


def test_broken_scenario_exit_status_in_a_subprocess(tmp_path):
    path = tiny(tmp_path, TINY.replace("  samples: 40\n", "  samples: 40\n  epochs: 1\n"))
    proc = subprocess.run([sys.executable, "-m", "wafersim.cli", "validate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "give exactly one of training.epochs and training.samples" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_scalar_that_looks_like_an_exponent(tmp_path, capsys):
    path = tiny(tmp_path, TINY.replace("name: tiny\n", "name: -e5\n"))
    assert main(["validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


def test_run_missing_scenario(tmp_path, capsys):
    assert main(["run", str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "out"), "--no-progress"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "absent.yaml" in err and "scenario file not found" in err
    assert not (tmp_path / "out").exists()


def test_run_writes_every_result_file(tiny_run):
    code, out = tiny_run
    assert code == 0
    for name in ("metrics.json", "curve.csv", "weights.npz", "ops.npz", *FIGURES):
        assert (out / name).is_file(), name


def test_run_curve_csv(tiny_run):
    _, out = tiny_run
    lines = (out / "curve.csv").read_text().splitlines()
    assert lines[0] == "samples,cycle,train_loss,test_accuracy"
    assert [int(line.split(",")[0]) for line in lines[1:]] == [10, 20, 30, 40]
    for line in lines[1:]:
        samples, cycle, loss, acc = line.split(",")
        assert int(cycle) > 0 and float(loss) > 0 and 0 <= float(acc) <= 1


def test_run_metrics_json(tiny_run):
    _, out = tiny_run
    m = read_metrics(out)
    for key in ("algorithm", "total_cycles", "samples_trained", "mean_utilization", "pe_utilization",
                "final_test_accuracy", "final_train_loss", "scenario"):
        assert key in m, key
    assert m["algorithm"] == "cp"
    assert m["status"] == "completed"
    assert m["samples_trained"] == 40
    assert m["total_cycles"] > 0
    assert 0 < m["mean_utilization"] <= 1
    assert isinstance(m["final_test_accuracy"], float) and isinstance(m["final_train_loss"], float)
    assert [(p["row"], p["col"], p["layer"]) for p in m["pe_utilization"]] == [(0, 0, 1), (0, 1, 2), (1, 0, None),
                                                                             (1, 1, None)]
    assert all(0 <= p["utilization"] <= 1 for p in m["pe_utilization"])
    assert m["scenario"]["name"] == "tiny"
    assert m["scenario"]["hardware"]["mesh"] == {"rows": 2, "cols": 2}
    assert m["scenario"]["training"]["learning_rate"] == 0.05


def test_run_weights_npz(tiny_run):
    _, out = tiny_run
    with np.load(out / "weights.npz") as weights:
        assert sorted(weights.files) == ["W1", "W1_init", "W2", "W2_init", "b1", "b1_init", "b2", "b2_init"]
        assert weights["W1"].shape == weights["W1_init"].shape == (8, 8)
        assert weights["W2"].shape == (4, 8)
        assert weights["b2"].shape == (4,)
        assert not np.array_equal(weights["W1"], weights["W1_init"])


def test_run_override_is_recorded(tmp_path):
    out = tmp_path / "out"
    code = main(["run", str(tiny(tmp_path)), "--out", str(out), "--no-progress",
                 "--set", "training.learning_rate=0.02"])
    assert code == 0
    assert read_metrics(out)["scenario"]["training"]["learning_rate"] == 0.02


def test_run_timing_only(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(tiny(tmp_path)), "--out", str(out), "--no-progress", "--timing-only"]) == 0
    m = read_metrics(out)
    assert m["timing_only"] is True
    assert m["final_test_accuracy"] is None
    assert m["final_train_loss"] is None
    rows = [line.split(",") for line in (out / "curve.csv").read_text().splitlines()[1:]]
    assert rows and all(loss == "" and acc == "" for _, _, loss, acc in rows)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_run_that_diverges(tmp_path, capsys):
    out = tmp_path / "out"
    path = tiny(tmp_path, TINY.replace("learning_rate: 0.05", "learning_rate: 1.0e30"))
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == EXIT_DIVERGED
    err = capsys.readouterr().err
    assert "training diverged" in err
    assert "lower training.learning_rate" in err
    assert str(out) in err
    m = read_metrics(out)
    assert m["status"] == "diverged"
    assert m["samples_trained"] < 40


def test_out_that_is_a_file_is_refused_before_the_run(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    assert main(["run", str(tiny(tmp_path)), "--out", str(blocker), "--no-progress"]) == EXIT_CONFIG
    assert "is a file, not a folder" in capsys.readouterr().err


def test_interrupted_run_keeps_its_results(tmp_path, capsys, monkeypatch):
    from wafersim.algorithms import pipeline
    from wafersim.cli import EXIT_INTERRUPTED

    trained = pipeline.Recorder.trained

    def interrupt_at_twenty(self, samples):
        trained(self, samples)
        if samples >= 20:
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.Recorder, "trained", interrupt_at_twenty)
    out = tmp_path / "out"
    assert main(["run", str(tiny(tmp_path)), "--out", str(out), "--no-progress", "--set", "engine=events"]) == EXIT_INTERRUPTED
    assert "interrupted at cycle" in capsys.readouterr().err
    m = read_metrics(out)
    assert m["status"] == "interrupted" and m["samples_trained"] == 20
    assert (out / "curve.csv").read_text().splitlines()[-1].startswith("20,")


def test_run_with_trace_and_a_sample_window(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(tiny(tmp_path)), "--out", str(out), "--no-progress", "--trace", "--samples", "3",
                 "--link-samples"]) == 0
    trace = json.loads((out / "trace.json").read_text())
    with np.load(out / "ops.npz") as ops, np.load(out / "messages.npz") as messages:
        assert sum(e["ph"] == "X" for e in trace["traceEvents"]) == len(ops["start"])
        assert sum(e["ph"] == "s" for e in trace["traceEvents"]) == len(messages["sent"])


def test_run_refuses_an_empty_window_before_running(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(tiny(tmp_path)), "--out", str(out), "--no-progress", "--from", "9", "--to", "3"]) == EXIT_CONFIG
    assert capsys.readouterr().err == ("error: the window is empty: --from 9 is not before --to 3; "
                                       "give --from smaller than --to\n")
    assert not out.exists()


def test_plot_redraws_every_figure(tiny_run, capsys):
    _, out = tiny_run
    before = {name: (out / name).read_bytes() for name in FIGURES}
    for name in FIGURES:
        (out / name).unlink()
    assert main(["plot", str(out)]) == 0
    assert {name: (out / name).read_bytes() for name in FIGURES} == before
    printed = capsys.readouterr().out.splitlines()
    assert f"wrote {out / 'pipeline.png'}" in printed and not (out / "trace.json").exists()


def test_plot_with_a_window_and_trace(tiny_run, tmp_path):
    _, out = tiny_run
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in out.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    assert main(["plot", str(copy), "--from", "0", "--to", "50", "--trace"]) == 0
    assert (copy / "pipeline.png").read_bytes() != (out / "pipeline.png").read_bytes()
    trace = (copy / "trace.json").read_bytes()
    (copy / "pipeline.png").unlink()
    assert main(["plot", str(copy)]) == 0  # an existing trace.json is rewritten, identically
    assert (copy / "trace.json").read_bytes() == trace


def test_plot_a_folder_that_is_not_results(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err == (f"error: {tmp_path} is not a results folder: metrics.json is missing; "
                   "give a folder written by `wafersim run --out DIR`\n")


def test_plot_window_past_the_run(tiny_run, capsys):
    _, out = tiny_run
    assert main(["plot", str(out), "--from", "99999999"]) == EXIT_CONFIG
    assert "it starts at cycle 99,999,999 but the run ends at cycle" in capsys.readouterr().err


def test_plot_in_a_subprocess_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "wafersim.cli", "plot", str(tmp_path / "nothing")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (f"error: {tmp_path / 'nothing'}: no such folder; give a results folder written by "
                           "`wafersim run --out DIR`\n")


def test_run_window_past_the_end_keeps_every_other_result(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(tiny(tmp_path)), "--out", str(out), "--no-progress", "--trace", "--from", "99999999"])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith("error: the window is empty: it starts at cycle 99,999,999 but the run ends at cycle ")
    assert f"the pipeline diagram was not drawn, every other result is in {out}" in err
    assert sorted(p.name for p in out.iterdir()) == ["convergence.png", "curve.csv", "messages.npz", "metrics.json",
                                                     "ops.npz", "staleness.png", "trace.json", "utilization.png",
                                                     "weights.npz"]


def test_the_summary_keeps_its_columns_for_wide_coordinates(tmp_path, capsys):
    text = TINY.replace("placement: snake", "placement: [[100, 100, 1, 1], [100, 101, 1, 1]]")
    assert main(["run", str(tiny(tmp_path, text)), "--out", str(tmp_path / "out"), "--no-progress", "--no-figures",
                 "--set", "hardware.mesh.rows=101", "--set", "hardware.mesh.cols=102"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["layer", "PE"])
    rows = lines[header:header + 3]
    assert "(100, 101)" in rows[2]
    # The utilization column (right-aligned) ends at the same place on the header and on each layer's row.
    assert len({line.index("util") + 3 if i == 0 else line.index("%") for i, line in enumerate(rows)}) == 1


def test_the_summary_of_a_deep_network_lists_its_first_and_last_layers(tmp_path, capsys):
    text = TINY.replace("layers: [8, 8, 4]", "layers: {input: 8, hidden: [8], repeat: 19, output: 4}")
    assert "repeat: 19" in text
    assert main(["run", str(tiny(tmp_path, text)), "--out", str(tmp_path / "out"), "--no-progress",
                 "--no-figures", "--set", "hardware.mesh.rows=5", "--set", "hardware.mesh.cols=5"]) == 0
    out = capsys.readouterr().out
    assert "... (4 more layers in metrics.json)" in out
    rows = [line.split()[0] for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert rows == [str(k) for k in [*range(1, 9), *range(13, 21)]]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_engine_that_cannot_run_the_scenario_is_refused_before_it_runs(tmp_path, capsys, command):
    asgd = REPO / "scenarios" / "asgd.yaml"
    extra = ["--out", str(tmp_path / "out"), "--no-progress"] if command == "run" else []
    assert main([command, str(asgd), "--set", "engine=compiled", *extra]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err == (f"error: {asgd}: 1 problem(s) in the configuration:\n  - engine: the compiled engine cannot "
                   "run this scenario: algorithm asgd is a parameter-server algorithm; the compiled engine runs "
                   "sgd, cp, mbgd and allreduce; use engine: auto (or events)\n")
    assert not (tmp_path / "out").exists()


def test_an_unknown_engine_is_refused(tmp_path, capsys):
    assert main(["validate", str(tiny(tmp_path)), "--set", "engine=fast"]) == EXIT_CONFIG
    assert "  - engine: Input should be 'auto', 'events' or 'compiled' (got 'fast')" in capsys.readouterr().err
