"""Schemas for hardware and scenario files, with errors that name the file and the dotted key.

A scenario is read in four steps, each of which can fail with a `ConfigError`:

1. parse the YAML of the scenario (and of the hardware file it names);
2. apply `--set dotted.key=value` overrides (``hardware.*`` ones to the hardware
   mapping after it is loaded, so they work whether the hardware is a file or inline);
3. validate with pydantic models that forbid unknown keys and coerce nothing
   (a string is never silently read as a number);
4. check what a schema cannot: placement inside the mesh, one layer per PE.

Relative paths inside a file are relative to that file; relative paths given with
``--set`` are relative to the current directory.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from .algorithms import ALGORITHMS, Algorithm
from .optimizers import (OPTIMIZERS, ConstantSchedule, HalfLifeSchedule, MomentumConfig, OptimizerConfig,
                         ScheduleConfig, SGDConfig)
from .schema import Strict


class ConfigError(Exception):
    """A scenario or hardware description that cannot be run, with one line per problem."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s) in the configuration:"]
        lines += [f"  - {key}: {text}" if key else f"  - {text}" for key, text in problems]
        super().__init__("\n".join(lines))


class MeshConfig(Strict):
    """The size of the PE grid."""

    rows: int = Field(ge=1, description="PE rows")
    cols: int = Field(ge=1, description="PE columns")


class PEConfig(Strict):
    """One processing element: compute rate, memory and per-op cost."""

    macs_per_cycle: int = Field(ge=1, description="multiply-accumulates per cycle")
    sram_bytes: int = Field(ge=1, description="local memory in bytes")
    op_overhead_cycles: int = Field(ge=0, description="fixed cycles to issue one op")


class NocConfig(Strict):
    """The network on chip: directed links between neighbouring PEs."""

    hop_latency_cycles: int = Field(ge=0, description="cycles for a message head to cross one link")
    link_bytes_per_cycle: int = Field(ge=1, description="bytes one link carries per cycle")
    contention: bool = Field(description="links carry one message at a time (FIFO)")


class HardwareConfig(Strict):
    """A hypothetical wafer-scale chip: a mesh of identical PEs joined by a NoC."""

    name: str
    clock_hz: float = Field(gt=0, description="cycles per second")
    mesh: MeshConfig
    pe: PEConfig
    noc: NocConfig


class ModelConfig(Strict):
    """A fully connected network: layer widths from the input to the logits."""

    layers: list[int] = Field(min_length=2, description="widths, input first")
    activation: Literal["relu", "tanh"] = "relu"
    init: Literal["glorot", "he"] = "glorot"
    bias: bool = True

    @model_validator(mode="after")
    def _positive_widths(self) -> "ModelConfig":
        bad = [i for i, w in enumerate(self.layers) if w < 1]
        if bad:
            raise ValueError(f"model.layers[{bad[0]}] must be a positive width, got {self.layers[bad[0]]}")
        return self


class DatasetConfig(Strict):
    """Where the samples come from and how they are split."""

    name: Literal["digits", "mnist", "synthetic"] = "digits"
    path: str | None = Field(default=None, description="directory of IDX files (mnist)")
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    samples: int | None = Field(default=None, ge=2, description="subset size (digits, mnist) or generated count (synthetic)")


