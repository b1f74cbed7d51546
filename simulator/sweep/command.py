"""`wafersim sweep`: validate every point of a sweep file, run the points on Dask, write the tables and figures.

The sweep's folder (`--out`, default results/<sweep name>) holds `sweep.json` (what was
swept), `points/<name>/` (one results folder per point, each written whole), `sweep.csv`
and `sweep_summary.csv` (a row per point; statistics over seeds per setting) and the
figures. Running the same command again skips the points already finished with the same
scenario, so an interrupted or partly failed sweep is finished by running it again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import cluster
from ..outdir import write_whole

EXIT_CONFIG = 2  # as the other commands: a file that cannot be used
EXIT_FAILED = 5  # some points failed (their folders hold the reason); the others are written
EXIT_INTERRUPTED = 130


def add_parser(sub) -> None:
    """The `sweep` subcommand's options."""
    sweep = sub.add_parser("sweep", help="run a scenario over a grid of keys and seeds on a Dask cluster, and "
                                         "tabulate and draw the results")
    sweep.add_argument("sweep", type=Path, nargs="?", help="sweep YAML file (see sweeps/)")
    sweep.add_argument("--out", type=Path, default=None,
                       help="folder of the sweep (default: results/<sweep name>); run again to finish it")
    sweep.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                       help="override a key of every point's scenario, as `run --set` (repeatable)")
    cluster.add_arguments(sweep)
    sweep.add_argument("--report", type=Path, default=None, metavar="DIR",
                       help="redraw the tables and figures of a sweep folder, running nothing")
    sweep.add_argument("--no-figures", action="store_true", help="write the tables only")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep.add_argument("--quiet", action="store_true", help="print nothing but errors (implies --no-progress)")


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def prepare_folder(sweep, points, out: Path) -> None:
    """Make the sweep folder `out` (and its points/) and write its sweep.json: what is swept, and the points' names."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "points").mkdir(exist_ok=True)
    description = {**sweep.describe(), "points": [p.name for p in points]}
    write_whole(out / "sweep.json", (json.dumps(description, indent=2, sort_keys=True) + "\n").encode())


def _outputs(out: Path, figures: bool) -> tuple[list[Path], str | None]:
    """Write the tables (and figures) of the sweep folder `out`; their paths, and why the figures could not be drawn."""
    from . import report, table

    paths = table.write(out)
    if figures:
        try:
            paths += report.draw(out)
        except report.ReportError as exc:  # the hints were checked with the file: the points done so far lack them
            return paths, f"figures not drawn yet: {exc} among the points finished so far"
    return paths, None


def main(args) -> int:
    """Run `wafersim sweep` with parsed `args`; returns the exit status."""
    quiet = getattr(args, "quiet", False)
    if args.report is not None:
        folder = args.report
        if not (folder / "sweep.json").is_file():
            return _fail(f"{folder} holds no sweep.json: give the folder a `wafersim sweep` wrote", EXIT_CONFIG)
        paths, note = _outputs(folder, not args.no_figures)
        if not quiet:
            print("\n".join(f"wrote {path}" for path in paths + ([note] if note else [])))
        return 0
    if args.sweep is None:
        return _fail("give a sweep file (wafersim sweep SWEEP.yaml) or --report DIR", EXIT_CONFIG)
    from ..config import ConfigError
    from . import execute, spec

    try:
        sweep = spec.load_sweep(args.sweep, list(args.overrides))
        points = spec.expand(sweep)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except KeyboardInterrupt:
        return _fail("interrupted while checking the sweep; nothing was run", EXIT_INTERRUPTED)
    out = args.out or Path("results") / sweep.name
    try:
        prepare_folder(sweep, points, out)
    except OSError as exc:
        return _fail(f"cannot write the sweep folder {out}: {exc.strerror}; give a writable --out", EXIT_CONFIG)
    try:
        outcome = execute.run_sweep(points, out, scheduler=args.scheduler or sweep.scheduler, workers=args.workers,
                                    progress=not (args.no_progress or quiet))
    except cluster.ClusterError as exc:
        return _fail(f"{args.sweep}: {exc}", EXIT_CONFIG)
    _, note = _outputs(out, not args.no_figures)
    if not quiet:
        print(f"{args.sweep}: {outcome.total} points: {outcome.ran} ran, {outcome.skipped} already done, "
              f"{outcome.failed} failed; table {out / 'sweep.csv'}" + (f"; {note}" if note else ""))
    if outcome.interrupted:
        return _fail(f"{args.sweep}: interrupted; the points finished are in {out / 'points'}: run the same command "
                     f"again to finish the rest", EXIT_INTERRUPTED)
    if outcome.failed:
        failed = [row["name"] for row in outcome.rows if row.get("status") == "failed"]
        return _fail(f"{args.sweep}: {outcome.failed} point(s) failed ({', '.join(failed[:8])}); their point.json "
                     f"says why; run again to retry them", EXIT_FAILED)
    return 0
