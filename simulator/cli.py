"""The `wafersim` command: run, validate, compare and sweep scenarios and redraw results. No simulation logic lives here."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import cluster, version
from .cluster import positive_int

EXIT_CONFIG = 2  # a scenario, hardware file or data set that cannot be used
EXIT_DIVERGED = 3  # the run stopped because the loss was no longer finite
EXIT_INTERRUPTED = 130  # Ctrl-C; SIGTERM gives 143 and SIGHUP 129 (128 + the signal's number)
EXIT_WRITE = 4  # the results could not be written (disk full, no permission); nothing incomplete is left at --out
EXIT_FAILED = 5  # a compared run (or a sweep's point) failed on its worker; the others are written
EXIT_STALLED = 6  # the chip ran out of events before every sample trained (a deadlock: a simulator bug)
SRAM_LISTED = 64  # validate lists the SRAM bound of this many PEs, then sums up the rest


def _view_options() -> argparse.ArgumentParser:
    """Options shared by the commands that draw: the pipeline window and the trace."""
    view = argparse.ArgumentParser(add_help=False)
    group = view.add_argument_group("figures")
    group.add_argument("--from", dest="start", type=int, default=None, metavar="CYCLE",
                       help="pipeline diagram from this cycle (default 0)")
    group.add_argument("--to", dest="end", type=int, default=None, metavar="CYCLE",
                       help="pipeline diagram up to this cycle (default: the opening stretch, fill plus a "
                            "steady part)")
    group.add_argument("--samples", type=int, default=None, metavar="N",
                       help="pipeline diagram over the first N samples' forward and backward ops")
    group.add_argument("--link-samples", action="store_true", help="join each sample's ops with a thin line")
    group.add_argument("--trace", action="store_true", help="also write trace.json (Chrome trace-event format)")
    return view


def _run_options() -> argparse.ArgumentParser:
    """Options shared by the commands that run scenarios."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                         help="override a scenario key, e.g. --set training.learning_rate=0.05 (repeatable)")
    options.add_argument("--timing-only", action="store_true", help="run the schedule without arithmetic")
    options.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    options.add_argument("--no-figures", action="store_true", help="write the results without drawing the PNG figures (and, without --trace, without "
                              "the op and message logs ops.npz and messages.npz, which only they need)")
    options.add_argument("--quiet", action="store_true", help="print nothing but errors (implies --no-progress)")
    options.add_argument("--allow-large", action="store_true",
                         help="run even if the host memory estimate exceeds what this machine has (allow_large: true)")
    return options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wafersim", description="Simulate layer-parallel training on a wafer-scale mesh.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    view, options = _view_options(), _run_options()
    run = sub.add_parser("run", parents=[options, view], help="train a scenario on the simulated chip and write its results")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument("--out", type=Path, default=None, help="results folder (default: results/<scenario name>)")
    run.add_argument("--force", action="store_true", help="replace an existing --out folder whole")
    run.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="N",
                     help="also save a checkpoint every N samples trained")
    run.add_argument("--checkpoint-minutes", type=_non_negative_float, default=10.0, metavar="M",
                     help="save a checkpoint every M minutes of wall time (default 10; 0: never)")
    run.add_argument("--resume", action="store_true",
                     help="go on from the checkpoint of an interrupted run into the same --out (same scenario and "
                          "--set options)")
    validate = sub.add_parser("validate", help="check a scenario and its hardware without running it")
    validate.add_argument("scenario", type=Path)
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value")
    validate.add_argument("--allow-large", action="store_true", help="accept a run larger than this machine's memory")
    compare = sub.add_parser("compare", parents=[options, view],
                             help="run several scenarios and tabulate and draw them side by side")
    compare.add_argument("scenarios", type=Path, nargs="+",
                         help="scenario YAML files, or a file holding `compare: [a.yaml, b.yaml, ...]`")
    compare.add_argument("--out", type=Path, default=Path("results") / "compare",
                         help="folder for the table, the figures and one results folder per scenario "
                              "(default: results/compare)")
    compare.add_argument("--force", action="store_true", help="replace an existing --out folder whole")
    compare.add_argument("--target-accuracy", type=float, default=0.9, metavar="FRACTION",
                         help="accuracy for the time-to-target column (default 0.9)")
    cluster.add_arguments(compare)
    plot = sub.add_parser("plot", parents=[view], help="redraw the figures (and trace) of a results folder")
    plot.add_argument("results", type=Path, help="a results folder written by `wafersim run --out`")
    from .sweep.command import add_parser as add_sweep

    add_sweep(sub)
    schema = sub.add_parser("schema", help="write the JSON Schemas of scenario, hardware and sweep files (for editors)")
    schema.add_argument("--out", type=Path, default=Path("."),
                        help="folder for scenario.schema.json, hardware.schema.json and sweep.schema.json (default: here)")
    return parser


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of minutes, 0 or more, got {text}")
    return value


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