class _TrainingKeys(Strict):
    """The keys of `training` every algorithm reads; each algorithm's own keys follow (see `TrainingConfig`)."""

    algorithm: Literal[tuple(ALGORITHMS)] = Field(default="cp", description=" | ".join(ALGORITHMS))
    learning_rate: float = Field(gt=0, description="base learning rate of the optimizer's step")
    momentum: float = Field(default=0.0, ge=0, lt=1, description="shorthand for optimizer: {name: momentum, mu: ...}")
    lr_half_life_epochs: float | None = Field(
        default=None, gt=0, description="shorthand for lr_schedule: {name: half_life, half_life_epochs: ...}")
    optimizer: OptimizerConfig | None = Field(default=None, description="an optimizer name or {name: ..., its keys}")
    lr_schedule: ScheduleConfig | None = Field(default=None, description="a schedule name or {name: ..., its keys}")
    epochs: float | None = Field(default=None, gt=0)
    samples: int | None = Field(default=None, ge=1)
    eval_every: int = Field(default=500, ge=1, description="samples between evaluations")
    seed: int = 0

    @field_validator("optimizer", "lr_schedule", mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        """`optimizer: adam` is short for `optimizer: {name: adam}`."""
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> "_TrainingKeys":
        if (self.epochs is None) == (self.samples is None):
            raise ValueError("give exactly one of training.epochs and training.samples")
        algorithm = ALGORITHMS[self.algorithm]
        for key, owners in _OWNERS.items():
            if self.algorithm in owners:
                continue
            value, default = getattr(self, key), type(self).model_fields[key].default
            if value != default:
                raise ValueError(f"training.{key} is {value!r} but {self.algorithm} does not use it (it is a key of "
                                 f"{', '.join(owners)}); remove it or choose one of those algorithms")
        if self.optimizer is not None and self.momentum:
            raise ValueError(f"training.momentum ({self.momentum}) is shorthand for optimizer: {{name: momentum, mu: "
                             f"{self.momentum}}}; with training.optimizer set, give momentum inside it and remove "
                             "training.momentum")
        if self.lr_schedule is not None and self.lr_half_life_epochs is not None:
            raise ValueError("training.lr_half_life_epochs is shorthand for lr_schedule: {name: half_life, "
                             f"half_life_epochs: {self.lr_half_life_epochs}}}; give one of the two")
        optimizer = self.optimizer_config
        if OPTIMIZERS[optimizer.name].minibatch_only and not algorithm.in_order_minibatches:
            fits = ", ".join(a.name for a in ALGORITHMS.values() if a.in_order_minibatches)
            raise ValueError(f"training.optimizer: {optimizer.name} builds each direction from consecutive minibatch "
                             f"gradients of one set of weights, which {self.algorithm} does not compute (its updates "
                             f"apply per-sample or stale gradients); use it with {fits}")
        return self

    @property
    def spec(self) -> Algorithm:
        """The registered algorithm this section names."""
        return ALGORITHMS[self.algorithm]

    @property
    def options(self) -> Strict:
        """The algorithm's own keys, as its options model."""
        spec = self.spec
        return spec.options.model_validate({key: getattr(self, key) for key in spec.keys()})

    @property
    def data_parallel(self) -> bool:
        return self.spec.data_parallel

    @property
    def parameter_server(self) -> bool:
        return self.spec.parameter_server

    @property
    def optimizer_config(self):
        """The optimizer section, with the `momentum` shorthand resolved (sgd when neither is given)."""
        if self.optimizer is not None:
            return self.optimizer
        return MomentumConfig(mu=self.momentum) if self.momentum else SGDConfig()

    @property
    def schedule_config(self):
        """The learning-rate schedule section, with the `lr_half_life_epochs` shorthand resolved."""
        if self.lr_schedule is not None:
            return self.lr_schedule
        if self.lr_half_life_epochs is not None:
            return HalfLifeSchedule(half_life_epochs=self.lr_half_life_epochs)
        return ConstantSchedule()


def _algorithm_keys() -> tuple[dict, dict[str, list[str]]]:
    """The keys the registered algorithms declare (field definitions) and which algorithms declare each."""
    fields: dict[str, tuple] = {}
    owners: dict[str, list[str]] = {}
    for algorithm in ALGORITHMS.values():
        for key, info in algorithm.options.model_fields.items():
            fields.setdefault(key, (info.annotation, info))
            owners.setdefault(key, []).append(algorithm.name)
    return fields, owners


_FIELDS, _OWNERS = _algorithm_keys()
TrainingConfig = create_model("TrainingConfig", __base__=_TrainingKeys, __doc__=(
    "The training algorithm and its hyper-parameters: the common keys, then every registered algorithm's own keys "
    "(a key of another algorithm than the chosen one must keep its default)."), **_FIELDS)


class Scenario(Strict):
    """An experiment: hardware, placement, network, data and training."""

    name: str
    hardware: HardwareConfig
    placement: Literal["snake", "row"] | list[list[int]] = Field(
        default="snake", description="'snake', 'row', or a list of [row, col] pairs, one per layer")
    model: ModelConfig
    dataset: DatasetConfig = DatasetConfig()
    training: TrainingConfig
    timing_only: bool = False
    allow_sram_overflow: bool = False

    @property
    def n_layers(self) -> int:
        return len(self.model.layers) - 1

    @property
    def n_pes(self) -> int:
        """PEs the run occupies: one per layer of every worker, plus one shard per layer on a parameter server."""
        t, D = self.training, self.n_layers
        return t.workers * D + (D if t.parameter_server else 0)

    def pe_roles(self) -> str:
        """What the PEs are for, in words: '3 layers' or '4 workers x 3 layers + 3 shards'."""
        t, D = self.training, self.n_layers
        if not t.data_parallel:
            return f"{D} layers"
        shards = f" + {D} parameter-server shards" if t.parameter_server else ""
        return f"{t.workers} workers x {D} layers{shards}"


class _Loader(yaml.SafeLoader):
    """A safe YAML loader that also reads 1e9 and 1.0e9 as floats, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _safe_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def _dotted(loc: tuple) -> str:
    """('training', 'epochs') -> 'training.epochs'; ('placement', 2) -> 'placement[2]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _is_union_branch(part: Any) -> bool:
    """pydantic names the branch of a union it tried, e.g. "literal['snake','row']"; such parts are not keys."""
    return isinstance(part, str) and ("[" in part or "'" in part)


# Sections chosen by their `name` (discriminated unions): the key, and the model of each name.
_TAGGED = {"optimizer": {name: kind.config for name, kind in OPTIMIZERS.items()},
           "lr_schedule": {c.model_fields["name"].default: c for c in typing.get_args(typing.get_args(ScheduleConfig)[0])}}


def _strip_tags(loc: tuple) -> tuple[tuple, dict[int, str]]:
    """Drop the branch names pydantic puts after a named section ('optimizer', 'adam', 'beta3' -> 'optimizer',
    'beta3'); return the clean loc and, by position in it, the section name chosen there."""
    out: list = []
    tags: dict[int, str] = {}
    for i, part in enumerate(loc):
        if i and loc[i - 1] in _TAGGED and part in _TAGGED[loc[i - 1]]:
            tags[len(out) - 1] = part
            continue
        out.append(part)
    return tuple(out), tags


def _allowed_keys(model: type[BaseModel], loc: tuple, tags: dict[int, str]) -> list[str]:
    """The keys a section accepts, found by following `loc` through nested models."""
    for i, part in enumerate(loc):
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if i in tags:
            model = _TAGGED[part][tags[i]]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            break
    return list(model.model_fields)


def _problems(error: ValidationError, model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """Turn a pydantic error into (dotted key, message with the value and the fix) pairs."""
    problems = []
    for item in error.errors(include_url=False):
        tagged, tags = _strip_tags(tuple(item["loc"]))
        loc = tuple(p for p in tagged if not _is_union_branch(p))
        key = prefix + _dotted(loc)
        kind = item["type"]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            names = ", ".join(_TAGGED.get(loc[-1], {})) if loc else ""
            got = item.get("input")
            got = got.get("name") if isinstance(got, dict) else got
            text = (f"unknown name {got!r}; choose one of {names}" if kind == "union_tag_invalid"
                    else f"give the name of one of {names} (as name: ... or the name alone)")
        elif len(loc) < len(tagged):
            field = model.model_fields.get(loc[0]) if len(loc) == 1 else None
            expected = field.description if field is not None and field.description else "another form"
            text = f"expected {expected} (got {item.get('input')!r})"
        elif kind == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(model, loc[:-1], tags))
            text = f"unknown key; allowed here: {allowed}"
        elif kind == "missing":
            text = "required key is missing"
        elif kind == "value_error":
            text = str(item["msg"]).removeprefix("Value error, ")
        else:
            text = f"{item['msg']} (got {item.get('input')!r})"
            if isinstance(item.get("input"), str) and kind in ("int_type", "float_type", "bool_type"):
                text += "; a quoted value is text: write the value without quotes"
        problems.append((key, text))
    seen, unique = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def _read_yaml(path: Path, what: str) -> dict:
    """Parse one YAML mapping, or raise ConfigError naming the file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(str(path), [("", f"{what} file not found; check the path")]) from None
    except OSError as exc:
        raise ConfigError(str(path), [("", f"{what} file cannot be read: {exc.strerror}")]) from None
    try:
        data = _safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [("", f"malformed YAML{where}: {problem}; fix the syntax")]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), [("", f"a {what} file must be a YAML mapping of keys to values, got {type(data).__name__}")])
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """'training.learning_rate=0.05' -> (['training', 'learning_rate'], 0.05), the value read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", [("", f"override {text!r} must look like dotted.key=value")])
    try:
        value = _safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError("--set", [(key, f"value {raw!r} is not valid YAML")]) from None
    return key.strip().split("."), value


def _apply(data: dict, keys: list[str], value: Any, original: str) -> None:
    """Set data[k1][k2]... = value, creating mappings on the way; list items by integer index."""
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        child = node[int(key)] if isinstance(node, list) and key.isdigit() and int(key) < len(node) else (
            node.get(key) if isinstance(node, dict) else None)
        if child is None and isinstance(node, dict):
            child = node[key] = {}
        if not isinstance(child, (dict, list)):
            raise ConfigError("--set", [(".".join(keys[: depth + 1]), f"{original!r} goes inside a value that is not a mapping")])
        node = child
    last = keys[-1]
    if isinstance(node, list):
        if not (last.isdigit() and int(last) < len(node)):
            raise ConfigError("--set", [(".".join(keys), f"index {last} is outside the list of {len(node)} items")])
        node[int(last)] = value
    else:
        node[last] = value


def _resolve(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def load_hardware(path: Path, overrides: list[str] = ()) -> HardwareConfig:
    """Read and validate a hardware file on its own."""
    data = _read_yaml(path, "hardware")
    for text in overrides:
        keys, value = parse_override(text)
        _apply(data, keys, value, text)
    try:
        return HardwareConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), _problems(exc, HardwareConfig)) from None


