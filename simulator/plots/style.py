"""What every figure shares: the idle colour, titles and byte-reproducible PNG saving (op colours live in `records`)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

# Draw off-screen, except in a notebook kernel, whose inline backend shows the figures.
if "inline" not in os.environ.get("MPLBACKEND", ""):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

IDLE_COLOR = "#e8e8e8"
PNG_META = {"Software": None}  # no version string, so figures are reproducible byte for byte
DPI = 110


def save(fig, path: Path, dpi: int = DPI) -> Path:
    """Write `fig` as a PNG without metadata that varies, then close it."""
    fig.savefig(path, dpi=dpi, metadata=PNG_META, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def run_title(metrics: dict) -> str:
    """"CP on small-mesh (quickstart)": algorithm, hardware and scenario name of a run."""
    scen = metrics["scenario"]
    return f"{scen['training']['algorithm'].upper()} on {scen['hardware']['name']} ({scen['name']})"
