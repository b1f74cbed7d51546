"""Every figure of one run, written as PNGs into its results folder."""

from __future__ import annotations

from pathlib import Path

from .curves import convergence, has_staleness, staleness_histograms
from .mesh import utilization_map
from .pipeline import Window, pipeline_diagram
from .style import save
from .synthetic import has_synthetic, synthetic_curves


def draw_all(results, out_dir: Path, window: Window | None = None, samples: int | None = None,
             link_samples: bool = False) -> list[Path]:
    """Write utilization.png, convergence.png, pipeline.png (with an op table), staleness.png
    (when some update was stale) and synthetic.png (a dni run's synthetic-gradient modules)
    for `results` (anything with metrics, curve and ops).

    `window` (from, to) cycles or the first `samples` samples choose the pipeline's stretch;
    the pipeline comes last, so a window the run does not reach (WindowError) costs only it.
    """
    out_dir = Path(out_dir)
    metrics = results.metrics
    paths = [save(utilization_map(metrics), out_dir / "utilization.png"),
             save(convergence({metrics["scenario"]["name"]: (metrics, results.curve)}), out_dir / "convergence.png")]
    if has_staleness(metrics):
        paths.append(save(staleness_histograms(metrics), out_dir / "staleness.png"))
    if has_synthetic(metrics):
        paths.append(save(synthetic_curves(metrics), out_dir / "synthetic.png"))
    if results.ops and len(results.ops.get("start", ())):
        fig = pipeline_diagram(results.ops, metrics, window, samples, link_samples=link_samples)
        paths.append(save(fig, out_dir / "pipeline.png"))
    return paths
