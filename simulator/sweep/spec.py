"""Sweep files: a base scenario, fixed overrides, axes over dotted keys and seeds, expanded into points.

`load_sweep` reads and checks a sweep file (every problem a `ConfigError` naming the key);
`expand` turns it into `Point`s in a fixed order: with `combine: product` the first axis
varies slowest (as `itertools.product`), with `zip` the axes advance together, and seeds
(`training.seed` = 0..N-1) always vary fastest. Each point's scenario is the base scenario
with, in this order, the `set` overrides, the point's values and the CLI's `--set` strings;
every point is validated before any is returned.
"""

from __future__ import annotations

import ast
import copy
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from ..config import ConfigError, _read_yaml, _resolve, _show, load_scenario, parse_override
from ..schema import INT64_LIMIT, Strict
from .axes import MAX_POINTS, SPECS, Axis, is_number, is_plain
from .expression import ALLOWED, evaluate, names_in
from .point import Point

SEED_KEY = "training.seed"
_KEY = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
_PATH_KEYS = ("hardware", "dataset.path")  # string values that are paths: relative to the sweep file


def _yaml(value: Any) -> str:
    """A value as flow YAML that the scenario loader reads back exactly (floats by repr, strings escaped)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return repr(value)  # repr(float) round-trips; the loader reads 1e-05 as a float, as YAML 1.2 does
    if isinstance(value, str):  # double-quoted, every non-ASCII or control character escaped (no line folding)
        return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else
                             f"\\{c}" if c in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else
                             f"\\U{ord(c):08x}" for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_yaml(k)}: {_yaml(v)}" for k, v in value.items()) + "}"


class ReportHints(Strict):
    """Which columns the sweep's figures plot: the metric, the x axis, the key that groups lines and the paired key."""

    metric: str | None = Field(default=None, description="a metrics.json key, e.g. final_test_accuracy")
    x: str | None = Field(default=None, description="a swept key for the x axis")
    group: str | None = Field(default=None, description="a swept key: one line per value")
    pair: str | None = Field(default=None, description="a swept key whose values are compared seed by seed")


class SweepFile(Strict):
    """A sweep file as written: the base scenario, the fixed overrides, the axes, derived keys and seeds."""

    name: str = Field(description="folder-safe name of the sweep")
    scenario: str = Field(description="the base scenario, relative to this file")
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set", description="dotted key -> value for every point")
    combine: Literal["product", "zip"] = Field(default="product", description="product: every combination; zip: "
                                                                              "the axes side by side")
    axes: dict[str, Axis] = Field(default_factory=dict, description="dotted key -> a list, logspace, linspace, range "
                                                                    "or random")
    derived: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, description="dotted key -> expression of other keys")
    seeds: int | None = Field(default=None, ge=1, le=MAX_POINTS, description="training.seed takes 0..seeds-1")
    scheduler: str | None = Field(default=None, description="address of a Dask scheduler (default: a local cluster)")
    report: ReportHints = ReportHints()

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}", value):
            raise ValueError(f"{_show(value)} cannot be a folder name: use 1 to 100 letters, digits, '.', '_' or '-', "
                             "not starting with '.'")
        return value


def sweep_schema() -> dict:
    """The JSON Schema of a sweep file (for editors' YAML language servers)."""
    schema = SweepFile.model_json_schema(by_alias=True)
    schema["title"] = "wafersim sweep file"
    return schema


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    """A pydantic error on a sweep file as (dotted key, text) pairs; an axis's problems name the axis, then the part."""
    problems = []
    for item in error.errors(include_url=False):
        loc, kind, msg = tuple(item["loc"]), item["type"], str(item["msg"]).removeprefix("Value error, ")
        got = _show(item.get("input"))
        if loc and loc[-1] == "[key]":
            problems.append((".".join(map(str, loc[:-2])), f"the key {_show(loc[-2])} is not text"))
            continue
        axis = loc[:1] == ("axes",) and len(loc) >= 2
        key = ".".join(map(str, loc[:2] if axis else loc))
        tag, part = (loc[2:] + (None, None))[:2] if axis else (None, loc[-1] if loc else None)
        if kind == "axis_form":
            inside = [k for k in SPECS if isinstance(item.get("input"), dict) and k in item["input"]]
            text = (f"holds {' and '.join(inside)}; give one of them" if inside else
                    f"give a list of values or a mapping with one of {', '.join(SPECS)} (got {got})")
        elif kind in ("extra_forbidden", "missing"):
            model = SPECS.get(tag) or (ReportHints if loc[:1] == ("report",) else SweepFile)
            allowed = ", ".join(f.alias or k for k, f in model.model_fields.items())
            if axis:
                what = f"unknown key {part!r}" if kind == "extra_forbidden" else f"{part} is missing"
                text = f"{what}; a {tag} axis takes {allowed}"
            else:
                text = (f"unknown key; allowed here: {allowed}" if kind == "extra_forbidden"
                        else "required key is missing")
        elif kind == "value_error":
            text = msg
        else:
            text = f"{part + ': ' if axis and isinstance(part, str) else ''}{msg} (got {got})"
        problems.append((key, text))
    return list(dict.fromkeys(problems))


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file: its contents, where it is, the base scenario it varies and the CLI's --set strings."""

    spec: SweepFile
    path: Path
    base: Path  # the base scenario, absolute
    overrides: tuple[str, ...] = ()
    expressions: tuple[tuple[str, ast.Expression, dict[str, str]], ...] = ()  # derived key, parsed, name -> key

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def scheduler(self) -> str | None:
        """The file's default Dask scheduler address (the CLI's --scheduler overrides it)."""
        return self.spec.scheduler

    @property
    def axis_keys(self) -> list[str]:
        """The swept keys as a point's `values` holds them: the axes, then derived keys, then training.seed."""
        return [*self.spec.axes, *self.spec.derived, *([SEED_KEY] if self.spec.seeds else [])]

    def describe(self) -> dict:
        """What the CLI writes to sweep.json: enough to read the table and draw the figures without the file."""
        s = self.spec
        return {"name": s.name, "sweep": str(self.path), "scenario": str(self.base), "combine": s.combine,
                "axes": self.axis_keys, "seeds": s.seeds, "set": dict(s.fixed), "overrides": list(self.overrides),
                "derived": dict(s.derived), "scheduler": s.scheduler, "report": s.report.model_dump()}


