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
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(Exception):
    """A scenario or hardware description that cannot be run, with one line per problem."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s) in the configuration:"]
        lines += [f"  - {key}: {text}" if key else f"  - {text}" for key, text in problems]
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    """A configuration section: unknown keys are errors and values are never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MeshConfig(_Strict):
    """The size of the PE grid."""

    rows: int = Field(ge=1, description="PE rows")
    cols: int = Field(ge=1, description="PE columns")


class PEConfig(_Strict):
    """One processing element: compute rate, memory and per-op cost."""

    macs_per_cycle: int = Field(ge=1, description="multiply-accumulates per cycle")
    sram_bytes: int = Field(ge=1, description="local memory in bytes")
    op_overhead_cycles: int = Field(ge=0, description="fixed cycles to issue one op")


class NocConfig(_Strict):
    """The network on chip: directed links between neighbouring PEs."""

    hop_latency_cycles: int = Field(ge=0, description="cycles for a message head to cross one link")
    link_bytes_per_cycle: int = Field(ge=1, description="bytes one link carries per cycle")
    contention: bool = Field(description="links carry one message at a time (FIFO)")


class HardwareConfig(_Strict):
    """A hypothetical wafer-scale chip: a mesh of identical PEs joined by a NoC."""

    name: str
    clock_hz: float = Field(gt=0, description="cycles per second")
    mesh: MeshConfig
    pe: PEConfig
    noc: NocConfig


class ModelConfig(_Strict):
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


class DatasetConfig(_Strict):
    """Where the samples come from and how they are split."""

    name: Literal["digits", "mnist", "synthetic"] = "digits"
    path: str | None = Field(default=None, description="directory of IDX files (mnist)")
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    samples: int | None = Field(default=None, ge=2, description="subset size (digits, mnist) or generated count (synthetic)")


DATA_PARALLEL = ("asgd", "downpour", "hogwild", "allreduce")  # replicas on disjoint PE regions
PARAMETER_SERVER = ("asgd", "downpour", "hogwild")  # ... that talk to parameter-server shards


class TrainingConfig(_Strict):
    """The training algorithm and its hyper-parameters."""

    algorithm: Literal["sgd", "cp", "mbgd", "asgd", "downpour", "hogwild", "allreduce"] = "cp"
    learning_rate: float = Field(gt=0)
    momentum: float = Field(default=0.0, ge=0, lt=1)
    lr_half_life_epochs: float | None = Field(default=None, gt=0, description="learning rate halves every this many epochs")
    batch_size: int = Field(default=1, ge=1)
    delta_rule: Literal["immediate", "anchored"] = "immediate"
    epochs: float | None = Field(default=None, gt=0)
    samples: int | None = Field(default=None, ge=1)
    eval_every: int = Field(default=500, ge=1, description="samples between evaluations")
    seed: int = 0
    in_flight_slack: int = Field(default=0, ge=0, description="cp: samples a layer may hold beyond 2(D-k)+1")
    workers: int = Field(default=1, ge=1, description="data-parallel replicas of the network")
    n_fetch: int = Field(default=1, ge=1, description="downpour: fetch weights every n_fetch steps")
    n_push: int = Field(default=1, ge=1, description="downpour: push accrued gradients every n_push steps")
    staleness_aware: bool = Field(default=False, description="divide the learning rate by each update's staleness")

    @model_validator(mode="after")
    def _one_length(self) -> "TrainingConfig":
        if (self.epochs is None) == (self.samples is None):
            raise ValueError("give exactly one of training.epochs and training.samples")
        batched = ("mbgd",) + DATA_PARALLEL
        if self.algorithm not in batched and self.batch_size != 1:
            raise ValueError(f"training.batch_size is {self.batch_size} but {self.algorithm} trains on one sample at a time; "
                             "use algorithm: mbgd or batch_size: 1")
        if self.algorithm not in DATA_PARALLEL and self.workers != 1:
            raise ValueError(f"training.workers is {self.workers} but {self.algorithm} trains one copy of the network; "
                             f"use one of {', '.join(DATA_PARALLEL)} or workers: 1")
        if self.algorithm != "downpour" and (self.n_fetch, self.n_push) != (1, 1):
            raise ValueError(f"training.n_fetch and training.n_push are for algorithm: downpour, not {self.algorithm}; "
                             "remove them or switch to downpour")
        if self.algorithm not in PARAMETER_SERVER and self.staleness_aware:
            raise ValueError(f"training.staleness_aware scales parameter-server updates, but {self.algorithm} has no "
                             f"parameter server; use one of {', '.join(PARAMETER_SERVER)} or remove the key")
        if self.algorithm in DATA_PARALLEL and self.delta_rule != "immediate":
            raise ValueError(f"training.delta_rule: {self.delta_rule} is a continuous-propagation rule; "
                             f"{self.algorithm} workers compute each minibatch with one weight version")
        return self

    @property
    def data_parallel(self) -> bool:
        return self.algorithm in DATA_PARALLEL

    @property
    def parameter_server(self) -> bool:
        return self.algorithm in PARAMETER_SERVER


class Scenario(_Strict):
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


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a section accepts, found by following `loc` through nested models."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            break
    return list(model.model_fields)


def _problems(error: ValidationError, model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """Turn a pydantic error into (dotted key, message with the value and the fix) pairs."""
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not _is_union_branch(p))
        key = prefix + _dotted(loc)
        kind = item["type"]
        if len(loc) < len(item["loc"]):
            field = model.model_fields.get(loc[0]) if len(loc) == 1 else None
            expected = field.description if field is not None and field.description else "another form"
            text = f"expected {expected} (got {item.get('input')!r})"
        elif kind == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(model, loc[:-1]))
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
