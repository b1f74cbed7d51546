"""The base of every configuration section: unknown keys are errors and values are never coerced.

Kept apart from `config.py` so that algorithms and optimizers can declare their own
sections without importing the scenario loader.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

# Every integer of a configuration fits in a signed 64-bit word: cycles, bytes, counts and
# seeds end up in int64 arrays and NumPy seeds, where a larger one overflows mid-run.
INT64_LIMIT = 2**63


def _too_large(value: Any) -> bool:
    """Whether `value`, or an item of it (a list of widths, of [row, col] pairs), is an integer beyond int64."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -INT64_LIMIT <= value < INT64_LIMIT
    if isinstance(value, (list, tuple)):
        return any(_too_large(item) for item in value)
    return False


class Strict(BaseModel):
    """A configuration section: unknown keys are errors, values are never coerced, floats are finite
    and integers fit in 64 bits."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _fits_int64(cls, value: Any) -> Any:
        if _too_large(value):
            shown = f"{value:.3e}" if isinstance(value, int) else "an item of the list"
            raise ValueError(f"{shown} is too large: give a whole number between -2**63 and 2**63 - 1 (every "
                             "integer here must fit in 64 bits)")
        return value
