"""Checkpoints and resume: a run stopped after a checkpoint and resumed ends byte-identical to one never stopped."""

from __future__ import annotations

import json

import pytest
from tests.builders import assert_same_result, make, scenario_dict, stop_after_checkpoints

from wafersim import checkpoint, runner
from wafersim.checkpoint import CheckpointError
from wafersim.runner import Checkpointing
from wafersim.session import CheckpointPolicy

CASES = {
    "cp": {},
    "cp-anchored-adam": {"delta_rule": "anchored", "optimizer": "adam", "learning_rate": 0.005},
    "sgd": {"algorithm": "sgd"},
    "mbgd-momentum": {"algorithm": "mbgd", "batch_size": 4, "momentum": 0.9},
    "asgd": {"algorithm": "asgd", "batch_size": 4, "workers": 2},
    "hogwild": {"algorithm": "hogwild", "batch_size": 4, "workers": 2},
    "downpour": {"algorithm": "downpour", "batch_size": 4, "workers": 2, "n_fetch": 2, "n_push": 2},
    "allreduce-adam": {"algorithm": "allreduce", "batch_size": 2, "workers": 2, "optimizer": "adam",
                       "learning_rate": 0.005},
    "cdni-adam-module": {"algorithm": "dni", "synthetic": {"conditioned": True, "hidden": [5], "optimizer": "adam",
                                                           "learning_rate": 0.01}},
}


def _scenario(**training):
    return make(scenario_dict(layers=(8, 8, 8, 4), samples=40, eval_every=8, **training))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("timing_only", [False, True])
def test_resumed_run_equals_the_uninterrupted_one(case, timing_only, tmp_path, monkeypatch):
    scenario = _scenario(**CASES[case]).model_copy(update={"timing_only": timing_only})
    whole = runner.run(scenario, progress=False)
    saved = stop_after_checkpoints(2, monkeypatch)
    policy = CheckpointPolicy(samples=10)
    stopped = runner.run(scenario, progress=False, checkpoint=Checkpointing(tmp_path, policy))
    assert stopped.status == "interrupted" and len(saved) == 2
    assert checkpoint.header(tmp_path)["samples_trained"] == saved[-1] < 40
    monkeypatch.undo()
    resumed = runner.run(scenario, progress=False, checkpoint=Checkpointing(tmp_path, policy, resume=True))
    assert_same_result(resumed, whole)


def test_a_checkpoint_is_refused_for_another_scenario(tmp_path, monkeypatch):
    stop_after_checkpoints(1, monkeypatch)
    runner.run(_scenario(), progress=False, checkpoint=Checkpointing(tmp_path, CheckpointPolicy(samples=10)))
    monkeypatch.undo()
    other = _scenario(learning_rate=0.01)
    with pytest.raises(CheckpointError, match="was checkpointed from another scenario"):
        runner.run(other, progress=False, checkpoint=Checkpointing(tmp_path, CheckpointPolicy(), resume=True))


def test_no_checkpoint_no_resume(tmp_path):
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        runner.run(_scenario(), progress=False, checkpoint=Checkpointing(tmp_path, CheckpointPolicy(), resume=True))


def test_a_damaged_checkpoint_is_refused(tmp_path, monkeypatch):
    stop_after_checkpoints(1, monkeypatch)
    scenario = _scenario()
    runner.run(scenario, progress=False, checkpoint=Checkpointing(tmp_path, CheckpointPolicy(samples=10)))
    (tmp_path / checkpoint.STATE).write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        checkpoint.load(tmp_path, scenario)


def test_checkpoints_do_not_change_the_result(tmp_path):
    scenario = _scenario()
    assert_same_result(runner.run(scenario, progress=False,
                     checkpoint=Checkpointing(tmp_path, CheckpointPolicy(samples=5))), runner.run(scenario, progress=False))


def _folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_command_line_resumes_into_the_same_folder_byte_for_byte(tmp_path, monkeypatch, capsys):
    from tests.simulator.test_cli import tiny

    from wafersim.cli import EXIT_CONFIG, EXIT_INTERRUPTED, main

    path = tiny(tmp_path)
    whole, out = tmp_path / "whole", tmp_path / "stopped"
    # The same command, never stopped (checkpoints every N samples run on the event engine, so
    # the engine entry of metrics.json matches too).
    assert main(["run", str(path), "--out", str(whole), "--no-progress", "--checkpoint-every", "10"]) == 0
    assert not checkpoint.folder_of(whole).exists()  # a finished run leaves no checkpoint

    stop_after_checkpoints(1, monkeypatch)
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--checkpoint-every", "10"]) == EXIT_INTERRUPTED
    assert f"--out {out} --resume" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--resume"]) == 0
    assert _folder_bytes(out) == _folder_bytes(whole)
    assert not checkpoint.folder_of(out).exists()

    capsys.readouterr()
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--resume"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "cannot resume" in err and "holds no checkpoint" in err


def test_a_run_killed_hard_resumes_from_its_last_checkpoint(tmp_path):
    """SIGKILL leaves no results folder, only the hidden partial folder and the checkpoint;
    --resume goes on from the checkpoint to the uninterrupted result, byte for byte."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.simulator.test_cli import TINY, tiny

    path = tiny(tmp_path, TINY.replace("samples: 40", "samples: 4000").replace("eval_every: 10", "eval_every: 500"))
    command = [sys.executable, "-m", "wafersim", "run", str(path), "--no-progress", "--no-figures"]
    whole, out = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command + ["--out", str(whole), "--checkpoint-every", "300"], check=True, capture_output=True)
    proc = subprocess.Popen(command + ["--out", str(out), "--checkpoint-every", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    header = checkpoint.folder_of(out) / checkpoint.HEADER
    deadline = time.monotonic() + 60
    while not header.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if not header.exists():
        pytest.skip("the run ended before its first checkpoint on this machine")
    assert not out.exists()
    done = subprocess.run(command + ["--out", str(out), "--resume"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _folder_bytes(out) == _folder_bytes(whole)


def test_a_checkpoint_of_another_version_is_refused(tmp_path, monkeypatch):
    stop_after_checkpoints(1, monkeypatch)
    scenario = _scenario()
    runner.run(scenario, progress=False, checkpoint=Checkpointing(tmp_path, CheckpointPolicy(samples=10)))
    head = json.loads((tmp_path / checkpoint.HEADER).read_text())
    (tmp_path / checkpoint.HEADER).write_text(json.dumps({**head, "wafersim": "0.0.0"}))
    refusal = rf"was written by wafersim 0\.0\.0 \(format {checkpoint.FORMAT}\); this is wafersim .*: run the scenario again"
    with pytest.raises(CheckpointError, match=refusal):
        checkpoint.load(tmp_path, scenario)


@pytest.mark.parametrize("option, value, text", [
    ("--checkpoint-every", "0", "argument --checkpoint-every: must be at least 1, got 0"),
    ("--checkpoint-minutes", "-1", "argument --checkpoint-minutes: must be a finite number of minutes, 0 or more, "
                                   "got -1"),
    ("--checkpoint-minutes", "inf", "must be a finite number of minutes, 0 or more, got inf"),
])
def test_checkpoint_options_are_checked(tmp_path, capsys, option, value, text):
    from tests.simulator.test_cli import tiny

    from wafersim.cli import main

    with pytest.raises(SystemExit) as info:
        main(["run", str(tiny(tmp_path)), "--out", str(tmp_path / "out"), option, value])
    assert info.value.code == 2 and text in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