def _axis_values(axis: Any) -> list:
    return copy.deepcopy(axis) if isinstance(axis, list) else axis.values()


def _check(spec: SweepFile, base: Path) -> tuple[list[tuple[str, str]], list]:
    """What the schema cannot see: keys, overlaps, lengths, the point count, report hints and derived expressions."""
    problems = [] if base.is_file() else [("scenario", f"{_show(spec.scenario)} is not a file ({base}); give the "
                                                       "base scenario's path, relative to the sweep file")]
    for section, keys in (("set", spec.fixed), ("axes", spec.axes), ("derived", spec.derived)):
        problems += [(f"{section}.{k}", "is not a dotted key such as training.learning_rate") for k in keys
                     if not _KEY.fullmatch(k)]
    problems += [(f"set.{k}", f"{_show(v)} is not a scenario value (numbers, text, true/false, null, lists and "
                              "mappings); quote a date") for k, v in spec.fixed.items() if not is_plain(v)]
    problems += [(f"axes.{k}", "is also fixed by set; keep it in one of the two") for k in spec.axes if k in spec.fixed]
    problems += [(f"derived.{k}", "is also an axis; a key is either swept or derived") for k in spec.derived
                 if k in spec.axes]
    if spec.seeds:
        problems += [(f"{section}.{SEED_KEY}", "seeds sets training.seed; remove one of the two")
                     for section, keys in (("set", spec.fixed), ("axes", spec.axes), ("derived", spec.derived))
                     if SEED_KEY in keys]
    lengths = {k: len(_axis_values(a)) for k, a in spec.axes.items()}
    if not lengths and not spec.seeds:
        problems.append(("axes", "a sweep needs axes or seeds (with neither it is one run: use wafersim run)"))
    if spec.combine == "zip" and len(set(lengths.values())) > 1:
        problems.append(("combine", "zip needs axes of one length; " +
                         ", ".join(f"{k} has {n}" for k, n in lengths.items())))
    combos = min(lengths.values()) if spec.combine == "zip" and lengths else math.prod(lengths.values())
    count = combos * (spec.seeds or 1)
    if count > MAX_POINTS:
        problems.append(("axes", f"the axes and seeds make {count:,} points, more than the {MAX_POINTS:,} a sweep may "
                                 "have; use fewer values"))
    swept = [*spec.axes, *spec.derived, *([SEED_KEY] if spec.seeds else [])]
    for hint in ("x", "group", "pair"):
        key = getattr(spec.report, hint)
        if key is not None and key not in swept:
            problems.append((f"report.{hint}", f"{_show(key)} is not swept; choose one of "
                                               f"{', '.join(swept) or 'none'}"))
    if spec.report.x is not None and spec.report.x == spec.report.group:
        problems.append(("report.group", f"is report.x too ({spec.report.x}); give two different swept keys"))
    pair = spec.report.pair
    n_pair = lengths.get(pair, spec.seeds if pair == SEED_KEY else 2)  # a derived key's count is known per point only
    if n_pair != 2:
        problems.append(("report.pair", f"{pair} takes {n_pair} values; the paired figure compares a key with two"))

    # A name in an expression is a dotted key, or the last part of one when no other key ends the same way.
    known: dict[str, str | None] = {}
    expressions = []

    def learn(key: str) -> None:
        known[key] = key
        last = key.rsplit(".", 1)[-1]
        known[last] = key if known.get(last, key) == key else None

    for key in [*spec.fixed, *spec.axes, *([SEED_KEY] if spec.seeds else [])]:
        learn(key)
    for key, text in spec.derived.items():
        try:
            tree = ast.parse(text.strip(), mode="eval")
            used = names_in(tree)
        except SyntaxError as exc:
            problems.append((f"derived.{key}", f"{_show(text)} is not an expression ({exc.msg}); use {ALLOWED}"))
            continue
        except ValueError as exc:
            problems.append((f"derived.{key}", str(exc)))
            continue
        unknown = [n for n in dict.fromkeys(used) if known.get(n) is None]
        for n in unknown:
            why = "ends more than one key: write the whole dotted key" if n in known else \
                  "is no key of set, axes, seeds or an earlier derived key"
            problems.append((f"derived.{key}", f"{n} {why}"))
        if not unknown:
            expressions.append((key, tree, {n: known[n] for n in used}))
        learn(key)
    return problems, expressions


