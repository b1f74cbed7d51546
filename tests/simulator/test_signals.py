"""SIGINT, SIGTERM and SIGHUP stop a run with its results so far written (exit 130, 143, 129), and a signal
during the writing never leaves a half-written folder (wafersim.signals through `wafersim run`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.builders import when_tasks_run
from tests.simulator.test_cli import QUICKSTART, read_metrics, tiny
from tests.simulator.test_compare import write_tiny
from tests.simulator.test_outdir import leftovers, run
from wafersim import results, signals
from wafersim.algorithms import pipeline
from wafersim.cli import main


def test_raising_turns_a_stop_signal_into_interrupted_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Interrupted) as info:
        with signals.raising():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    assert info.value.signum == signal.SIGTERM and isinstance(info.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before


def test_deferring_holds_signals_back_and_raising_acts_on_them_at_once():
    before = signal.getsignal(signal.SIGHUP)
    with signals.deferring():
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.received() == signal.SIGHUP
        with pytest.raises(signals.Interrupted) as info:
            with signals.raising():
                pass
        assert info.value.signum == signal.SIGHUP
    assert signals.received() is None and signal.getsignal(signal.SIGHUP) is before


def test_atomic_holds_a_signal_to_the_end_of_its_step():
    done = []
    with pytest.raises(signals.Interrupted) as info:
        with signals.raising():
            with signals.atomic():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)
                done.append("the rest of the step")
    assert done == ["the rest of the step"] and info.value.signum == signal.SIGTERM


def test_exit_codes():
    assert [signals.exit_code(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)] == [130, 143, 129]


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_signal_during_the_run_stops_it_with_the_results_so_far(tmp_path, capsys, monkeypatch, signum, code):
    trained = pipeline.Recorder.trained

    def signal_at_twenty(self, samples):
        trained(self, samples)
        if samples == 20:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(pipeline.Recorder, "trained", signal_at_twenty)
    out, scenario, before = tmp_path / "out", tiny(tmp_path), signal.getsignal(signum)
    assert run(scenario, out, "--set", "engine=events") == code
    err = capsys.readouterr().err
    assert re.fullmatch(rf"error: {re.escape(str(scenario))}: interrupted at cycle \d+ by {signum.name}\. Results up "
                        rf"to that point are in {re.escape(str(out))}\.\n", err), err
    m = read_metrics(out)
    assert m["status"] == "interrupted" and m["samples_trained"] == 20
    assert leftovers(out) == [] and signal.getsignal(signum) is before


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_a_compiled_run_stops_it_with_the_results_so_far(tmp_path, capsys, monkeypatch, signum, code):
    """The compiled engine stops between two chunks of its replay, its counters cut at the op reached."""
    from wafersim.engine.fused import FusedReplay

    replay, calls = FusedReplay.run, []

    def signal_on_the_third_chunk(self, tl, start, stop):
        calls.append(start)
        if len(calls) == 3:
            os.kill(os.getpid(), signum)
        return replay(self, tl, start, stop)

    monkeypatch.setattr(FusedReplay, "run", signal_on_the_third_chunk)
    out, scenario = tmp_path / "out", tiny(tmp_path)
    assert run(scenario, out, "--trace") == code
    err = capsys.readouterr().err
    assert re.fullmatch(rf"error: {re.escape(str(scenario))}: interrupted at cycle \d+ by {signum.name}\. Results up "
                        rf"to that point are in {re.escape(str(out))}\.\n", err), err
    m = read_metrics(out)
    assert m["status"] == "interrupted" and m["engine"]["used"] == "compiled"
    assert 0 < m["samples_trained"] < m["samples_planned"] and leftovers(out) == []


def test_a_signal_during_compare_stops_the_runs_under_way_with_their_results_so_far(tmp_path, capsys, cluster):
    out, (a, b) = tmp_path / "out", (write_tiny(tmp_path, name) for name in ("a", "b"))
    thread = when_tasks_run(cluster.scheduler_address, 2, lambda spy, busy: os.kill(os.getpid(), signal.SIGTERM))
    code = main(["compare", str(a), str(b), "--out", str(out), "--no-progress", "--no-figures", "--quiet",
                 "--scheduler", cluster.scheduler_address, "--set", "training.samples=20000000", "--allow-large"])
    thread.join()
    assert code == 143
    assert capsys.readouterr().err == f"error: interrupted during a, b; the runs so far are compared in {out}\n"
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "comparison.csv", "comparison.md"]
    for name in ("a", "b"):
        m = read_metrics(out / name)
        assert m["status"] == "interrupted" and 0 < m["samples_trained"] < m["samples_planned"]
    assert leftovers(out) == []


def test_a_signal_while_the_results_are_written_waits_for_them(tmp_path, capsys, monkeypatch):
    save, sent = results.save_npz, []

    def save_npz(path, arrays):
        if not sent:  # Ctrl-C, then SIGTERM, in the middle of the first file
            sent.append(path)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
        save(path, arrays)

    monkeypatch.setattr(results, "save_npz", save_npz)
    out, scenario = tmp_path / "out", tiny(tmp_path)
    assert run(scenario, out, "--trace") == 130
    assert capsys.readouterr().err == (f"error: {scenario}: SIGINT arrived while the results were written; they were "
                                       f"finished first and are in {out}.\n")
    assert read_metrics(out)["status"] == "completed"
    assert sorted(p.name for p in out.iterdir()) == ["curve.csv", "messages.npz", "metrics.json", "ops.npz",
                                                     "trace.json", "weights.npz"]


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_to_a_running_process(tmp_path, signum, code):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "wafersim", "run", str(QUICKSTART), "--out", str(out),
                             "--no-progress", "--no-figures", "--set", "training.epochs=200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / f".out.partial-{proc.pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert re.fullmatch(rf"error: {re.escape(str(QUICKSTART))}: interrupted at cycle \d+ by {signum.name}\. Results "
                        rf"up to that point are in {re.escape(str(out))}\.\n", err), err
    m = read_metrics(out)
    assert m["status"] == "interrupted" and m["samples_trained"] < m["samples_planned"]
    assert leftovers(out) == []
