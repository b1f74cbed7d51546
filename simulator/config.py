"""Schemas for hardware and scenario files, with errors that name the file and the dotted key.

A scenario is read in four steps, each of which can fail with a `ConfigError`:

1. parse the YAML of the scenario (and of the hardware file it names): UTF-8 text of at
   most 1 MB, no key twice in a mapping, bounded in depth and in values after aliases;
2. apply `--set dotted.key=value` overrides (``hardware.*`` ones to the hardware
   mapping after it is loaded, so they work whether the hardware is a file or inline);
3. validate with pydantic models that forbid unknown keys and coerce nothing
   (a string is never silently read as a number);
4. check what a schema cannot: placement inside the mesh, one layer per PE, a run length
   of at least one sample (and one per all-reduce worker).

Relative paths inside a file are relative to that file; relative paths given with
``--set`` are relative to the current directory.
"""

from __future__ import annotations

import codecs
import re
import reprlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from .algorithms import ALGORITHMS, ALLREDUCE, Algorithm
from .optimizers import (OPTIMIZERS, SCHEDULE_CONFIGS, ConstantSchedule, HalfLifeSchedule, MomentumConfig,
                         OptimizerConfig, ScheduleConfig, SGDConfig, named_section)
from .schema import INT64_LIMIT, Strict
from .messages import one_line
from .region_checks import region_problems, uses_regions
from .model_config import MAX_STACK_LAYERS, LayerStack, ModelConfig  # noqa: F401 (part of the configuration API)
from .training.data import IMAGE_SETS, train_size


# A ConfigError message stays under 2 KB however hostile the input, so that it fits a
# terminal and the fix is not buried under a value or a list pasted back whole: the
# source, each key and each problem are elided in the middle, and problems beyond the
# budget are counted rather than listed.
MESSAGE_BYTES = 1900
_SOURCE_BYTES = 300
_KEY_BYTES = 160
_TEXT_BYTES = 600

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3
_REPR.maxlong = 40


def _show(value: Any) -> str:
    """A short repr of an input value for a message: long strings, lists and mappings elided with '...'."""
    try:
        text = _REPR.repr(value)
    except ValueError:  # an integer too long to print in full
        text = f"an integer of {value.bit_length():,} bits"
    return one_line(text, 160)


