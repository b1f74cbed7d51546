"""Tests for sweep files (wafersim.sweep.spec): the schema, the order and values of points, and the messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from wafersim.config import ConfigError, parse_override
from wafersim.sweep.spec import _yaml, expand, load_sweep, sweep_schema

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"


def write(tmp_path: Path, text: str = "", **data) -> Path:
    """A sweep file on the quickstart scenario: `data` as YAML (name and scenario filled in), or `text` as is."""
    path = tmp_path / "sweep.yaml"
    path.write_text(text or yaml.safe_dump({"name": "s", "scenario": str(QUICKSTART), **data}, sort_keys=False))
    return path


def points(tmp_path: Path, overrides=(), **data):
    return expand(load_sweep(write(tmp_path, **data), list(overrides)))


def message(tmp_path: Path, text: str = "", overrides=(), **data) -> str:
    path = write(tmp_path, text, **data)
    with pytest.raises(ConfigError) as info:
        expand(load_sweep(path, list(overrides)))
    return str(info.value).removeprefix(f"{path}: ")


# --- order and values of the points

def test_product_order_first_axis_slowest_and_names(tmp_path):
    pts = points(tmp_path, axes={"training.delta_rule": ["immediate", "anchored"],
                                 "training.learning_rate": [0.1, 0.2, 0.3]})
    assert [p.name for p in pts] == [f"p{i:04d}" for i in range(6)]
    assert [tuple(p.values.values()) for p in pts] == [
        ("immediate", 0.1), ("immediate", 0.2), ("immediate", 0.3),
        ("anchored", 0.1), ("anchored", 0.2), ("anchored", 0.3)]
    assert [(p.scenario.training.delta_rule, p.scenario.training.learning_rate) for p in pts] == [
        tuple(p.values.values()) for p in pts]


def test_seeds_are_innermost_and_last(tmp_path):
    sweep = load_sweep(write(tmp_path, axes={"training.learning_rate": [0.1, 0.2]}, seeds=3))
    pts = expand(sweep)
    assert sweep.axis_keys == ["training.learning_rate", "training.seed"]
    assert [tuple(p.values.items()) for p in pts] == [
        (("training.learning_rate", lr), ("training.seed", s)) for lr in (0.1, 0.2) for s in range(3)]
    assert [p.scenario.training.seed for p in pts] == [0, 1, 2, 0, 1, 2]
    assert len({p.digest for p in pts}) == 6


def test_zip_advances_axes_together(tmp_path):
    pts = points(tmp_path, combine="zip", axes={"training.learning_rate": [0.1, 0.2],
                                                "training.momentum": [0.5, 0.9]})
    assert [tuple(p.values.values()) for p in pts] == [(0.1, 0.5), (0.2, 0.9)]


def test_zip_length_mismatch(tmp_path):
    assert message(tmp_path, combine="zip", axes={"training.learning_rate": [0.1, 0.2],
                                                  "training.momentum": [0.1, 0.2, 0.3]}) == (
        "1 problem(s) in the configuration:\n"
        "  - combine: zip needs axes of one length; training.learning_rate has 2, training.momentum has 3")


def test_point_count_capped(tmp_path):
    assert message(tmp_path, axes={"training.learning_rate": {"linspace": [0.01, 0.1], "num": 101}}, seeds=100) == (
        "1 problem(s) in the configuration:\n"
        "  - axes: the axes and seeds make 10,100 points, more than the 10,000 a sweep may have; use fewer values")


def test_range_logspace_linspace(tmp_path):
    pts = points(tmp_path, axes={"training.eval_every": {"range": [100, 400, 100]},
                                 "training.learning_rate": {"logspace": [0.003, 0.3], "num": 5},
                                 "training.momentum": {"linspace": [0.0, 0.9], "num": 4}})
    values = [list(v) for v in zip(*(p.values.values() for p in pts))]
    assert sorted(set(values[0])) == [100, 200, 300] and all(type(v) is int for v in values[0])
    assert list(dict.fromkeys(values[1])) == [0.003, 0.00948683298050514, 0.03, 0.0948683298050514, 0.3]
    assert list(dict.fromkeys(values[2])) == [0.0, 0.3, 0.6, 0.9]
    assert all(type(v) is float for v in values[1] + values[2])
    assert {(p.scenario.training.eval_every, p.scenario.training.momentum) for p in pts} == {
        (e, m) for e in (100, 200, 300) for m in (0.0, 0.3, 0.6, 0.9)}
    assert len(pts) == 3 * 5 * 4


def test_range_with_two_numbers(tmp_path):
    pts = points(tmp_path, axes={"training.eval_every": {"range": [1, 4]}})
    assert [p.values["training.eval_every"] for p in pts] == [1, 2, 3]


def test_random_draws_reproducible_and_in_bounds(tmp_path):
    axes = {"training.learning_rate": {"random": "loguniform", "low": 0.001, "high": 0.1, "n": 20, "seed": 7},
            "training.momentum": {"random": "uniform", "low": 0.1, "high": 0.9, "n": 1, "seed": 3}}
    first = [p.values for p in points(tmp_path, combine="product", axes=axes)]
    assert first == [p.values for p in points(tmp_path, axes=axes)]
    lrs = [v["training.learning_rate"] for v in first]
    assert len(set(lrs)) == 20 and all(0.001 <= v <= 0.1 and type(v) is float for v in lrs)
    rng = np.random.default_rng(7)
    assert lrs == [float(v) for v in np.exp(rng.uniform(np.log(0.001), np.log(0.1), 20))]
    assert first[0]["training.momentum"] == float(np.random.default_rng(3).uniform(0.1, 0.9, 1)[0])
    axes["training.learning_rate"]["seed"] = 8
    assert [p.values["training.learning_rate"] for p in points(tmp_path, axes=axes)] != lrs


def test_random_choice(tmp_path):
    pts = points(tmp_path, axes={"training.delta_rule": {"random": "choice", "values": ["immediate", "anchored"],
                                                         "n": 12, "seed": 1}})
    drawn = [p.values["training.delta_rule"] for p in pts]
    index = np.random.default_rng(1).integers(0, 2, 12)
    assert drawn == [["immediate", "anchored"][int(i)] for i in index]
    assert set(drawn) == {"immediate", "anchored"}


def test_derived_values(tmp_path):
    pts = points(tmp_path, set={"training.learning_rate": 0.01}, axes={"training.eval_every": [100, 400]},
                 derived={"training.learning_rate": "learning_rate * sqrt(eval_every / 100)",
                          "training.momentum": "min(0.5, training.seed / 10) + 0 * training.learning_rate"},
                 seeds=2)
    assert [p.values for p in pts] == [
        {"training.eval_every": e, "training.learning_rate": lr, "training.momentum": s / 10, "training.seed": s}
        for e, lr in ((100, 0.01), (400, 0.02)) for s in (0, 1)]
    assert [p.scenario.training.learning_rate for p in pts] == [0.01, 0.01, 0.02, 0.02]
    assert [p.scenario.training.momentum for p in pts] == [0.0, 0.1, 0.0, 0.1]


def test_values_round_trip_exactly(tmp_path):
    lrs = [0.1 + 0.2, 1e-05, 1 / 3, 2.5e-300]
    pts = points(tmp_path, axes={"training.learning_rate": lrs})
    assert [p.scenario.training.learning_rate for p in pts] == lrs


def test_set_then_overrides_then_path_relative_to_sweep(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "hw.yaml").write_text((REPO / "configs" / "small-mesh.yaml").read_text().replace("rows: 4", "rows: 5"))
    pts = points(tmp_path, ["training.momentum=0.5", "training.eval_every=77"],
                 set={"training.momentum": 0.25, "training.eval_every": 10, "hardware": "sub/hw.yaml"}, seeds=2)
    assert [(p.scenario.training.momentum, p.scenario.training.eval_every) for p in pts] == [(0.5, 77)] * 2
    assert pts[0].scenario.hardware.mesh.rows == 5
    assert pts[0].scenario.training.learning_rate == 0.01  # the base scenario's


def test_override_of_swept_key_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_sweep(write(tmp_path, seeds=2), ["training.seed=3"])
    assert str(info.value) == ("--set: 1 problem(s) in the configuration:\n"
                               "  - training.seed: is swept by the sweep file; remove the --set or the axis")


def test_describe_and_schema(tmp_path):
    sweep = load_sweep(write(tmp_path, axes={"training.delta_rule": ["immediate", "anchored"]}, seeds=2,
                             report={"metric": "final_test_accuracy", "pair": "training.delta_rule"}))
    info = sweep.describe()
    assert json.loads(json.dumps(info)) == info
    assert (info["name"], info["scenario"], info["combine"], info["axes"], info["seeds"]) == (
        "s", str(QUICKSTART), "product", ["training.delta_rule", "training.seed"], 2)
    assert info["report"] == {"metric": "final_test_accuracy", "x": None, "group": None, "pair": "training.delta_rule"}
    schema = sweep_schema()
    assert schema["additionalProperties"] is False and {"name", "scenario", "set", "axes", "seeds"} <= set(
        schema["properties"])


@pytest.mark.parametrize("name", ["lr-delta-rule.yaml", "workers.yaml"])
def test_shipped_sweeps_validate(name):
    sweep = load_sweep(REPO / "sweeps" / name)
    pts = expand(sweep)
    assert len(pts) == {"lr-delta-rule.yaml": 50, "workers.yaml": 12}[name]
    if name == "workers.yaml":
        assert sorted({p.scenario.training.workers for p in pts}) == [1, 2, 4, 8]


# --- messages

def test_unknown_top_level_key(tmp_path):
    assert message(tmp_path, seeds=2, sett=1) == (
        "1 problem(s) in the configuration:\n"
        "  - sett: unknown key; allowed here: name, scenario, set, combine, axes, derived, seeds, scheduler, report")


def test_unknown_value_spec_key(tmp_path):
    assert message(tmp_path, axes={"training.learning_rate": {"logspace": [0.01, 0.3], "num": 5, "nmu": 3}}) == (
        "1 problem(s) in the configuration:\n"
        "  - axes.training.learning_rate: unknown key 'nmu'; a logspace axis takes logspace, num")


def test_bad_logspace(tmp_path):
    assert message(tmp_path, axes={"training.learning_rate": {"logspace": [0, 0.3], "num": 5}}) == (
        "1 problem(s) in the configuration:\n"
        "  - axes.training.learning_rate: logspace needs two positive numbers [low, high] (got [0, 0.3])")


def test_value_invalid_for_scenario_names_point_and_key(tmp_path):
    assert message(tmp_path, axes={"training.learning_rate": [0.1, -1.0]}, seeds=2) == (
        "1 problem(s) in the configuration:\n"
        "  - p0002 (training.learning_rate=-1.0) and 1 more point(s): training.learning_rate: Input should be "
        "greater than 0 (got -1.0)")
    assert message(tmp_path, axes={"training.learning_rate": [-1.0]}, set={"training.momentum": 2}) == (
        "2 problem(s) in the configuration:\n"
        "  - p0000 (training.learning_rate=-1.0): training.learning_rate: Input should be greater than 0 (got -1.0)\n"
        "  - p0000 (training.learning_rate=-1.0): training.momentum: Input should be less than 1 (got 2)")


def test_missing_base_scenario(tmp_path):
    assert message(tmp_path, "name: s\nscenario: nothere.yaml\nseeds: 2\n") == (
        "1 problem(s) in the configuration:\n"
        f"  - scenario: 'nothere.yaml' is not a file ({tmp_path / 'nothere.yaml'}); give the base scenario's path, "
        "relative to the sweep file")


def test_malformed_yaml(tmp_path):
    assert message(tmp_path, "name: s\nscenario: [\n") == (
        "1 problem(s) in the configuration:\n"
        "  - malformed YAML at line 3, column 1: expected the node content, but found '<stream end>'; fix the syntax")


def test_missing_sweep_file(tmp_path):
    with pytest.raises(ConfigError, match="sweep file not found; check the path"):
        load_sweep(tmp_path / "none.yaml")


@pytest.mark.parametrize("axis, text", [
    ({"linspace": [0, 1], "num": 1}, "num must be a whole number from 2 to 10,000 (got 1)"),
    ({"logspce": [0.1, 1]}, "give a list of values or a mapping with one of logspace, linspace, range, random "
                            "(got {'logspce': [0.1, 1]})"),
    ({"logspace": [0.1, 1], "linspace": [0, 1], "num": 2}, "holds logspace and linspace; give one of them"),
    ({"logspace": [0.1, 1]}, "num is missing; a logspace axis takes logspace, num"),
    ({"range": [1, 1.5]}, "range needs two or three whole numbers [start, stop, step] (got [1, 1.5])"),
    ({"range": [5, 1]}, "range [5, 1] holds 0 values; give from 1 to 10,000"),
    ({"random": "choice", "low": 1, "n": 2, "seed": 0}, "random: choice takes values (a list), not low and high"),
    ({"random": "loguniform", "low": 0, "high": 1, "n": 2, "seed": 0}, "random: loguniform needs a positive low "
                                                                        "(got 0.0)"),
    ([], "an empty list of values; give at least one"),
    (0.1, "give a list of values or a mapping with one of logspace, linspace, range, random (got 0.1)"),
])
def test_bad_value_specs(tmp_path, axis, text):
    assert message(tmp_path, axes={"training.learning_rate": axis}) == (
        f"1 problem(s) in the configuration:\n  - axes.training.learning_rate: {text}")


def test_checks_beyond_the_schema(tmp_path):
    assert message(tmp_path, set={"training.momentum": 0.1}, axes={"training.momentum": [0.1], "a b": [1]},
                   derived={"training.eval_every": "foo + 1", "training.epochs": "__import__('os')"},
                   report={"x": "training.foo"}) == (
        "5 problem(s) in the configuration:\n"
        "  - axes.a b: is not a dotted key such as training.learning_rate\n"
        "  - axes.training.momentum: is also fixed by set; keep it in one of the two\n"
        "  - report.x: 'training.foo' is not swept; choose one of training.momentum, a b, training.eval_every, "
        "training.epochs\n"
        "  - derived.training.eval_every: foo is no key of set, axes, seeds or an earlier derived key\n"
        "  - derived.training.epochs: \"__import__('os')\" is not allowed; use numbers, key names, + - * / ** and "
        "sqrt, log, exp, min, max")


def test_derived_failure_names_the_point(tmp_path):
    assert message(tmp_path, axes={"training.eval_every": [0, 100]},
                   derived={"training.learning_rate": "1 / eval_every"}) == (
        "1 problem(s) in the configuration:\n"
        "  - p0000 (training.eval_every=0): derived.training.learning_rate: '1 / eval_every' cannot be computed: "
        "division by zero")


def test_non_mapping_file(tmp_path):
    assert message(tmp_path, "- a\n- b\n") == (
        "1 problem(s) in the configuration:\n"
        "  - a sweep file must be a YAML mapping of keys to values, got list")


@pytest.mark.parametrize("value", [0.1 + 0.2, 1e-05, 1e16, 2**62, True, None, "1e9", "yes",
                                   "a\"b\\c\n\u2028\U0001F600", [1, "x", {"k": 0.5}], {"name": "adam", "beta1": 0.9}])
def test_values_written_as_yaml_read_back_exactly(value):
    assert parse_override(f"a.b={_yaml(value)}") == (["a", "b"], value)


def test_report_hints_checked(tmp_path):
    assert message(tmp_path, axes={"training.learning_rate": [0.1, 0.2, 0.3]}, seeds=2,
                   report={"x": "training.learning_rate", "group": "training.learning_rate",
                           "pair": "training.learning_rate"}) == (
        "2 problem(s) in the configuration:\n"
        "  - report.group: is report.x too (training.learning_rate); give two different swept keys\n"
        "  - report.pair: training.learning_rate takes 3 values; the paired figure compares a key with two")
    sweep = load_sweep(write(tmp_path, seeds=2, scheduler="tcp://10.0.0.5:8786", report={"pair": "training.seed"}))
    assert sweep.scheduler == "tcp://10.0.0.5:8786" and sweep.name == "s"
