"""Property-based fuzzing of `wafersim validate`: any scenario, hardware file, `--set` value or data file
is either accepted or refused by the input contract, never crashes.

The contract, checked for every generated input: `wafersim.cli.main(["validate", ...])` returns 0 or 2
(or argparse exits with its usage status 2); nothing it prints holds a traceback; a refusal is one message
of at most 2 KB whose first line names the scenario or hardware file or `--set`; an accepted scenario prints
nothing on stderr; and nothing is written (the example's temporary folder holds exactly the files the
example wrote, the folder the tests run from gains nothing).

Inputs are random mutations of the shipped scenarios/quickstart.yaml and scenarios/asgd.yaml and of
configs/small-mesh.yaml (keys deleted, unknown keys added, values replaced by random YAML scalars, lists
and mappings), then of their text (random text and bytes inserted, invalid UTF-8, UTF-16, deep nesting,
aliases and alias bombs, repeated lines, truncation), random `--set` overrides, and MNIST scenarios whose
`dataset.path` folder holds random or damaged IDX files, raw or gzip.

The default run takes about 30-60 s and is derandomized (the same examples every run, no example database
written into the repository). For a longer, random search set the number of examples per test:

    WAFERSIM_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import os
import re
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wafersim import cli
from wafersim.config import DatasetConfig, HardwareConfig, MeshConfig, ModelConfig, NocConfig, PEConfig, Scenario
from wafersim.config import TrainingConfig

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {name: yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text()) for name in ("quickstart", "asgd")}
HARDWARE_TEXT = (ROOT / "configs" / "small-mesh.yaml").read_text()
HARDWARE = yaml.safe_load(HARDWARE_TEXT)
MESSAGE_BYTES = 2048

_EXAMPLES = os.environ.get("WAFERSIM_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_EXAMPLES) if _EXAMPLES else 400,
    deadline=None,
    derandomize=not _EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# --- values -------------------------------------------------------------------------------

KNOWN_KEYS = sorted(set().union(*(model.model_fields for model in (
    Scenario, TrainingConfig, DatasetConfig, ModelConfig, HardwareConfig, MeshConfig, PEConfig, NocConfig))))
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS + ["beta1", "mu", "half_life_epochs", "<<"]), st.text(max_size=12))
WORDS = st.sampled_from(["", " ", "snake", "row", "cp", "mbgd", "asgd", "allreduce", "downpour", "mnist", "synthetic",
                         "digits", "adam", "momentum", "half_life", "relu", "he", "~", ".", "..", "~nobody/x",
                         "../configs/small-mesh.yaml", "../configs", "/", "\0"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 2, 4, 16, 2**31, 2**63 - 1, 2**63, 10**12, -1]),
    st.floats(),
    st.sampled_from([1e-12, 1e-300, 1e300, 0.5, 2.0, float("inf"), float("nan")]),
    st.text(max_size=20),
    WORDS,
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=12)
RAW_VALUES = st.one_of(
    st.sampled_from([".inf", "-.inf", ".nan", "1e9", "1.0e-12", "0x10", "0o17", "1_000", "2001-13-45", "2001-02-03",
                     "~", "''", "'1'", "[", "]", "{", "{a: 1, a: 2}", "&a [*a]", "*x", "!!python/object:os.system",
                     "!!binary Zm9v", "!!set {a, b}", "!!omap [a: 1]", "9" * 5000, "- a\n- b", "\t", "? [a]\n: 1"]),
    st.text(max_size=30),
)


def dump(value) -> str:
    """One value as YAML text for a `--set` or a line of a file."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()


