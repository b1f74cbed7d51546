"""One run of a sweep: where its results go, the values it sets, and its validated scenario."""

from __future__ import annotations

from dataclasses import dataclass

from ..checkpoint import scenario_digest
from ..config import Scenario

POINTS = "points"  # DIR/points/<name>: one results folder per point
ROW_COLUMNS = ("point", "status", "message", "wall_seconds")  # the first columns of a row, before the swept keys


@dataclass(frozen=True)
class Point:
    """A point of a sweep: its folder name under DIR/points, the dotted keys its axes and seed set, and its scenario.

    `values` holds every swept key (the axes', derived ones, and `training.seed` when the
    sweep has seeds) in the order the sweep file gives them; `digest` fingerprints the
    validated scenario, so a rerun knows a finished point by it.
    """

    name: str
    values: dict[str, object]
    scenario: Scenario

    @property
    def digest(self) -> str:
        return scenario_digest(self.scenario)
