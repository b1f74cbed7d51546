"""The synthetic-gradient modules of a dni run: how well each M_k predicts its gradient, as training goes on."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

MAX_LINES = 12  # interfaces drawn as a curve each, at most; more are drawn as their final values per layer


def interfaces(metrics: dict) -> list[dict]:
    """The `layers` rows of metrics.json that hold a synthetic-gradient module."""
    return [row for row in metrics["layers"] if "synthetic" in row]


def has_synthetic(metrics: dict) -> bool:
    return bool(interfaces(metrics))


def _values(curve: list, column: int) -> np.ndarray:
    return np.array([np.nan if point[column] is None else point[column] for point in curve], dtype=float)


def synthetic_curves(metrics: dict):
    """Two panels: M_k's regression loss 1/2 ||M_k(h) - target||^2 and the cosine between its
    prediction and the target, means over each evaluation's samples, one line per interface
    (or, past MAX_LINES interfaces, their final values against the layer)."""
    rows = interfaces(metrics)
    fig, (loss_ax, cos_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    if len(rows) > MAX_LINES:
        layers = [row["layer"] for row in rows]
        finals = [row["synthetic"]["final_loss"] for row in rows]
        cosines = [row["synthetic"]["final_cosine"] for row in rows]
        loss_ax.plot(layers, [np.nan if v is None else v for v in finals], lw=1)
        cos_ax.plot(layers, [np.nan if v is None else v for v in cosines], lw=1)
        loss_ax.set(xlabel="interface after layer", title="Final synthetic-gradient loss per interface")
        cos_ax.set(xlabel="interface after layer", title="Final cos(prediction, target) per interface")
    else:
        for row in rows:
            curve = row["synthetic"]["curve"]
            samples = np.array([point[0] for point in curve], dtype=float)
            for ax, column in ((loss_ax, 1), (cos_ax, 2)):
                values = _values(curve, column)
                if np.isfinite(values).any():
                    ax.plot(samples, values, marker=".", label=f"after layer {row['layer']}")
        loss_ax.set(xlabel="samples trained", title="Synthetic-gradient loss (mean over each evaluation's samples)")
        cos_ax.set(xlabel="samples trained", title="cos(prediction, target) (mean over each evaluation's samples)")
    loss_ax.set_ylabel("1/2 ||M_k(h_k) - dL/dh_k||^2")
    cos_ax.set_ylabel("cosine")
    cos_ax.set_ylim(-1.05, 1.05)
    for ax in (loss_ax, cos_ax):
        ax.grid(alpha=0.3)
        if ax.get_lines() and any(np.isfinite(line.get_ydata()).any() for line in ax.get_lines()):
            if ax is loss_ax and all(np.nanmin(line.get_ydata()) > 0 for line in ax.get_lines()
                                     if np.isfinite(line.get_ydata()).any()):
                ax.set_yscale("log")
            if len(rows) <= MAX_LINES:
                ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no arithmetic (timing-only run)", ha="center", va="center", transform=ax.transAxes)
    scen = metrics["scenario"]
    kind = "cDNI" if rows and rows[0]["synthetic"]["conditioned"] else "DNI"
    fig.suptitle(f"{kind} synthetic-gradient modules ({scen['name']}): how well M_k predicts dL/dh_k", fontsize=10)
    fig.tight_layout()
    return fig