def load_sweep(path: str | Path, overrides: list[str] = ()) -> Sweep:
    """Read and check a sweep file, keeping the CLI's --set strings for every point; ConfigError on any problem."""
    path = Path(path)
    source, here = str(path), path.resolve().parent
    data = _read_yaml(path, "sweep")
    # Paths in the file are relative to it (load_scenario takes a --set path relative to the current folder).
    for section in ("set", "axes"):
        part = data.get(section)
        for key in _PATH_KEYS if isinstance(part, dict) else ():
            if isinstance(part.get(key), str) or section == "axes" and isinstance(part.get(key), list):
                paths = part[key] if isinstance(part[key], list) else [part[key]]
                paths = [_resolve(v, here, source, f"{section}.{key}") if isinstance(v, str) else v for v in paths]
                part[key] = paths if isinstance(part[key], list) else paths[0]
    try:
        spec = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc)) from None
    base = Path(_resolve(spec.scenario, here, source, "scenario"))
    problems, expressions = _check(spec, base)
    if problems:
        raise ConfigError(source, problems)
    swept = [*spec.axes, *spec.derived, *([SEED_KEY] if spec.seeds else [])]
    clash = [(key, "is swept by the sweep file; remove the --set or the axis") for key in
             (".".join(parse_override(text)[0]) for text in overrides) if key in swept]
    if clash:
        raise ConfigError("--set", clash)
    return Sweep(spec, path, base, tuple(overrides), tuple(expressions))


def expand(sweep: Sweep) -> list[Point]:
    """The sweep's points, every one validated: product order (first axis slowest) or zip order, seeds innermost.

    Raises one ConfigError naming each failing point (its name and the value at fault) and the key.
    """
    spec = sweep.spec
    keys, lists = list(spec.axes), [_axis_values(a) for a in spec.axes.values()]
    combos = list(zip(*lists)) if spec.combine == "zip" and keys else list(itertools.product(*lists))
    rows = [(combo, seed) for combo in combos for seed in (range(spec.seeds) if spec.seeds else [None])]
    width = max(4, len(str(len(rows) - 1)))
    fixed = [f"{k}={_yaml(v)}" for k, v in spec.fixed.items()]
    points, failed = [], {}  # (key, text) -> the labels of the points with that problem

    def label(name: str, values: dict, key: str) -> str:
        shown = {key: values[key]} if key in values else values
        return f"{name} ({', '.join(f'{k}={v if isinstance(v, str) else _yaml(v)}' for k, v in shown.items())})"

    for i, (combo, seed) in enumerate(rows):
        name, values = f"p{i:0{width}d}", dict(zip(keys, copy.deepcopy(combo)))
        seeded = {SEED_KEY: seed} if seed is not None else {}
        env, derived = {**spec.fixed, **values, **seeded}, {}
        try:
            for key, tree, names in sweep.expressions:
                value = env[key] = derived[key] = evaluate(tree, env, names)
                if not is_number(value) or isinstance(value, int) and abs(value) >= INT64_LIMIT:
                    raise ValueError(f"gives {_show(value)}, not a finite number")
        except (ArithmeticError, ValueError, TypeError) as exc:
            failed.setdefault((f"derived.{key}", f"{_show(spec.derived[key])} cannot be computed: {exc}"), []).append(
                label(name, {**values, **seeded}, ""))
            continue
        values = {**values, **derived, **seeded}
        try:
            scenario = load_scenario(sweep.base, fixed + [f"{k}={_yaml(v)}" for k, v in values.items()]
                                     + list(sweep.overrides))
        except ConfigError as exc:
            where = "" if exc.source in (str(sweep.base), "--set") else f"{exc.source}: "
            for key, text in exc.problems:
                failed.setdefault((key, where + text), []).append(label(name, values, key))
            continue
        points.append(Point(name, values, scenario))
    if failed:
        raise ConfigError(str(sweep.path), [
            (labels[0] + (f" and {len(labels) - 1} more point(s)" if len(labels) > 1 else ""),
             f"{key}: {text}" if key else text) for (key, text), labels in failed.items()])
    return points