def load_scenario(path: str | Path, overrides: list[str] = ()) -> Scenario:
    """Read, override, validate and check a scenario file; raise ConfigError on any problem."""
    path = Path(path)
    data = _read_yaml(path, "scenario")
    base = path.resolve().parent
    if isinstance(data.get("dataset"), dict) and isinstance(data["dataset"].get("path"), str):
        data["dataset"]["path"] = _resolve(data["dataset"]["path"], base)

    parsed = [(text, *parse_override(text)) for text in overrides]
    for text, keys, value in parsed:
        if keys == ["hardware"]:
            data["hardware"] = _resolve(value, Path.cwd()) if isinstance(value, str) else value
        elif keys == ["dataset", "path"]:
            _apply(data, keys, _resolve(value, Path.cwd()) if isinstance(value, str) else value, text)
    hardware_overrides = [(text, keys[1:], value) for text, keys, value in parsed if keys[0] == "hardware" and len(keys) > 1]

    hardware = data.get("hardware")
    if isinstance(hardware, str):
        hw_path = Path(_resolve(hardware, base))
        hw_data = _read_yaml(hw_path, "hardware")
        for text, keys, value in hardware_overrides:
            _apply(hw_data, keys, value, text)
        try:
            data["hardware"] = HardwareConfig.model_validate(hw_data).model_dump()
        except ValidationError as exc:
            note = f"{hw_path} (the hardware of {path})"
            raise ConfigError(note, _problems(exc, HardwareConfig)) from None
    elif isinstance(hardware, dict):
        for text, keys, value in hardware_overrides:
            _apply(hardware, keys, value, text)

    for text, keys, value in parsed:
        if keys[0] != "hardware" and keys != ["dataset", "path"]:
            _apply(data, keys, value, text)

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), _problems(exc, Scenario)) from None
    problems = placement_problems(scenario)
    if problems:
        raise ConfigError(str(path), problems)
    return scenario


