"""Figures drawn from a run's results alone (metrics, curve, op table); nothing here runs the simulator."""

from .convergence import convergence, has_staleness, staleness_histograms
from .draw import draw_all
from .mesh import utilization_map, utilization_maps
from .pipeline import WindowError, check_window, default_window, in_window, pipeline_diagram, pipeline_stack, resolve_window
from ..records import KIND_COLORS, KIND_NAMES
from .style import PNG_META, save

__all__ = ["KIND_COLORS", "KIND_NAMES", "PNG_META", "WindowError", "check_window", "convergence", "default_window", "draw_all",
           "has_staleness", "in_window", "pipeline_diagram", "pipeline_stack", "resolve_window", "save",
           "staleness_histograms", "utilization_map", "utilization_maps"]
