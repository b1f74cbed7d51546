"""The base of every configuration section: unknown keys are errors and values are never coerced.

Kept apart from `config.py` so that algorithms and optimizers can declare their own
sections without importing the scenario loader.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A configuration section: unknown keys are errors and values are never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