SUMMARY_LAYERS = 8  # a summary lists every layer of a network up to twice this deep, else the first and last


def _summary(result, out_dir: Path, wall_seconds: float) -> str:
    m = result.metrics
    acc, loss = m["final_test_accuracy"], m["final_train_loss"]
    rows = [
        ("scenario", m["scenario"]["name"]),
        ("algorithm", m["algorithm"] + (" (timing only)" if m["timing_only"] else "")),
        ("status", m["status"]),
        ("samples trained", f"{m['samples_trained']:,} of {m['samples_planned']:,}"),
        ("simulated cycles", f"{m['total_cycles']:,} ({m['simulated_seconds'] * 1e3:.3f} ms)"),
        ("mean PE utilization", f"{m['mean_utilization']:.1%} (whole mesh {m['mesh_utilization']:.1%})"),
        *[(f"mean {role} utilization", f"{m[f'{role}_utilization']:.1%}")
          for role in ("worker", "shard") if f"{role}_utilization" in m],
        ("mean staleness", "-" if m["mean_staleness"] is None else f"{m['mean_staleness']:.2f} updates"),
        *([("bottleneck", _bottleneck(m))] if m.get("bottleneck_layer") else []),
        ("final test accuracy", "-" if acc is None else f"{acc:.2%}"),
        ("final train loss", "-" if loss is None else f"{loss:.4f}"),
        ("peak SRAM per PE", f"{max(m['peak_sram_bytes'].values()):,} bytes"),
        ("wall time", f"{wall_seconds:.1f} s ({m['samples_trained'] / max(wall_seconds, 1e-9):,.0f} samples/s)"),
        ("results", str(out_dir)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{width}}  {v}" for k, v in rows]
    shown = m["layers"]
    if len(shown) > 2 * SUMMARY_LAYERS:  # a deep network: its first and last layers (metrics.json has all)
        shown = shown[:SUMMARY_LAYERS] + [None] + shown[-SUMMARY_LAYERS:]
    pe = max([7] + [len(str((layer["row"], layer["col"]))) for layer in shown if layer])  # "(135, 188)" on a wafer
    layer_lines = [f"  {'layer':>5} {'PE':>{pe}} {'holds':>6} {'util':>6} {'in flight':>9} {'staleness':>9} "
                   f"{'peak SRAM':>11}"]
    for layer in shown:
        if layer is None:
            layer_lines.append(f"  {'...':>5} ({len(m['layers']) - 2 * SUMMARY_LAYERS:,} more layers in metrics.json)")
            continue
        st = layer["staleness"]["mean"]
        layer_lines.append(f"  {layer['layer']:>5} {str((layer['row'], layer['col'])):>{pe}} {layer['role']:>6} "
                           f"{layer['utilization']:>6.1%} {layer.get('max_in_flight', '-'):>9} "
                           f"{'-' if st is None else f'{st:.2f}':>9} {layer['peak_sram_bytes']:>11,}")
    return "\n".join(lines + [""] + layer_lines)


def _bottleneck(m: dict) -> str:
    """'layer 2 (784 cycles per sample; region 2x3)': the layer whose busiest PE is busiest per sample."""
    row = m["layers"][m["bottleneck_layer"] - 1]
    region = row.get("region")
    where = f"region {region['rows']}x{region['cols']}" if region else f"PE {(row['row'], row['col'])}"
    period = row["period_cycles"]
    return f"layer {row['layer']} ({'-' if period is None else f'{period:,.0f}'} cycles per sample; {where})"


def _view(args) -> dict:
    """The drawing options of parsed arguments, as keywords of results.render."""
    window = None if args.start is None and args.end is None else (args.start, args.end)
    return {"window": window, "samples": args.samples, "link_samples": args.link_samples, "trace": args.trace}


def _check_view(args) -> str | None:
    """The message for drawing options that can select nothing, else None."""
    from .plots import WindowError, check_window

    view = _view(args)
    try:
        check_window(view["window"], view["samples"])
    except WindowError as exc:
        return str(exc)
    return None


def _out_folder_problem(out_dir: Path, force: bool = False, inputs: tuple[Path, ...] = ()) -> str | None:
    """Why results cannot go to out_dir (a file, below a file, not empty without --force, ...), else None."""
    from .outdir import problem

    return problem(out_dir, force, inputs)


def _claim(out_dir: Path, force: bool, inputs: tuple[Path, ...]):
    """The results folder out_dir, locked and staged for writing (outdir.Claim), or the message why not."""
    from .outdir import Claim, OutDirError

    try:
        return Claim(out_dir, force, inputs)
    except OutDirError as exc:
        return str(exc)


def _write_claimed(claim, write) -> tuple[str | None, Exception | None]:
    """Call write(folder) on the claim's partial folder, then rename it into place.

    Returns (the message of a write that failed, whose partial folder is removed; a window the
    run does not reach, which still leaves every other result in place).
    """
    from .plots import WindowError

    late = None
    try:
        try:
            write(claim.partial)
        except WindowError as exc:
            late = exc
        claim.commit()
    except OSError as exc:
        return claim.failure(exc), None
    return None, late


def _stop_code(signum: int | None) -> int:
    """The exit status of a run stopped by `signum` (None: a bare Ctrl-C)."""
    from . import signals

    return signals.exit_code(signum) if signum else EXIT_INTERRUPTED


def _before_start(signum: int) -> int:
    from .signals import signal_name

    return _fail(f"{signal_name(signum)} arrived before the run started; nothing was written", _stop_code(signum))


def _late_window(exc: Exception, out_dir: Path) -> str:
    """The message for a window that a finished run does not reach: everything else is written."""
    return (f"{exc}; the pipeline diagram was not drawn, every other result is in {out_dir}: redraw it with "
            f"`wafersim plot DIR` and a window inside the run")


def _plot(args) -> int:
    from .plots import WindowError
    from .results import ResultsError, read, render

    problem = _check_view(args)
    if problem:
        return _fail(problem, EXIT_CONFIG)
    try:
        saved = read(args.results)
        view = _view(args)
        view["trace"] = view["trace"] or (args.results / "trace.json").is_file()
        paths = render(saved, args.results, **view)
    except (ResultsError, WindowError) as exc:
        return _fail(str(exc), EXIT_CONFIG)
    print("\n".join(f"wrote {path}" for path in paths))
    return 0


def _compare(args) -> int:
    from .compare import check_all, load_all
    from .config import ConfigError

    problem = _check_view(args) or _out_folder_problem(args.out, args.force, tuple(args.scenarios))
    if not 0 < args.target_accuracy <= 1:
        problem = f"--target-accuracy must be a fraction in (0, 1], got {args.target_accuracy}"
    if problem:
        return _fail(problem, EXIT_CONFIG)
    overrides = args.overrides + (["timing_only=true"] if args.timing_only else []) + (
        ["allow_large=true"] if args.allow_large else [])
    try:
        loaded = load_all(args.scenarios, overrides)
        check_all(loaded)
        return _compare_claimed(args, loaded)
    except (ConfigError, cluster.ClusterError) as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except KeyboardInterrupt:
        return _fail("interrupted before the runs started; nothing was written", EXIT_INTERRUPTED)


def _compare_claimed(args, loaded: list) -> int:
    """Run every checked scenario on the Dask cluster, write their results and the comparison into the
    claimed --out folder, and rename it into place."""
    from . import signals
    from .compare import run_all, write_comparison, write_runs

    view, paths = _view(args), []
    figures = not args.no_figures
    runs = None

    def write(folder: Path) -> None:
        nonlocal runs
        runs = run_all(loaded, progress=not args.no_progress, trace=figures or view["trace"],
                       scheduler=args.scheduler, workers=args.workers)
        write_runs(runs.results, folder, figures=figures, **view)
        written = write_comparison(runs.results, folder, args.target_accuracy, view["window"], view["samples"],
                                   figures=figures)
        paths.extend(args.out / path.relative_to(folder) for path in written)

    with signals.deferring():
        claim = _claim(args.out, args.force, tuple(args.scenarios) + tuple(path for path, _ in loaded))
        if isinstance(claim, str):
            return _fail(claim, EXIT_CONFIG)
        with claim:
            if signals.received():
                return _before_start(signals.received())
            failed, late = _write_claimed(claim, write)
            stop = runs.stop if runs is not None and runs.stop else signals.received()
    if failed:
        return _fail(failed, EXIT_WRITE)
    if late:
        return _fail(_late_window(late, args.out), EXIT_CONFIG)
    if not args.quiet:
        print((args.out / "comparison.md").read_text())
        print("\n".join(f"wrote {path}" for path in paths))
    return _compare_status(runs, stop, args.out)


def _compare_status(runs, stop: int | None, out: Path) -> int:
    """Say how the compared runs ended (the first that applies: stopped, failed, diverged) and give the exit status."""
    from .signals import signal_name

    so_far = f"the runs so far are compared in {out}"
    if runs.interrupted or runs.not_started:
        during = f"interrupted during {', '.join(runs.interrupted)}" if runs.interrupted else "interrupted"
        unstarted = f"; {', '.join(runs.not_started)} did not start" if runs.not_started else ""
        return _fail(f"{during}{unstarted}; {so_far}", _stop_code(stop))
    if stop:
        return _fail(f"{signal_name(stop)} arrived while the results were written; they were finished first and "
                     f"are in {out}", _stop_code(stop))
    if runs.failed:
        reasons = "; ".join(f"{name}: {why}" for name, why in runs.failed.items())
        return _fail(f"{len(runs.failed)} run(s) failed ({reasons}); {so_far}", EXIT_FAILED)
    diverged = [name for name, result in runs.results.items() if result.status == "diverged"]
    if diverged:
        return _fail(f"{', '.join(diverged)} diverged; their results up to that point are in {out}", EXIT_DIVERGED)
    return 0


def _schema(args) -> int:
    from .schemas import write_schemas

    if args.out.exists() and not args.out.is_dir():
        return _fail(f"--out {args.out} is a file, not a folder; give a folder for the schemas", EXIT_CONFIG)
    try:
        paths = write_schemas(args.out)
    except OSError as exc:
        return _fail(f"cannot write the schemas into {args.out}: {exc.strerror}; give a writable folder", EXIT_CONFIG)
    print("\n".join(f"wrote {path}" for path in paths))
    return 0


def _sram_bounds(layout) -> str:
    """validate's SRAM bounds: per PE (the first SRAM_LISTED, then the largest of the rest), or on layer
    regions the largest block's of each layer."""
    if layout.regions is not None:
        largest: dict[int, int] = {}
        for p in layout.placed:
            largest[p.layer] = max(largest.get(p.layer, 0), p.memory.total)
        entries = [f"L{k} {largest[k]:,}" for k in sorted(largest)]
    else:
        entries = [f"{p.label} {p.memory.total:,}" for p in layout.placed]
    text = ", ".join(entries[:SRAM_LISTED])
    if len(entries) > SRAM_LISTED:
        text += f", ... {len(entries) - SRAM_LISTED:,} more (largest {max(p.memory.total for p in layout.placed):,})"
    return text


EXIT_BROKEN_PIPE = 141  # the reader of the output stopped reading (a shell's 128 + SIGPIPE), as `| head` does


def main(argv: list[str] | None = None) -> int:
    """The `wafersim` command; its exit code. Output piped to a reader that stops early (`| head`) ends it
    quietly: whatever it was writing to a results folder is complete or was never started."""
    try:
        return _main(argv)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)  # the interpreter's last flush of stdout must not fail again
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "quiet", False):
        args.no_progress = True
    if args.command == "schema":
        return _schema(args)
    if args.command == "plot":
        return _plot(args)
    if args.command == "compare":
        return _compare(args)
    if args.command == "sweep":
        from .sweep.command import main as sweep_main

        return sweep_main(args)
    from .config import ConfigError, load_scenario
    from .training.data import DataError

    overrides = list(args.overrides)
    if getattr(args, "timing_only", False):
        overrides.append("timing_only=true")
    if getattr(args, "allow_large", False):
        overrides.append("allow_large=true")
    try:
        scenario = load_scenario(args.scenario, overrides)
        from . import runner
        if args.command == "validate":
            prepared = runner.prepare(scenario, str(args.scenario))
            sram = _sram_bounds(prepared.layout)
            print(f"{args.scenario}: valid ({scenario.training.algorithm}, {scenario.pe_roles()} on "
                  f"{scenario.hardware.name}, {len(prepared.data.y_train)} training samples; SRAM bound per "
                  f"{'PE' if prepared.layout.regions is None else 'block (the largest of each layer)'}: "
                  f"{sram} of {scenario.hardware.pe.sram_bytes:,} bytes)")
            print(f"  expected cost: {prepared.cost.describe()}")
            if not scenario.training.data_parallel:
                from .periods import describe

                for line in describe(scenario, prepared.layout):
                    print(line)
            return 0
        return _run(args, scenario, runner)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except DataError as exc:
        return _fail(f"{args.scenario}: {exc}", EXIT_CONFIG)
    except KeyboardInterrupt:
        return _fail("interrupted before the run started; nothing was written", EXIT_INTERRUPTED)


