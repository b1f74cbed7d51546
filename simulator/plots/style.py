"""What every figure shares: colours and names of op kinds, and byte-reproducible PNG saving."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

# Draw off-screen, except in a notebook kernel, whose inline backend shows the figures.
if "inline" not in os.environ.get("MPLBACKEND", ""):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KIND_COLORS = {0: "#1f77b4", 1: "#ff7f0e", 2: "#2ca02c", 3: "#9467bd", 4: "#8c564b"}  # F, B, U, S, R
KIND_NAMES = {0: "forward (F)", 1: "backward (B)", 2: "update (U)", 3: "serve weights (S)", 4: "all-reduce add (R)"}
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