class ConfigError(Exception):
    """A scenario or hardware description that cannot be run, with one line per problem (at most 2 KB in all)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{one_line(str(source), _SOURCE_BYTES)}: {len(problems)} problem(s) in the configuration:"]
        size = len(lines[0].encode("utf-8", "backslashreplace"))
        for i, (key, text) in enumerate(problems):
            text = one_line(text, _TEXT_BYTES)
            line = f"  - {one_line(key, _KEY_BYTES)}: {text}" if key else f"  - {text}"
            size += 1 + len(line.encode("utf-8", "backslashreplace"))
            if size > MESSAGE_BYTES - 40 and i < len(problems) - 1 or size > MESSAGE_BYTES:
                lines.append(f"  - ... and {len(problems) - i} more problem(s)")
                break
            lines.append(line)
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


class DatasetConfig(Strict):
    """Where the samples come from and how they are split."""

    name: Literal["digits", "mnist", "synthetic", "cifar10", "cifar100", "svhn"] = "digits"
    path: str | None = Field(default=None, description="directory of IDX files (mnist), of CIFAR batches of either "
                                                       "version or the folder they were extracted into (cifar10, "
                                                       "cifar100), of train_32x32.mat and test_32x32.mat (svhn)")
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    samples: int | None = Field(default=None, ge=2, description="subset size (digits, mnist, cifar10, cifar100, "
                                                                "svhn) or generated count (synthetic)")
    normalize: bool = Field(default=False, description="cifar10, cifar100, svhn: standardize each channel with the "
                                                       "training images' mean and std")
    extra: bool = Field(default=False, description="svhn: append extra_32x32.mat to the training part")
    split_seed: int | None = Field(
        default=None, ge=0, description="seed of the train/test split, the subset and generated data; "
                                        "unset: training.seed")

    @model_validator(mode="after")
    def _image_keys(self) -> "DatasetConfig":
        if self.normalize and self.name not in IMAGE_SETS:
            raise ValueError(f"dataset.normalize standardizes the channels of an image set ({', '.join(IMAGE_SETS)}), "
                             f"not {self.name}; remove it")
        if self.extra and self.name != "svhn":
            raise ValueError(f"dataset.extra appends SVHN's extra images, and the data set is {self.name}; remove it")
        return self

    def seed(self, training_seed: int) -> int:
        """The seed that draws the data set: `split_seed`, or the training seed when it is unset."""
        return training_seed if self.split_seed is None else self.split_seed


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
        return named_section(value)

    @field_validator("seed")
    @classmethod
    def _seed_range(cls, value: int) -> int:
        """NumPy takes seeds from 0 up; 2**63 keeps them in a signed 64-bit word as every integer here."""
        if not 0 <= value < INT64_LIMIT:
            raise ValueError(f"is {value:.6g}; a seed is a whole number from 0 to 2**63 - 1")
        return value

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
        problem = algorithm.optimizer_check(self.options, optimizer) if algorithm.optimizer_check else None
        if problem:
            raise ValueError(problem)
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
    placement: Literal["snake", "row", "balanced"] | list[list[int]] = Field(
        default="snake", description="'snake', 'row', a list of [row, col] pairs, one per layer; or layer regions: "
                                     "'balanced' (each dense layer an R x C rectangle of PEs sized by its work), "
                                     "or a list of [row, col, R, C], one per layer")
    model: ModelConfig
    dataset: DatasetConfig = DatasetConfig()
    training: TrainingConfig
    timing_only: bool = False
    engine: Literal["auto", "events", "compiled"] = Field(
        default="auto", description="auto: the compiled engine where it runs the algorithm (sgd, cp, mbgd), else the "
                                    "event engine; events: always the event engine (the model of record); compiled: "
                                    "refuse what the compiled engine cannot run")
    allow_sram_overflow: bool = False
    allow_large: bool = Field(default=False, description="run even if the host memory estimate exceeds what is available")
    region_pes: int | None = Field(
        default=None, ge=1, description="placement: balanced: the most PEs the layers' regions may take in all "
                                        "(none: the whole mesh); fewer PEs each do more per sample, so the messages "
                                        "between them weigh less")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        """The name is a folder name (results/<name>, compare's OUT/<name>), so only one safe on every file system."""
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}", value):
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise ValueError(f"{shown!r} cannot be a folder name (results/<name>): use 1 to 100 letters, digits, "
                             "'.', '_' or '-', not starting with '.'")
        return value

    @model_validator(mode="after")
    def _algorithm_fits(self) -> "Scenario":
        """The algorithm's own check against the network (dni: its interfaces lie inside it)."""
        check = self.training.spec.check
        problem = check(self.training.options, self.n_layers) if check is not None else None
        if problem:
            raise ValueError(problem)
        return self

    @property
    def n_layers(self) -> int:
        return self.model.n_layers

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


# Bounds on what a configuration may make the loader build. A scenario is a few KB, a few
# hundred values and six levels deep; these stop only hostile or mistaken input (a
# multi-megabyte file, an alias bomb, a thousand nested brackets) before it exhausts
# memory or the stack. Values are counted after alias expansion, since that is what
# validation walks and what a message would print.
MAX_FILE_BYTES = 1 << 20
MAX_VALUES = 100_000
MAX_DEPTH = 50


class _Refused(Exception):
    """A YAML document the loader will not build (too large, too deep, recursive, a repeated key): key and text."""

    def __init__(self, key: str, text: str):
        super().__init__(text)
        self.key = key
        self.text = text


def _line(mark) -> str:
    return f"line {mark.line + 1}" if mark is not None else "an unknown line"


