"""The values of a sweep axis: a list, or a log-spaced, linear, integer-range or seeded random series.

Each form is a strict model with `values()`, the axis's values in order; `Axis` is the type
of an entry of a sweep file's `axes`, told apart by the one key of its form.
"""

from __future__ import annotations

import copy
import math
from typing import Annotated, Any, ClassVar, Literal, Union

import numpy as np
from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from ..config import _show
from ..schema import INT64_LIMIT, Strict

MAX_POINTS = 10_000  # validating a point takes milliseconds; beyond this a sweep is a mistake, not a plan


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_plain(value: Any) -> bool:
    """Whether a value is what a scenario holds (and `_yaml` writes back exactly): no dates, no non-finite floats."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and is_plain(v) for k, v in value.items())


def _decimal(v: np.floating) -> float:
    """A computed value as its 15-digit decimal when that is within 4 ulps (float noise): 0.030000000000000013
    reads 0.03, in tables and overrides alike, while values closer together than that stay distinct."""
    v = float(v)
    rounded = float(f"{v:.15g}")
    return rounded if abs(rounded - v) <= 4 * math.ulp(v) else v


def _count(value: Any, what: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_POINTS:
        raise ValueError(f"{what} must be a whole number from {low} to {MAX_POINTS:,} (got {_show(value)})")
    return value


def _ends(value: Any, kind: str, positive: bool) -> tuple[float, float]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(is_number(v) and (v > 0 or not positive) for v in value)):
        raise ValueError(f"{kind} needs two {'positive ' if positive else ''}numbers [low, high] (got {_show(value)})")
    return float(value[0]), float(value[1])


def _values_list(value: Any) -> Any:
    if isinstance(value, list) and not value:
        raise ValueError("an empty list of values; give at least one")
    if isinstance(value, list) and not all(is_plain(v) for v in value):
        raise ValueError(f"values must be numbers, text, true/false, null or lists and mappings of them (got "
                         f"{_show(value)}); quote a date")
    return value


Count = Annotated[int, BeforeValidator(lambda v: _count(v, "num", 2))]  # how many values: 2 to MAX_POINTS


def _spaced(ends: tuple[float, float], num: int, space) -> list:
    """`num` values of numpy's `space` (linspace or geomspace) from ends[0] to ends[1], the ends exactly as written
    (whatever the rounding of exp(log(x)))."""
    out = [_decimal(v) for v in space(*ends, num)]
    out[0], out[-1] = ends
    return out


class LogSpace(Strict):
    """`num` values evenly spaced on a log scale from `logspace[0]` to `logspace[1]`, both ends included."""

    kind: ClassVar[str] = "logspace"
    logspace: Annotated[tuple[float, float], BeforeValidator(lambda v: _ends(v, "logspace", True))] = Field(
        description="[low, high], both positive")
    num: Count = Field(ge=2, le=MAX_POINTS)

    def values(self) -> list:
        return _spaced(self.logspace, self.num, np.geomspace)


class LinSpace(Strict):
    """`num` values evenly spaced from `linspace[0]` to `linspace[1]`, both ends included."""

    kind: ClassVar[str] = "linspace"
    linspace: Annotated[tuple[float, float], BeforeValidator(lambda v: _ends(v, "linspace", False))] = Field(
        description="[low, high]")
    num: Count = Field(ge=2, le=MAX_POINTS)

    def values(self) -> list:
        return _spaced(self.linspace, self.num, np.linspace)


class Range(Strict):
    """The integers of Python's `range(start, stop, step)`: the stop excluded, the step 1 if not given."""

    kind: ClassVar[str] = "range"
    range: tuple[int, int] | tuple[int, int, int] = Field(description="[start, stop] or [start, stop, step]")

    @field_validator("range", mode="before")
    @classmethod
    def _range(cls, v: Any) -> tuple:
        if not (isinstance(v, (list, tuple)) and len(v) in (2, 3) and all(isinstance(i, int) and not isinstance(i, bool)
                                                                 and abs(i) < INT64_LIMIT for i in v)):
            raise ValueError(f"range needs two or three whole numbers [start, stop, step] (got {_show(v)})")
        if len(v) == 3 and v[2] == 0:
            raise ValueError("range has step 0; give a step other than 0")
        if not 1 <= len(range(*v)) <= MAX_POINTS:
            raise ValueError(f"range {v} holds {len(range(*v)):,} values; give from 1 to {MAX_POINTS:,}")
        return tuple(v)

    def values(self) -> list:
        return list(range(*self.range))


class Random(Strict):
    """`n` values drawn by `numpy.random.default_rng(seed)`: uniform or log-uniform in [low, high), or from `values`."""

    kind: ClassVar[str] = "random"
    random: Literal["uniform", "loguniform", "choice"]
    low: float | None = None
    high: float | None = None
    values_: Annotated[list[Any] | None, BeforeValidator(_values_list)] = Field(
        default=None, alias="values", description="the values to choose from (choice)")
    n: Annotated[int, BeforeValidator(lambda v: _count(v, "n", 1))] = Field(ge=1, le=MAX_POINTS, description="draws")
    seed: int = Field(ge=0, description="seed of the draws: the same seed, the same values")

    @model_validator(mode="after")
    def _fits(self) -> "Random":
        if self.random == "choice":
            if self.values_ is None or self.low is not None or self.high is not None:
                raise ValueError("random: choice takes values (a list), not low and high")
        elif self.values_ is not None or self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"random: {self.random} takes low < high, not values (got low {self.low}, "
                             f"high {self.high})")
        elif self.random == "loguniform" and self.low <= 0:
            raise ValueError(f"random: loguniform needs a positive low (got {self.low})")
        return self

    def values(self) -> list:
        rng = np.random.default_rng(self.seed)
        if self.random == "choice":
            return [copy.deepcopy(self.values_[int(i)]) for i in rng.integers(0, len(self.values_), self.n)]
        if self.random == "uniform":
            return [float(v) for v in rng.uniform(self.low, self.high, self.n)]
        draws = np.exp(rng.uniform(math.log(self.low), math.log(self.high), self.n))
        return [float(v) for v in np.clip(draws, self.low, self.high)]  # exp(log(x)) may round past an end


SPECS = {m.kind: m for m in (LogSpace, LinSpace, Range, Random)}


def spec_kind(value: Any) -> str | None:
    """Which form an axis takes: a list, or the one of logspace/linspace/range/random its mapping holds."""
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        kinds = [k for k in SPECS if k in value]
        return kinds[0] if len(kinds) == 1 else None
    return getattr(value, "kind", None)


Axis = Annotated[Union[tuple([Annotated[list[Any], BeforeValidator(_values_list), Tag("list")],
                             *(Annotated[m, Tag(k)] for k, m in SPECS.items())])],
                 Discriminator(spec_kind, custom_error_type="axis_form", custom_error_message="not an axis")]
