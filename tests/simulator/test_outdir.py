"""Results folders as a contract: checked and locked before the run, written aside, renamed into place whole,
never left half-written (wafersim.outdir through `wafersim run` and `wafersim compare`)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulator.test_cli import TINY, read_metrics, tiny
from tests.simulator.test_compare import write_tiny
from wafersim import outdir, results, runner
from wafersim.cli import EXIT_CONFIG, EXIT_WRITE, main
from wafersim.outdir import Claim, Lock, OutDirError


def run(scenario: Path, out: Path, *extra: str) -> int:
    return main(["run", str(scenario), "--out", str(out), "--no-progress", "--no-figures", *extra])


def leftovers(out: Path) -> list[str]:
    """The hidden lock, partial and old folders of `out` still beside it."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a run starts: refusals must come before any simulation time is spent."""
    def refuse(*args, **kwargs):
        raise AssertionError("the simulation started")

    monkeypatch.setattr(runner, "run", refuse)


def full_disk(monkeypatch, name="weights.npz"):
    """Make writing `name` fail as on a full disk."""
    save = results.save_npz

    def save_npz(path, arrays):
        if Path(path).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        save(path, arrays)

    monkeypatch.setattr(results, "save_npz", save_npz)


def test_a_run_writes_aside_and_renames_into_place(tmp_path, monkeypatch):
    out, seen = tmp_path / "out", []
    write = results.write

    def spy(result, folder, **kw):
        seen.append((Path(folder), out.exists()))
        return write(result, folder, **kw)

    monkeypatch.setattr(results, "write", spy)
    assert run(tiny(tmp_path), out) == 0
    assert seen == [(tmp_path / f".out.partial-{os.getpid()}", False)]
    assert read_metrics(out)["status"] == "completed" and leftovers(out) == []


def test_a_full_disk_leaves_no_folder(tmp_path, monkeypatch, capsys):
    full_disk(monkeypatch)
    out, scenario = tmp_path / "out", tiny(tmp_path)
    assert run(scenario, out) == EXIT_WRITE
    assert capsys.readouterr().err == (f"error: {scenario}: cannot write the results into {out}: No space left on "
                                       f"device (weights.npz); {out} was left as it was\n")
    assert not out.exists() and leftovers(out) == []