class _Loader(yaml.SafeLoader):
    """A safe YAML loader that reads 1e9 and 1.0e9 as floats, as YAML 1.2 does, refuses a key repeated
    in one mapping, and bounds nesting depth and the values the document expands to."""

    def __init__(self, stream):
        super().__init__(stream)
        self._path: list = []  # keys and indices from the root to the node being composed
        self._values: dict[yaml.Node, int] = {}  # node -> values it stands for once aliases are expanded
        self._where: dict[yaml.Node, tuple] = {}  # mapping node -> its path
        self._written: dict[yaml.Node, list] = {}  # mapping node -> its pairs as written, before merge keys

    def compose_node(self, parent, index):
        """Compose one node as PyYAML does, keeping its path, depth and expanded size."""
        mark = self.peek_event().start_mark
        if len(self._path) >= MAX_DEPTH:
            raise _Refused("", f"values nested more than {MAX_DEPTH} levels deep at {_line(mark)}; a configuration "
                               "nests a handful of levels: flatten it")
        alias = self.check_event(yaml.AliasEvent)
        if isinstance(parent, yaml.MappingNode):
            part = index.value if isinstance(index, yaml.ScalarNode) else ("?" if index is not None else None)
        else:
            part = index
        self._path.append(part)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._path.pop()
        if alias:
            if node not in self._values:
                raise _Refused("", f"the alias at {_line(mark)} names a value that contains the alias itself (a "
                                   "recursive structure); a configuration must be finite: remove the alias")
            return node
        if isinstance(node, yaml.MappingNode):
            self._where[node] = tuple(p for p in self._path + [part] if p is not None)
            self._written[node] = list(node.value)
            size = 1 + sum(self._values[k] + self._values[v] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._values[item] for item in node.value)
        else:
            size = 1
        if size > MAX_VALUES:
            raise _Refused("", f"the YAML expands to more than {MAX_VALUES:,} values (at {_line(mark)}): aliases "
                               "(*name) repeat what they name, so a few can multiply into millions; a configuration "
                               "needs a few hundred values: remove the repetition")
        self._values[node] = size
        return node

    def construct_unique_map(self, node):
        """The mapping constructor, refusing a key written twice (YAML itself would keep the last silently)."""
        first: dict = {}
        for key_node, _ in self._written.get(node, node.value):
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if seen is not key_node:
                dotted = _dotted(self._where.get(node, ()) + (key,))
                raise _Refused(dotted, f"given twice, at line {seen.start_mark.line + 1} and line "
                                       f"{key_node.start_mark.line + 1}; a key may appear once in a mapping: keep "
                                       "the one you mean and remove the other")
        yield from self.construct_yaml_map(node)


def _checked(tag: str):
    """PyYAML's constructor of a scalar tag, its ValueError (an integer of over 4300 digits, a date in
    month 13) turned into a YAML error at the value, as any other unreadable value is."""
    construct = yaml.SafeLoader.yaml_constructors[tag]

    def checked(loader: _Loader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError) as exc:
            why = "it is too long" if tag.endswith(":int") else str(exc)
            raise yaml.constructor.ConstructorError(
                None, None, f"the value {_show(node.value)} cannot be read ({why})", node.start_mark) from None
    return checked


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_unique_map)
for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"):
    _Loader.add_constructor(_tag, _checked(_tag))


def _safe_load(text: str) -> Any:
    """Parse YAML with `_Loader`; raises yaml.YAMLError for syntax and _Refused for the loader's bounds."""
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
           "lr_schedule": SCHEDULE_CONFIGS}
# Keys that may also be written as a section of another shape: the key, and that section's model.
_SECTION_FORMS = {"layers": LayerStack}


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
        elif part in _SECTION_FORMS:
            model = _SECTION_FORMS[part]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            break
    return list(model.model_fields)


def _problems(error: ValidationError, model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """Turn a pydantic error into (dotted key, message with the value and the fix) pairs."""
    problems = []
    for item in error.errors(include_url=False):
        kind = item["type"]
        tagged, tags = _strip_tags(tuple(item["loc"]))
        # The last part of an unknown or non-text key is the key as written, whatever characters it holds.
        written = tagged[-1:] if kind in ("extra_forbidden", "invalid_key") else ()
        loc = tuple(p for p in tagged[:len(tagged) - len(written)] if not _is_union_branch(p)) + written
        key = prefix + _dotted(loc[:-1] if kind == "invalid_key" else loc)
        got = _show(item.get("input"))
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            names = ", ".join(_TAGGED.get(loc[-1], {})) if loc else ""
            tag = item.get("input")
            tag = tag.get("name") if isinstance(tag, dict) else tag
            text = (f"unknown name {_show(tag)}; choose one of {names}" if kind == "union_tag_invalid"
                    else f"give the name of one of {names} (as name: ... or the name alone)")
        elif len(loc) < len(tagged):
            field = model.model_fields.get(loc[0]) if len(loc) == 1 else None
            expected = field.description if field is not None and field.description else "another form"
            text = f"expected {expected} (got {got})"
        elif kind == "invalid_key":
            text = f"the key {got} is not text; keys are names such as learning_rate"
        elif kind == "finite_number":
            text = f"must be a finite number (got {got}); .inf, -.inf and .nan cannot be used"
        elif kind == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(model, loc[:-1], tags))
            text = f"unknown key; allowed here: {allowed}"
        elif kind == "missing":
            text = "required key is missing"
        elif kind == "value_error":
            text = str(item["msg"]).removeprefix("Value error, ")
        else:
            text = f"{item['msg']} (got {got})"
            if isinstance(item.get("input"), str) and kind in ("int_type", "float_type", "bool_type"):
                text += "; a quoted value is text: write the value without quotes"
        problems.append((key, text))
    seen, unique = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


