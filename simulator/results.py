"""Write a run's results folder: metrics.json, curve.csv, weights.npz, ops.npz and the figures.

Every file is a deterministic function of the run: no timestamps, sorted or fixed order,
so the same scenario and seed give byte-identical files.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from .runner import RunResult

CURVE_HEADER = "samples,cycle,train_loss,test_accuracy"


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


def write(result: RunResult, out_dir: Path, figures: bool = True) -> list[Path]:
    """Write every results file into out_dir (created if needed); return the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "metrics.json", out_dir / "curve.csv", out_dir / "weights.npz"]
    paths[0].write_text(json.dumps(result.metrics, indent=2, allow_nan=False) + "\n")
    paths[1].write_text(curve_csv(result.curve))
    save_npz(paths[2], result.weights)
    if result.ops:
        paths.append(out_dir / "ops.npz")
        save_npz(paths[-1], result.ops)
    if figures:
        from . import plots
        paths += plots.draw_all(result.metrics, result.curve, result.ops, out_dir)
    return paths