def _pe_role(scenario: Scenario, i: int) -> str:
    """What entry i of an explicit placement holds: 'layer 2', 'worker 1 layer 2' or 'shard 2'."""
    D = scenario.n_layers
    if not scenario.training.data_parallel:
        return f"layer {i + 1}"
    worker, layer = divmod(i, D)
    return f"shard {layer + 1}" if worker == scenario.training.workers else f"worker {worker + 1} layer {layer + 1}"


def placement_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """What a schema cannot see: PEs that do not fit, coordinates outside the mesh, reused PEs."""
    mesh = scenario.hardware.mesh
    n_pes, need = mesh.rows * mesh.cols, scenario.n_pes
    if need > n_pes:
        key = "training.workers" if scenario.training.data_parallel else "model.layers"
        fix = ("use fewer workers, a larger mesh or fewer layers" if scenario.training.data_parallel
               else "use a larger mesh or fewer layers")
        return [(key, f"{scenario.pe_roles()} need {need} PEs but the {mesh.rows}x{mesh.cols} mesh "
                      f"(hardware.mesh) has {n_pes}; {fix}")]
    if isinstance(scenario.placement, str):
        return []
    problems = []
    if len(scenario.placement) != need:
        what = "one [row, col] per layer" if not scenario.training.data_parallel else (
            "one [row, col] per layer of worker 1, then worker 2, ..., then one per parameter-server shard"
            if scenario.training.parameter_server else "one [row, col] per layer of worker 1, then worker 2, ...")
        has = (f"the model has {need} layers" if not scenario.training.data_parallel
               else f"{scenario.pe_roles()} need {need}")
        problems.append(("placement", f"lists {len(scenario.placement)} PEs but {has}; give {what}"))
    used: dict[tuple[int, int], int] = {}
    for i, coord in enumerate(scenario.placement):
        if len(coord) != 2:
            problems.append((f"placement[{i}]", f"{coord} is not a [row, col] pair"))
            continue
        r, c = coord
        if not (0 <= r < mesh.rows and 0 <= c < mesh.cols):
            problems.append((f"placement[{i}]", f"[{r}, {c}] is outside the {mesh.rows}x{mesh.cols} mesh "
                                                f"(rows 0-{mesh.rows - 1}, cols 0-{mesh.cols - 1})"))
        elif (r, c) in used:
            problems.append((f"placement[{i}]", f"PE [{r}, {c}] already holds {_pe_role(scenario, used[(r, c)])}; "
                                                "each layer needs its own PE"))
        else:
            used[(r, c)] = i
    return problems