_UTF16_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _read_text(path: Path, what: str) -> str:
    """The file's text (at most MAX_FILE_BYTES of UTF-8), or ConfigError naming the file and the fix."""
    def refuse(text: str) -> ConfigError:
        return ConfigError(str(path), [("", text)])

    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise refuse(f"{what} file not found; check the path") from None
    except IsADirectoryError:
        raise refuse(f"{what} file cannot be read: it is a folder; give the path of a YAML file") from None
    except OSError as exc:
        raise refuse(f"{what} file cannot be read: {exc.strerror or exc}; check its permissions") from None
    except ValueError:  # a NUL character in the path
        raise refuse(f"{what} file cannot be read: its path holds a NUL character; check the path") from None
    if len(raw) > MAX_FILE_BYTES:
        raise refuse(f"{what} file is larger than {MAX_FILE_BYTES:,} bytes (a {what} file is a few KB); check that "
                     "this is the right file")
    if raw.startswith(_UTF16_BOMS):
        raise refuse(f"{what} file is not UTF-8 text: it starts with a UTF-16 or UTF-32 byte-order mark; save it as "
                     "UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise refuse(f"{what} file is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} (line "
                     f"{line}) is not valid UTF-8; save the file as UTF-8 (Latin-1 accents are the usual "
                     "cause)") from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise refuse(f"{what} file is not UTF-8 text: it holds a NUL byte at line {line} (UTF-16 without a "
                     "byte-order mark, or a binary file); save it as UTF-8 text")
    return text


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """What is wrong with YAML that does not parse, with its line and column."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return (f"malformed YAML at line {line}, column {column}: the character {character!r} is not allowed "
                "in YAML; remove it")
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"malformed YAML{where}: {one_line(problem, 200)}; fix the syntax"


def _read_yaml(path: Path, what: str) -> dict:
    """Parse one YAML mapping, or raise ConfigError naming the file."""
    text = _read_text(path, what)
    try:
        data = _safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [("", _yaml_problem(exc, text))]) from None
    except _Refused as exc:
        raise ConfigError(str(path), [(exc.key, exc.text)]) from None
    if not isinstance(data, dict):
        got = "nothing (the file is empty)" if data is None else type(data).__name__
        raise ConfigError(str(path), [("", f"a {what} file must be a YAML mapping of keys to values, got {got}")])
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """'training.learning_rate=0.05' -> (['training', 'learning_rate'], 0.05), the value read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", [("", f"override {_show(text)} must look like dotted.key=value")])
    try:
        value = _safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc, raw).removeprefix("malformed YAML")
        raise ConfigError("--set", [(key, f"value {_show(raw)} is not valid YAML{problem}")]) from None
    except _Refused as exc:
        raise ConfigError("--set", [(key, f"value {_show(raw)}: {exc.text}")]) from None
    return key.strip().split("."), value


def _apply(data: dict, keys: list[str], value: Any, original: str) -> None:
    """Set data[k1][k2]... = value, creating mappings on the way; list items by integer index."""
    def index(key: str, items: list) -> int | None:
        # ASCII digits only: str.isdigit() also accepts '²', which int() refuses.
        return int(key) if re.fullmatch(r"[0-9]{1,18}", key) and int(key) < len(items) else None

    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            child = node[index(key, node)] if index(key, node) is not None else None
        else:
            child = node.get(key)
        if child is None and isinstance(node, dict):
            child = node[key] = {}
        if not isinstance(child, (dict, list)):
            raise ConfigError("--set", [(".".join(keys[: depth + 1]),
                                         f"{_show(original)} goes inside a value that is not a mapping")])
        node = child
    last = keys[-1]
    if isinstance(node, list):
        if index(last, node) is None:
            raise ConfigError("--set", [(".".join(keys), f"index {one_line(last, 40)} is outside the list of {len(node)} "
                                                         "items")])
        node[index(last, node)] = value
    else:
        node[last] = value