def test_a_full_disk_keeps_the_folder_it_would_replace(tmp_path, monkeypatch):
    out, scenario = tmp_path / "out", tiny(tmp_path)
    assert run(scenario, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    full_disk(monkeypatch, "weights.npz")
    assert run(scenario, out, "--force", "--set", "training.learning_rate=0.02") == EXIT_WRITE
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and leftovers(out) == []


def test_an_existing_folder_is_refused_before_the_run(tmp_path, capsys, no_simulation):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run(tiny(tmp_path), out) == EXIT_CONFIG
    assert capsys.readouterr().err == (f"error: --out {out} already exists and is not empty; add --force to replace "
                                       "it whole, or give another --out\n")
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and leftovers(out) == []


def test_force_replaces_the_folder_whole(tmp_path):
    out, scenario = tmp_path / "out", tiny(tmp_path)
    assert main(["run", str(scenario), "--out", str(out), "--no-progress"]) == 0
    (out / "notes.txt").write_text("old")
    assert run(scenario, out, "--force") == 0
    # --no-figures without --trace: no op or message logs (only figures and the trace need them)
    assert sorted(p.name for p in out.iterdir()) == ["curve.csv", "metrics.json", "weights.npz"]
    assert leftovers(out) == []


def test_force_gives_byte_identical_files(tmp_path):
    scenario = tiny(tmp_path)
    assert run(scenario, tmp_path / "a") == 0
    assert run(scenario, tmp_path / "a", "--force") == 0
    assert run(scenario, tmp_path / "b") == 0
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_an_empty_folder_is_used(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert run(tiny(tmp_path), out) == 0
    assert read_metrics(out)["status"] == "completed"


def test_force_never_deletes_the_scenario_file(tmp_path, capsys, no_simulation):
    out = tmp_path / "out"
    out.mkdir()
    scenario = tiny(out)
    assert run(scenario, out, "--force") == EXIT_CONFIG
    assert capsys.readouterr().err == (f"error: --out {out} holds {scenario}, which --force would delete with the "
                                       "folder; give another --out\n")
    assert scenario.is_file()


def test_missing_parents_are_created(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    assert run(tiny(tmp_path), out) == 0
    assert (out / "metrics.json").is_file()


def below_a_file(t: Path) -> Path:
    (t / "file").write_text("")
    return t / "file" / "out"


def a_file(t: Path) -> Path:
    (t / "out.txt").write_text("")
    return t / "out.txt"


@pytest.mark.parametrize("where, message", [
    (below_a_file, "--out {t}/file/out is below {t}/file, which is a file; give a path inside a folder"),
    (a_file, "--out {t}/out.txt is a file, not a folder; give a folder for the results"),
    (lambda t: Path("/"), "--out / is the root folder; give a folder for the results"),
])
def test_unusable_locations_are_refused_before_the_run(tmp_path, capsys, no_simulation, where, message):
    assert run(tiny(tmp_path), where(tmp_path)) == EXIT_CONFIG
    assert capsys.readouterr().err == "error: " + message.format(t=tmp_path) + "\n"


def test_the_current_folder_is_refused(tmp_path, capsys, monkeypatch, no_simulation):
    scenario = tiny(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(scenario, Path(".")) == EXIT_CONFIG
    assert capsys.readouterr().err == ("error: --out . is the current folder or holds it; give a folder inside it "
                                       "or beside it\n")


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs /sys, where not even root may create files")
def test_a_read_only_parent_is_refused_before_the_run(tmp_path, capsys, no_simulation):
    assert run(tiny(tmp_path), Path("/sys/wafersim-out")) == EXIT_CONFIG
    assert capsys.readouterr().err.startswith("error: --out /sys/wafersim-out: cannot write in /sys: ")
    assert run(tiny(tmp_path), Path("/sys/wafersim-dir/out")) == EXIT_CONFIG
    assert capsys.readouterr().err.startswith("error: --out /sys/wafersim-dir/out: cannot create /sys/wafersim-dir: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_a_folder_without_write_permission_is_refused_before_the_run(tmp_path, capsys, no_simulation):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert run(tiny(tmp_path), folder / "out") == EXIT_CONFIG
        assert capsys.readouterr().err == (f"error: --out {folder / 'out'}: cannot write in {folder}: Permission "
                                           "denied; give a location you can write to\n")
    finally:
        folder.chmod(0o755)


def test_a_locked_folder_is_refused(tmp_path, capsys, no_simulation):
    out = tmp_path / "out"
    lock = Lock(tmp_path / ".out.lock")
    try:
        assert run(tiny(tmp_path), out) == EXIT_CONFIG
    finally:
        lock.release()
    assert capsys.readouterr().err == (f"error: --out {out} is being written by another run (process {os.getpid()}); "
                                       "wait for it to finish, or give another --out\n")
    assert not out.exists() and leftovers(out) == []


def test_a_run_in_another_process_holds_the_folder(tmp_path, capsys, no_simulation):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from wafersim.outdir import Claim\nclaim = Claim(Path(sys.argv[1]))\n"
                               "print('claimed', flush=True)\ntime.sleep(60)\n", str(out)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "claimed\n"
        assert run(tiny(tmp_path), out) == EXIT_CONFIG
        assert f"is being written by another run (process {holder.pid})" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / ".out.lock").write_text(f"{pid}\n")
    (tmp_path / f".out.partial-{pid}").mkdir()
    (tmp_path / f".out.partial-{pid}" / "metrics.json").write_text("{")
    assert run(tiny(tmp_path), out) == 0
    assert read_metrics(out)["status"] == "completed" and leftovers(out) == []


def test_two_claims_of_one_folder_exclude_each_other(tmp_path):
    with Claim(tmp_path / "out") as first:
        with pytest.raises(OutDirError, match="is being written by another run"):
            Claim(tmp_path / "out")
        first.partial.joinpath("x").write_text("1")
        first.commit()
    with Claim(tmp_path / "out", force=True) as second:
        second.commit()
    assert list((tmp_path / "out").iterdir()) == [] and leftovers(tmp_path / "out") == []


def test_compare_refuses_an_existing_folder_and_replaces_it_with_force(tmp_path, capsys):
    a, b = write_tiny(tmp_path, "a"), write_tiny(tmp_path, "b", "mbgd")
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "old").mkdir()
    args = ["compare", str(a), str(b), "--out", str(out), "--no-progress", "--no-figures", "--quiet"]
    assert main(args) == EXIT_CONFIG
    assert capsys.readouterr().err == (f"error: --out {out} already exists and is not empty; add --force to replace "
                                       "it whole, or give another --out\n")
    assert main(args + ["--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "comparison.csv", "comparison.md"]
    assert leftovers(out) == []


def test_compare_on_a_full_disk_leaves_no_folder(tmp_path, monkeypatch, capsys):
    full_disk(monkeypatch)
    out = tmp_path / "cmp"
    assert main(["compare", str(write_tiny(tmp_path, "a")), "--out", str(out), "--no-progress", "--no-figures"]) == 4
    assert capsys.readouterr().err == (f"error: cannot write the results into {out}: No space left on device "
                                       f"(a/weights.npz); {out} was left as it was\n")
    assert not out.exists() and leftovers(out) == []


def test_compare_checks_every_data_set_and_fit_before_running_any(tmp_path, capsys, no_simulation):
    good = write_tiny(tmp_path, "good")
    unfit = write_tiny(tmp_path, "unfit")
    unfit.write_text(unfit.read_text().replace("sram_bytes: 1048576", "sram_bytes: 300"))
    nodata = write_tiny(tmp_path, "nodata")
    nodata.write_text(nodata.read_text().replace("name: synthetic\n", f"name: mnist\n  path: {tmp_path / 'none'}\n"))
    for bad, key in ((unfit, "hardware.pe.sram_bytes"), (nodata, "dataset")):
        out = tmp_path / f"out-{bad.stem}"
        assert main(["compare", str(good), str(bad), "--out", str(out), "--no-progress"]) == EXIT_CONFIG
        err = capsys.readouterr().err
        assert err.startswith(f"error: {bad}: 1 problem(s) in the configuration:\n  - {key}: ")
        assert not out.exists() and leftovers(out) == []


def test_compare_refuses_a_scenario_named_like_its_own_files(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(TINY.replace("name: tiny\n", "name: comparison.csv\n"))
    assert main(["compare", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == EXIT_CONFIG
    assert capsys.readouterr().err == (f"error: {path}: 1 problem(s) in the configuration:\n  - name: "
                                       "'comparison.csv' is the name of a file compare writes into OUT beside the "
                                       "runs' folders (OUT/<name>): rename the scenario\n")


def test_write_whole_replaces_a_file_or_leaves_it_as_it_was(tmp_path, monkeypatch):
    """A small file (a checkpoint header, a sweep table) is written aside and renamed over the old one;
    a write that fails leaves the old file and no temporary one."""
    target = tmp_path / "table.csv"
    assert outdir.write_whole(target, b"old\n") == target and target.read_bytes() == b"old\n"
    assert outdir.write_whole(target, b"new\n") == target and target.read_bytes() == b"new\n"

    def full_disk(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outdir.os, "replace", full_disk)
    with pytest.raises(OSError):
        outdir.write_whole(target, b"newer\n")
    assert target.read_bytes() == b"new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
