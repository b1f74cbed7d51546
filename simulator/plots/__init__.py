"""Figures drawn from a run's results alone (metrics, curve, op table); nothing here runs the simulator.

The pipeline window (`window`) loads at once; the figures, which import matplotlib (about a
second), load on first use, so a run without figures never imports it.
"""

from importlib import import_module

from ..records import KIND_COLORS, KIND_NAMES
from .window import WindowError, check_window, default_window, in_window, resolve_window

# Name -> the module of this package that defines it, imported when the name is first asked for.
_LAZY = {
    "convergence": "curves", "has_staleness": "curves", "staleness_histograms": "curves",
    "draw_all": "draw",
    "utilization_map": "mesh", "utilization_maps": "mesh",
    "pipeline_diagram": "pipeline", "pipeline_stack": "pipeline",
    "PNG_META": "style", "save": "style",
    "metric_lines": "sweep", "paired_differences": "sweep", "heat_map": "sweep",
    "has_synthetic": "synthetic", "synthetic_curves": "synthetic",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # asked once
    return value


__all__ = ["KIND_COLORS", "KIND_NAMES", "PNG_META", "WindowError", "check_window", "convergence", "default_window", "draw_all",
           "has_staleness", "heat_map", "in_window", "metric_lines", "paired_differences", "pipeline_diagram",
           "pipeline_stack", "resolve_window", "save", "staleness_histograms", "synthetic_curves", "utilization_map",
           "utilization_maps", "has_synthetic"]