def _resolve(path: str, base: Path, source: str, key: str) -> str:
    """`path` made absolute against `base` (`~` is the home folder); ConfigError naming `key` if it is no path."""
    if not path.strip():
        raise ConfigError(source, [(key, "is an empty path; give the path of the file or folder it names")])
    if "\0" in path:
        raise ConfigError(source, [(key, f"{_show(path)} holds a NUL character, which no path can; check the "
                                         "value")])
    p = Path(path)
    try:
        p = p.expanduser()
    except RuntimeError:  # '~someone' for a user this machine does not know: keep it as written
        pass
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
        data["dataset"]["path"] = _resolve(data["dataset"]["path"], base, str(path), "dataset.path")

    parsed = [(text, *parse_override(text)) for text in overrides]
    for text, keys, value in parsed:
        if keys == ["hardware"]:
            data["hardware"] = _resolve(value, Path.cwd(), "--set", "hardware") if isinstance(value, str) else value
        elif keys == ["dataset", "path"]:
            _apply(data, keys, _resolve(value, Path.cwd(), "--set", "dataset.path") if isinstance(value, str)
                   else value, text)
    hardware_overrides = [(text, keys[1:], value) for text, keys, value in parsed if keys[0] == "hardware" and len(keys) > 1]

    hardware = data.get("hardware")
    if "hardware" in data and hardware is None:
        raise ConfigError(str(path), [("hardware", "is empty; give the path of a hardware file (such as "
                                                   "../configs/small-mesh.yaml) or an inline mapping")])
    if isinstance(hardware, str):
        hw_path = Path(_resolve(hardware, base, str(path), "hardware"))
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
    problems = placement_problems(scenario) or sample_problems(scenario)
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
    if uses_regions(scenario.placement):
        return region_problems(scenario)
    if scenario.region_pes is not None:
        return [("region_pes", "region_pes bounds the PEs of placement: balanced; set placement: balanced, or "
                               "remove region_pes")]
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


# The most samples a run may train on. Every sample leaves at least five op and message
# records (about 330 bytes each), so 10**8 samples already need over 150 GB of host
# memory: no run beyond it can finish, and planning one (the per-sample batch lists of
# data-parallel runs) would exhaust memory before the run is refused as too large.
MAX_TRAINING_SAMPLES = 10**8


def sample_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """What the schema cannot see in the run's length: epochs that round to no sample, more samples than
    MAX_TRAINING_SAMPLES, and fewer samples than all-reduce workers (each step splits its batch over them)."""
    t, d = scenario.training, scenario.dataset
    beyond = f"more than the {MAX_TRAINING_SAMPLES:,} a run may train on (its op and message records alone would " \
             "need over 150 GB)"
    if t.samples is not None:
        key, n, what = "training.samples", t.samples, f"{t.samples:,} sample(s)"
        if n > MAX_TRAINING_SAMPLES:
            return [(key, f"is {n:,}, {beyond}; lower training.samples")]
    else:
        n_train = train_size(d.name, d.path, d.test_fraction, d.samples, d.extra)
        if n_train is None:
            return []  # the data set cannot be loaded; loading it says why
        key, exact = "training.epochs", t.epochs * n_train
        if not exact <= MAX_TRAINING_SAMPLES:
            return [(key, f"{t.epochs:g} epochs of the {n_train:,} training samples are {exact:.3g} samples, "
                          f"{beyond}; lower training.epochs")]
        n = round(exact)
        if n < 1:
            return [(key, f"{t.epochs:g} epochs of the {n_train:,} training samples are {exact:.3g} samples, which "
                          f"rounds to none; give training.epochs of at least {1 / n_train:.3g} (one sample), or "
                          "training.samples")]
        what = f"{t.epochs:g} epochs of the {n_train:,} training samples give {n:,} sample(s)"
    if t.spec.family == ALLREDUCE and n < t.options.workers:
        workers = t.options.workers
        return [(key, f"{what} but allreduce splits every step over its {workers} workers, so it needs at least "
                      f"{workers} samples (one per worker); raise {key} or lower training.workers")]
    return []