def _run(args, scenario, runner) -> int:
    """Run a loaded scenario into its results folder: checked and locked before the run, written aside and renamed
    into place whole after it. ConfigError and DataError (the data set, the SRAM check) reach the caller."""
    from . import signals
    from .results import write

    from . import checkpoint
    from .session import CheckpointPolicy

    out_dir = args.out or Path("results") / scenario.name
    saves = checkpoint.folder_of(out_dir)
    if args.resume:
        try:
            checkpoint.header(saves)
        except checkpoint.CheckpointError as exc:
            return _fail(f"{args.scenario}: cannot resume: {exc}", EXIT_CONFIG)
    force = args.force or args.resume  # a resumed run replaces the folder of the interrupted one
    problem = _out_folder_problem(out_dir, force, (args.scenario,)) or _check_view(args)
    if problem:
        return _fail(problem, EXIT_CONFIG)
    policy = CheckpointPolicy(samples=args.checkpoint_every, seconds=60 * args.checkpoint_minutes or None)
    with signals.deferring():
        claim = _claim(out_dir, force, (args.scenario,))
        if isinstance(claim, str):
            return _fail(claim, EXIT_CONFIG)
        with claim:
            if signals.received():
                return _before_start(signals.received())
            start = time.perf_counter()
            try:
                # The op and message logs are kept for the figures and trace.json that need them.
                result = runner.run(scenario, source=str(args.scenario), progress=not args.no_progress,
                                    trace=args.trace or not args.no_figures,
                                    checkpoint=runner.Checkpointing(saves, policy, resume=args.resume))
            except checkpoint.CheckpointError as exc:
                return _fail(f"{args.scenario}: cannot resume: {exc}", EXIT_CONFIG)
            wall = time.perf_counter() - start
            if result.status != "interrupted":
                checkpoint.remove(saves)
            failed, late = _write_claimed(claim, lambda folder: write(result, folder, figures=not args.no_figures,
                                                                      **_view(args)))
            stop = signals.received()
    if failed:
        return _fail(f"{args.scenario}: {failed}", EXIT_WRITE)
    if late:
        return _fail(_late_window(late, out_dir), EXIT_CONFIG)
    if not args.quiet:
        print(_summary(result, out_dir, wall))
    if result.status == "interrupted":
        again = (f"; go on from its last checkpoint with `wafersim run {args.scenario} --out {out_dir} --resume`"
                 if (saves / checkpoint.HEADER).is_file() else "")
        return _fail(f"{args.scenario}: {result.message}. Results up to that point are in {out_dir}{again}.",
                     _stop_code(stop))
    if stop:
        return _fail(f"{args.scenario}: {signals.signal_name(stop)} arrived while the results were written; they "
                     f"were finished first and are in {out_dir}.", _stop_code(stop))
    if result.status == "diverged":
        return _fail(f"{args.scenario}: {result.message}. Results up to that point are in {out_dir}.", EXIT_DIVERGED)
    if result.status == "stalled":
        return _fail(f"{args.scenario}: {result.message}. Results up to that point are in {out_dir}.", EXIT_STALLED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