# --- mutations ----------------------------------------------------------------------------


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _at(node, path):
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw, base: dict) -> dict:
    """`base` with one to four keys deleted, added or given random values."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(data))))
        op = draw(st.sampled_from(["delete", "replace", "add"]))
        if op == "delete" and path:
            del _at(data, path[:-1])[path[-1]]
        elif op == "replace" and path:
            _at(data, path[:-1])[path[-1]] = draw(VALUES)
        elif isinstance(_at(data, path), dict):
            _at(data, path)[draw(KEYS)] = draw(VALUES)
    return data


def _bomb(levels: int) -> str:
    lines = ["b0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nname: *b{levels - 1}\n"


@st.composite
def damaged(draw, text: str) -> bytes:
    """The bytes of `text`, perhaps damaged as a file can be."""
    data = text.encode()
    lines = text.splitlines(keepends=True)
    kind = draw(st.sampled_from(["none", "none", "text", "bytes", "invalid utf-8", "utf-16", "deep", "alias",
                                 "repeat line", "truncate", "raw value"]))
    at = draw(st.integers(0, len(data)))
    line = draw(st.integers(0, len(lines)))
    if kind == "text":
        return data[:at] + draw(st.text(max_size=40)).encode() + data[at:]
    if kind == "bytes":
        return data[:at] + draw(st.binary(max_size=16)) + data[at:]
    if kind == "invalid utf-8":
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\xed\xa0\x80", b"\x80"])) + data[at:]
    if kind == "utf-16":
        return text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])))
    if kind == "deep":
        depth = draw(st.integers(1, 300))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        return data + f"\ndeep: {opener * depth}1{closer * depth}\n".encode()
    if kind == "alias":
        extra = draw(st.sampled_from([_bomb(draw(st.integers(2, 7))), "x: &a [*a]\n", "x: *nowhere\n",
                                      "x: &a {k: 1}\ny: {<<: *a, k: 2}\n", "x: &a 1\nname: *a\n"]))
        return data + b"\n" + extra.encode()
    if kind == "repeat line" and lines:
        repeated = lines[min(line, len(lines) - 1)]
        return "".join(lines[:line] + [repeated] + lines[line:]).encode()
    if kind == "truncate":
        return data[:at]
    if kind == "raw value":
        key = draw(st.sampled_from(KNOWN_KEYS))
        return data + f"\n{key}: {draw(RAW_VALUES)}\n".encode()
    return data


@st.composite
def overrides(draw) -> list[str]:
    """Zero to three `--set` arguments: known or random keys, random values."""
    keys = st.one_of(
        st.sampled_from(["training.learning_rate", "training.seed", "training.epochs", "training.samples",
                         "training.workers", "training.algorithm", "training.optimizer", "model.layers",
                         "model.layers.1", "model.layers.9", "dataset.name", "dataset.path", "dataset.samples",
                         "hardware", "hardware.noc.hop_latency_cycles", "hardware.noc.x[1]", "hardware.mesh",
                         "hardware.mesh.rows", "placement", "placement.0", "name", "name.x", "timing_only"]),
        st.text(max_size=15))
    values = st.one_of(VALUES.map(dump), RAW_VALUES)
    made = draw(st.lists(st.tuples(keys, values).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=3))
    return made + draw(st.lists(st.text(max_size=10), max_size=1))


# --- data files ---------------------------------------------------------------------------

IDX_NAMES = [f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"
             for prefix in ("train", "t10k") for kind in ("images", "labels")]


@st.composite
def idx_file(draw) -> bytes:
    """The bytes of an IDX file: valid, damaged or random."""
    kind = draw(st.sampled_from(["images", "labels", "random", "header"]))
    if kind == "random":
        return draw(st.binary(max_size=64))
    if kind == "header":
        ndim = draw(st.integers(0, 6))
        dims = draw(st.lists(st.integers(0, 2**32 - 1), min_size=ndim, max_size=ndim))
        code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]))
        return bytes([0, 0, code, ndim]) + struct.pack(f">{ndim}I", *dims) + draw(st.binary(max_size=32))
    n = draw(st.integers(0, 4))
    shape = (n, 28, 28) if kind == "images" else (n,)
    size = n * 784 if kind == "images" else n
    body = draw(st.binary(min_size=size, max_size=size)) if draw(st.booleans()) else bytes(size)
    data = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + body
    cut = draw(st.integers(0, len(data)))
    return data[:cut] if draw(st.booleans()) and draw(st.booleans()) else data


@st.composite
def mnist_folder(draw) -> dict[str, bytes]:
    """Files of an MNIST folder by name, each raw or gzip, perhaps with the wrong suffix for its content."""
    files = {}
    for name in draw(st.lists(st.sampled_from(IDX_NAMES), max_size=4, unique=True)):
        content = draw(idx_file())
        gz = draw(st.booleans())
        mislabelled = draw(st.integers(0, 5)) == 0
        packed = gzip.compress(content, mtime=0) if gz != mislabelled else content
        files[name + (".gz" if gz else "")] = packed if draw(st.integers(0, 9)) else packed[: len(packed) // 2]
    return files


# --- running validate ---------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"")
            for p in sorted(folder.rglob("*"))}


# Every file system change the process asks for while `validate` runs, seen through Python's audit
# hooks (a hook cannot be removed, so it records only while `_WATCH` is set); this is how the test
# sees a write anywhere, not just in the folders it lists.
_WATCH: list[list] = []
_CHANGES = {"os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.truncate", "os.symlink", "os.link",
            "shutil.rmtree", "shutil.copyfile", "shutil.move"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _audit(event: str, args: tuple) -> None:
    if not _WATCH:
        return
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
        if writes and not isinstance(path, int):
            _WATCH[-1].append((event, path))
    elif event in _CHANGES:
        _WATCH[-1].append((event, args[0] if args else None))


sys.addaudithook(_audit)


def validate(scenario: bytes, hardware: bytes = HARDWARE_TEXT.encode(), sets: list[str] = (),
             data: dict[str, bytes] | None = None) -> None:
    """Write the example into a fresh folder, run `wafersim validate` there, and check the contract."""
    tmp = Path(tempfile.mkdtemp(prefix="wafersim-fuzz-")).resolve()
    try:
        (tmp / "scenarios").mkdir()
        (tmp / "configs").mkdir()
        (tmp / "mnist").mkdir()
        scenario_path, hardware_path = tmp / "scenarios" / "sc.yaml", tmp / "configs" / "small-mesh.yaml"
        scenario_path.write_bytes(scenario)
        hardware_path.write_bytes(hardware)
        for name, content in (data or {}).items():
            (tmp / "mnist" / name).write_bytes(content)
        before, writes = _tree(tmp), []
        argv = ["validate", str(scenario_path)]
        for text in sets:
            argv += ["--set", text]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.chdir(tmp), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            _WATCH.append(writes)
            try:
                code = cli.main(argv)
            except SystemExit as exc:
                assert exc.code == 2 and "usage:" in err.getvalue(), (exc.code, err.getvalue())
                code = None
            finally:
                _WATCH.pop()
        stderr = err.getvalue()
        assert "Traceback" not in stderr and "Traceback" not in out.getvalue()
        assert code in (0, 2, None), (code, stderr)
        if code == 0:
            assert stderr == "", stderr
        elif code == 2:
            assert stderr.startswith("error: ") and stderr.endswith("\n"), stderr
            assert len(stderr.encode("utf-8", "backslashreplace")) <= MESSAGE_BYTES, stderr[:3000]
            # The scenario, --set, or the hardware file the scenario names (wherever that points).
            first, *rest = stderr.splitlines()
            assert all(line.startswith("  - ") for line in rest), stderr
            assert (first.startswith((f"error: {scenario_path}: ", "error: --set: "))
                    or re.fullmatch(r"error: .+: \d+ problem\(s\) in the configuration:", first)), first
        assert writes == [], f"validate changed files: {writes}"
        assert _tree(tmp) == before, "validate wrote into its folder"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def as_yaml(data) -> str:
    return "# fuzzed\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --- the properties -----------------------------------------------------------------------


@FUZZ
@given(st.sampled_from(sorted(SCENARIOS)).flatmap(lambda name: mutated(SCENARIOS[name])).map(as_yaml)
       .flatmap(damaged), overrides())
def test_mutated_scenarios_keep_the_contract(scenario, sets):
    validate(scenario, sets=sets)


@FUZZ
@given(mutated(HARDWARE).map(as_yaml).flatmap(damaged) | damaged(HARDWARE_TEXT), st.booleans(), overrides())
def test_mutated_hardware_keeps_the_contract(hardware, inline, sets):
    data = copy.deepcopy(SCENARIOS["quickstart"])
    if inline:
        try:
            data["hardware"] = yaml.load(hardware, Loader=yaml.SafeLoader)
        except (yaml.YAMLError, ValueError, RecursionError):
            data["hardware"] = hardware.decode("utf-8", "replace")
    else:
        data["hardware"] = "../configs/small-mesh.yaml"
    validate(as_yaml(data).encode(), hardware=hardware, sets=sets)


@FUZZ
@given(overrides())
def test_set_values_keep_the_contract(sets):
    validate((ROOT / "scenarios" / "quickstart.yaml").read_bytes(), sets=sets)


MNIST_SCENARIO = {**copy.deepcopy(SCENARIOS["quickstart"]), "model": {"layers": [784, 16, 10]},
                  "dataset": {"name": "mnist", "path": "../mnist", "test_fraction": 0.2}}


@FUZZ
@given(mnist_folder(), st.sampled_from([None, 2, 3, 10]), st.sampled_from([{"epochs": 1}, {"samples": 4}]))
def test_data_files_keep_the_contract(files, subset, length):
    data = copy.deepcopy(MNIST_SCENARIO)
    data["dataset"]["samples"] = subset
    data["training"] = {**{k: v for k, v in data["training"].items() if k != "epochs"}, **length}
    validate(as_yaml(data).encode(), data=files)
