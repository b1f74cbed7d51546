"""Write a run's results folder (metrics.json, curve.csv, weights.npz, ops.npz, messages.npz,
figures, optionally trace.json) and read one back.

Every file is a deterministic function of the run: no timestamps, sorted or fixed order,
so the same scenario and seed give byte-identical files.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .runner import RunResult

CURVE_HEADER = "samples,cycle,train_loss,test_accuracy"
TABLES = ("ops", "messages")  # saved as <name>.npz when the run recorded them


class ResultsError(Exception):
    """A folder that is not a readable results folder."""


@dataclass(frozen=True)
class Saved:
    """A results folder read back: everything figures and the trace are drawn from."""

    metrics: dict
    curve: list[tuple[int, int, float, float]]
    ops: dict[str, np.ndarray] = field(default_factory=dict)  # records.OPS_COLUMNS, or empty
    messages: dict[str, np.ndarray] = field(default_factory=dict)  # records.MESSAGE_COLUMNS, or empty


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like numpy.savez, but with fixed zip timestamps so equal arrays give equal bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())


def _number(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else repr(x)


def curve_csv(curve: list[tuple]) -> str:
    lines = [CURVE_HEADER] + [f"{s},{c},{_number(loss)},{_number(acc)}" for s, c, loss, acc in curve]
    return "\n".join(lines) + "\n"


def read_curve(path: Path) -> list[tuple[int, int, float, float]]:
    """curve.csv back into rows; empty fields (timing-only runs) become NaN."""
    rows = []
    for line in Path(path).read_text().splitlines()[1:]:
        s, c, loss, acc = line.split(",")
        rows.append((int(s), int(c), float(loss) if loss else math.nan, float(acc) if acc else math.nan))
    return rows


def read(out_dir: Path) -> Saved:
    """Load a results folder written by `write`; raise ResultsError if it is not one."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ResultsError(f"{out_dir}: no such folder; give a results folder written by `wafersim run --out DIR`")
    try:
        metrics = json.loads((out_dir / "metrics.json").read_text())
        curve = read_curve(out_dir / "curve.csv")
    except FileNotFoundError as exc:
        raise ResultsError(f"{out_dir} is not a results folder: {Path(exc.filename).name} is missing; "
                           "give a folder written by `wafersim run --out DIR`") from None
    except ValueError as exc:
        raise ResultsError(f"{out_dir} holds a damaged metrics.json or curve.csv ({exc}); "
                           "run the scenario again") from None
    tables = {}
    for name in TABLES:
        path = out_dir / f"{name}.npz"
        if path.is_file():
            with np.load(path) as data:
                tables[name] = {key: data[key] for key in data.files}
    return Saved(metrics, curve, **tables)


def render(results: RunResult | Saved, out_dir: Path, window: tuple | None = None, samples: int | None = None,
           link_samples: bool = False, figures: bool = True, trace: bool = False) -> list[Path]:
    """Draw the figures of `results` into out_dir, and trace.json if asked; return the paths.

    The pipeline diagram shows `window` (from, to) cycles, or the first `samples` samples,
    or by default the opening stretch.
    """
    paths = []
    if trace:
        from .trace import write_trace

        paths.append(write_trace(results, Path(out_dir) / "trace.json"))
    if figures:
        from . import plots

        paths += plots.draw_all(results, out_dir, window, samples, link_samples)
    return paths


INDENT_UP_TO = 4096  # PEs listed in metrics.json: indented for reading up to this many, compact beyond


def metrics_json(metrics: dict) -> str:
    """metrics.json's text: indented, or for a wafer's hundreds of thousands of PE rows compact (one
    line, which Python's C encoder writes some ten times faster than its indenting one)."""
    indent = 2 if len(metrics.get("pe_utilization", ())) <= INDENT_UP_TO else None
    return json.dumps(metrics, indent=indent, allow_nan=False) + "\n"


def write(result: RunResult, out_dir: Path, figures: bool = True, trace: bool = False, **view) -> list[Path]:
    """Write every results file into out_dir (created if needed); return the paths written.

    `view` (window, samples, link_samples) is passed to `render`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "metrics.json", out_dir / "curve.csv", out_dir / "weights.npz"]
    paths[0].write_text(metrics_json(result.metrics))
    paths[1].write_text(curve_csv(result.curve))
    save_npz(paths[2], result.weights)
    for name in TABLES:
        table = getattr(result, name)
        if table:
            paths.append(out_dir / f"{name}.npz")
            save_npz(paths[-1], table)
    return paths + render(result, out_dir, figures=figures, trace=trace, **view)
