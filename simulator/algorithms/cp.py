"""Continuous propagation (paper Alg. 1, Fig. 1c): every layer forwards, back-propagates and updates every step."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..schema import Strict
from .base import Schedule, TimingRules
from .registry import PIPELINE, Algorithm


class CPOptions(Strict):
    """The keys of `training` that continuous propagation reads."""

    delta_rule: Literal["immediate", "anchored"] = Field(
        default="immediate", description="cp: the backward uses the current weights (immediate) or its forward's (anchored)")
    in_flight_slack: int = Field(default=0, ge=0, description="cp: samples a layer may hold beyond 2(D-k)+1")


class ContinuousPropagation(Schedule):
    """CP: samples stream in back to back and each layer applies each sample's gradient at once.

    Layer k may hold 2(D-k)+1 samples between their forward and their backward (plus
    `slack`): exactly what a full pipeline needs when ops take equal time, so the window
    bounds SRAM without slowing the steady state. With the immediate delta rule the
    backward uses the layer's current weights; with the anchored rule it uses the
    weights its forward used, stashed while they are still needed.
    """

    name = "cp"

    def __init__(self, n_layers: int, n_samples: int, delta_rule: str = "immediate", slack: int = 0):
        super().__init__(n_layers, n_samples)
        if delta_rule not in ("immediate", "anchored"):
            raise ValueError(f"delta_rule must be 'immediate' or 'anchored', got {delta_rule!r}")
        self.anchored = delta_rule == "anchored"
        self.slack = slack

    def window(self, layer: int) -> int:
        return 2 * (self.n_layers - layer) + 1 + self.slack

    def may_forward(self, sample: int, version: int) -> bool:
        return True

    def ends_group(self, sample: int) -> bool:
        return True

    def timing_rules(self) -> TimingRules:
        return TimingRules(gate_batch=0, group_batch=0)


ALGORITHM = Algorithm(
    name="cp", summary="continuous propagation: samples stream back to back, every layer updates per sample",
    options=CPOptions, family=PIPELINE,
    schedule=lambda o, n_layers, n_samples: ContinuousPropagation(n_layers, n_samples, o.delta_rule, o.in_flight_slack))
