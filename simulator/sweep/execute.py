"""Run a sweep's points as Dask tasks, each writing its own results folder whole, skipping the finished ones.

Every point is one task, `run_point`, which trains its scenario on a worker and writes
DIR/points/<name> through `outdir.Claim`: metrics.json, curve.csv and weights.npz as
`wafersim run` writes them (without figures), plus point.json, the point's row
({name, values, digest, status, message, wall_seconds}). A run that raises leaves a folder
with only point.json, status "failed". `run_sweep` submits the points not yet `finished`
to an embedded `LocalCluster` (or to the scheduler at an address), streams their rows back
as they end, and on Ctrl-C, SIGTERM or SIGHUP cancels the rest and returns what it has:
every folder is either whole or absent, so running the sweep again goes on where it stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import cluster, outdir, results, runner, signals
from .point import POINTS, Point

ROW = "point.json"
FINISHED = ("completed", "diverged")  # a diverged run is a real result; failed and interrupted ones run again


@dataclass
class Outcome:
    """What a sweep did: how many points it had, skipped, ran and lost to failures, and every point's row."""

    total: int
    skipped: int  # finished before, with the same scenario: not run again
    ran: int = 0  # tasks that ended in this sweep, failed ones included
    failed: int = 0
    interrupted: bool = False
    rows: list[dict] = field(default_factory=list)  # each point's point.json of this very scenario, in point order

    @property
    def left(self) -> int:
        """Points neither skipped nor run: cancelled by an interruption."""
        return self.total - self.skipped - self.ran


def folder_of(out_dir: Path, point: Point) -> Path:
    return Path(out_dir) / POINTS / point.name


def read_row(folder: Path) -> dict | None:
    """The point.json in `folder`, or None if it is missing or damaged."""
    try:
        row = json.loads((Path(folder) / ROW).read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) else None


def finished(point: Point, folder: Path) -> bool:
    """Whether `folder` holds a result of this very scenario that need not run again."""
    row = read_row(folder)
    return row is not None and row.get("digest") == point.digest and row.get("status") in FINISHED


def _row(point: Point, status: str, message: str, wall: float) -> dict:
    return {"name": point.name, "values": point.values, "digest": point.digest, "status": status,
            "message": message, "wall_seconds": round(wall, 3)}


def _commit(folder: Path, row: dict, result: runner.RunResult | None) -> None:
    """Write the folder in a hidden sibling and rename it into place whole (replacing an older one)."""
    with outdir.Claim(folder, force=True) as claim:
        if result is not None:
            results.write(result, claim.partial, figures=False)
        # default=str: a swept value YAML gave as a date or the like still makes a readable row
        (claim.partial / ROW).write_text(json.dumps(row, indent=2, default=str) + "\n")
        claim.commit()


def run_point(point: Point, folder: Path) -> dict:
    """Train one point and write its folder (results and point.json, or point.json alone if the run raised);
    return its row. Runs on a Dask worker; an error in writing propagates, so Dask tries the task again."""
    start = time.perf_counter()
    try:
        result = runner.run(point.scenario, source=point.name, progress=False, trace=False)
        status, message = result.status, result.message
    except Exception as exc:  # a ConfigError or DataError found before training, or a bug: this point only
        result, status, message = None, "failed", cluster.failure_text(exc)
    row = _row(point, status, message, time.perf_counter() - start)
    # Claimed only now, after the run: a worker killed while training leaves nothing behind.
    _commit(Path(folder), row, result)
    return row


def _tidy(folder: Path) -> None:
    """Remove what a worker killed while writing left beside `folder` (a partial folder, a lock), if nobody holds it."""
    parent, name = folder.parent, folder.name
    if not any(parent.glob(f".{name}.*")):
        return
    try:
        with outdir.Claim(folder, force=True):  # taking the claim clears stale siblings; leaving it removes ours
            pass
    except outdir.OutDirError:  # still being written (a task on a remote worker): it finishes whole by itself
        pass


def run_sweep(points: list[Point], out_dir: Path, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True) -> Outcome:
    """Run every point not yet finished under out_dir/points, one Dask task each, and return the Outcome.

    Without `scheduler` an embedded LocalCluster of `workers` single-threaded processes
    (default: one per CPU) runs them and is closed at the end; with it, the cluster at that
    address does (its workers must import wafersim) and is left running. Ctrl-C, SIGTERM and
    SIGHUP cancel what has not finished and return an Outcome marked interrupted.
    """
    import distributed
    from tqdm import tqdm

    out_dir = Path(out_dir)
    folders = {p.name: folder_of(out_dir, p) for p in points}
    todo = [p for p in points if not finished(p, folders[p.name])]
    outcome = Outcome(total=len(points), skipped=len(points) - len(todo))
    rows: dict[str, dict] = {}
    local = client = None  # the embedded cluster, if one is started
    futures: dict = {}
    bar = tqdm(total=len(points), initial=outcome.skipped, unit="point", desc="sweep", disable=not progress,
               dynamic_ncols=True)
    try:
        with signals.raising():  # SIGTERM and SIGHUP stop the sweep as Ctrl-C does
            if todo:
                client, local = cluster.connect(scheduler, workers, len(todo))
                # pure=False: a task is a run with side effects (its folder), never a cached value.
                futures = {client.submit(run_point, p, folders[p.name], key=f"{p.digest[:12]}-{p.name}",
                                         retries=cluster.RETRIES, pure=False): p for p in todo}
                for future in distributed.as_completed(futures):
                    point = futures[future]
                    try:
                        row = future.result()
                    except Exception as exc:  # still failing after the retries (a worker died each time, a full disk)
                        row = _failed(point, folders[point.name], exc)
                    rows[point.name] = row
                    outcome.ran += 1
                    outcome.failed += row["status"] == "failed"
                    bar.set_postfix(done=outcome.ran, failed=outcome.failed, refresh=False)
                    bar.update(1)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        bar.close()
        with signals.deferring():  # a second Ctrl-C must not cut the cleanup short
            cluster.close(client, local, list(futures) if outcome.interrupted else [])
    if outcome.interrupted and local is not None:  # the embedded workers are gone: clear what they left
        for p in todo:
            _tidy(folders[p.name])
    # Rows read back last: those of skipped points, and of tasks that ended while the sweep was stopping.
    for p in points:
        row = rows.get(p.name) or read_row(folders[p.name])
        if row is not None and row.get("digest") == p.digest:
            outcome.rows.append(row)
    return outcome


def _failed(point: Point, folder: Path, exc: Exception) -> dict:
    """The row of a task that raised even on its last try, written into its folder if that can be done."""
    row = _row(point, "failed", cluster.failure_text(exc), 0.0)
    try:
        _commit(folder, row, None)
    except (outdir.OutDirError, OSError):  # the row still reaches the Outcome; the point runs again next time
        pass
    return row
