"""The `wafersim` command: run and validate scenarios. No simulation logic lives here."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EXIT_CONFIG = 2  # a scenario, hardware file or data set that cannot be used
EXIT_DIVERGED = 3  # the run stopped because the loss was no longer finite
EXIT_INTERRUPTED = 130  # Ctrl-C


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wafersim", description="Simulate layer-parallel training on a wafer-scale mesh.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train a scenario on the simulated chip and write its results")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument("--out", type=Path, default=None, help="results folder (default: results/<scenario name>)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                     help="override a scenario key, e.g. --set training.learning_rate=0.05 (repeatable)")
    run.add_argument("--timing-only", action="store_true", help="run the schedule without arithmetic")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    validate = sub.add_parser("validate", help="check a scenario and its hardware without running it")
    validate.add_argument("scenario", type=Path)
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value")
    return parser


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


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
        ("final test accuracy", "-" if acc is None else f"{acc:.2%}"),
        ("final train loss", "-" if loss is None else f"{loss:.4f}"),
        ("peak SRAM per PE", f"{max(m['peak_sram_bytes'].values()):,} bytes"),
        ("wall time", f"{wall_seconds:.1f} s ({m['samples_trained'] / max(wall_seconds, 1e-9):,.0f} samples/s)"),
        ("results", str(out_dir)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{width}}  {v}" for k, v in rows]
    layer_lines = [f"  {'layer':>5} {'PE':>7} {'holds':>6} {'util':>6} {'in flight':>9} {'staleness':>9} "
                   f"{'peak SRAM':>11}"]
    for layer in m["layers"]:
        st = layer["staleness"]["mean"]
        layer_lines.append(f"  {layer['layer']:>5} {str((layer['row'], layer['col'])):>7} {layer['role']:>6} "
                           f"{layer['utilization']:>6.1%} {layer.get('max_in_flight', '-'):>9} "
                           f"{'-' if st is None else f'{st:.2f}':>9} {layer['peak_sram_bytes']:>11,}")
    return "\n".join(lines + [""] + layer_lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .config import ConfigError, load_scenario
    from .training.data import DataError

    overrides = list(args.overrides)
    if getattr(args, "timing_only", False):
        overrides.append("timing_only=true")
    try:
        scenario = load_scenario(args.scenario, overrides)
        from . import runner
        if args.command == "validate":
            prepared = runner.prepare(scenario, str(args.scenario))
            sram = ", ".join(f"{p.label} {p.memory.total:,}" for p in prepared.layout.placed)
            print(f"{args.scenario}: valid ({scenario.training.algorithm}, {scenario.pe_roles()} on "
                  f"{scenario.hardware.name}, {len(prepared.data.y_train)} training samples; SRAM bound per PE: "
                  f"{sram} of {scenario.hardware.pe.sram_bytes:,} bytes)")
            return 0
        out_dir = args.out or Path("results") / scenario.name
        if out_dir.exists() and not out_dir.is_dir():
            return _fail(f"--out {out_dir} is a file, not a folder; give a folder for the results", EXIT_CONFIG)
        start = time.perf_counter()
        result = runner.run(scenario, source=str(args.scenario), progress=not args.no_progress)
        wall = time.perf_counter() - start
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except DataError as exc:
        return _fail(f"{args.scenario}: {exc}", EXIT_CONFIG)

    from .results import write
    write(result, out_dir)
    print(_summary(result, out_dir, wall))
    if result.status == "diverged":
        return _fail(f"{args.scenario}: {result.message}. Results up to that point are in {out_dir}.", EXIT_DIVERGED)
    if result.status == "interrupted":
        return _fail(f"{args.scenario}: {result.message}. Results up to that point are in {out_dir}.", EXIT_INTERRUPTED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
