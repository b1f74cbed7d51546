"""Tests for scenario and hardware loading in wafersim.config and the SRAM check in wafersim.runner."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from wafersim import runner
from wafersim.layout import layout
from wafersim.config import ConfigError, Scenario, load_hardware, load_scenario

HARDWARE = {
    "name": "tiny-hw",
    "clock_hz": 1.0e9,
    "mesh": {"rows": 2, "cols": 2},
    "pe": {"macs_per_cycle": 64, "sram_bytes": 1048576, "op_overhead_cycles": 4},
    "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 16, "contention": True},
}

SCENARIO = {
    "name": "tiny",
    "hardware": "../configs/hw.yaml",
    "placement": "snake",
    "model": {"layers": [8, 8, 4]},
    "dataset": {"name": "synthetic", "samples": 60},
    "training": {"algorithm": "cp", "learning_rate": 0.1, "samples": 40, "eval_every": 10},
}


def hardware(**changes) -> dict:
    data = copy.deepcopy(HARDWARE)
    data.update(changes)
    return data


def scenario(**changes) -> dict:
    data = copy.deepcopy(SCENARIO)
    data.update(changes)
    return data


def write(tmp_path: Path, scenario_data=None, hardware_data=None, *, scenario_text=None, hardware_text=None) -> Path:
    """Write configs/hw.yaml and scenarios/sc.yaml (which names ../configs/hw.yaml); return the scenario path."""
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    hw_path = tmp_path / "configs" / "hw.yaml"
    sc_path = tmp_path / "scenarios" / "sc.yaml"
    hw_path.write_text(hardware_text if hardware_text is not None else yaml.safe_dump(hardware_data or hardware()))
    sc_path.write_text(scenario_text if scenario_text is not None else yaml.safe_dump(scenario_data or scenario()))
    return sc_path


def error_of(path: Path, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_scenario(path, list(overrides))
    return str(info.value)


def hw_file(tmp_path: Path) -> str:
    return str((tmp_path / "configs" / "hw.yaml").resolve())


def test_valid_scenario_loads_with_hardware_from_relative_path(tmp_path):
    s = load_scenario(write(tmp_path))
    assert s.hardware.name == "tiny-hw"
    assert s.hardware.noc.hop_latency_cycles == 1
    assert s.model.layers == [8, 8, 4]
    assert s.n_layers == 2


def test_inline_hardware_mapping(tmp_path):
    path = write(tmp_path, scenario(hardware=hardware(name="inline-hw")))
    s = load_scenario(path)
    assert s.hardware.name == "inline-hw"
    assert s.hardware.mesh.rows == 2


def test_load_hardware_on_its_own(tmp_path):
    write(tmp_path)
    hw = load_hardware(tmp_path / "configs" / "hw.yaml", ["noc.contention=false"])
    assert hw.name == "tiny-hw"
    assert hw.noc.contention is False


def test_unknown_top_level_key_lists_allowed_keys(tmp_path):
    msg = error_of(write(tmp_path, scenario(epochs=3)))
    assert "sc.yaml" in msg
    assert "epochs: unknown key" in msg
    assert "allowed here: name, hardware, placement, model, dataset, training, timing_only, engine, allow_sram_overflow" in msg


def test_unknown_nested_key_in_scenario(tmp_path):
    data = scenario()
    data["training"]["lr"] = 0.1
    msg = error_of(write(tmp_path, data))
    assert "training.lr: unknown key" in msg
    assert "allowed here: algorithm, learning_rate, momentum" in msg


def test_unknown_nested_key_in_hardware_file_names_the_file(tmp_path):
    hw = hardware()
    hw["noc"]["latency"] = 3
    msg = error_of(write(tmp_path, hardware_data=hw))
    assert hw_file(tmp_path) in msg
    assert "(the hardware of" in msg and "sc.yaml" in msg
    assert "noc.latency: unknown key; allowed here: hop_latency_cycles, link_bytes_per_cycle, contention" in msg


def test_unknown_key_in_inline_hardware_uses_full_dotted_key(tmp_path):
    hw = hardware()
    hw["pe"]["cache_bytes"] = 1
    msg = error_of(write(tmp_path, scenario(hardware=hw)))
    assert "hardware.pe.cache_bytes: unknown key; allowed here: macs_per_cycle, sram_bytes, op_overhead_cycles" in msg


def test_quoted_number_is_rejected_not_coerced(tmp_path):
    text = yaml.safe_dump(scenario()).replace("learning_rate: 0.1", "learning_rate: '0.1'")
    assert "'0.1'" in text
    msg = error_of(write(tmp_path, scenario_text=text))
    assert "training.learning_rate" in msg
    assert "valid number" in msg
    assert "(got '0.1'); a quoted value is text: write the value without quotes" in msg


def test_negative_hop_latency_is_out_of_range(tmp_path):
    hw = hardware()
    hw["noc"]["hop_latency_cycles"] = -1
    msg = error_of(write(tmp_path, hardware_data=hw))
    assert hw_file(tmp_path) in msg
    assert "noc.hop_latency_cycles: Input should be greater than or equal to 0 (got -1)" in msg


def test_test_fraction_above_one_is_out_of_range(tmp_path):
    data = scenario()
    data["dataset"]["test_fraction"] = 1.5
    msg = error_of(write(tmp_path, data))
    assert "dataset.test_fraction: Input should be less than 1 (got 1.5)" in msg


def test_momentum_one_is_out_of_range(tmp_path):
    data = scenario()
    data["training"]["momentum"] = 1.0
    msg = error_of(write(tmp_path, data))
    assert "training.momentum: Input should be less than 1 (got 1.0)" in msg


def test_missing_required_key_in_scenario(tmp_path):
    data = scenario()
    del data["training"]["learning_rate"]
    msg = error_of(write(tmp_path, data))
    assert "sc.yaml" in msg
    assert "training.learning_rate: required key is missing" in msg


def test_missing_required_key_in_hardware_file(tmp_path):
    hw = hardware()
    del hw["pe"]["sram_bytes"]
    msg = error_of(write(tmp_path, hardware_data=hw))
    assert hw_file(tmp_path) in msg
    assert "pe.sram_bytes: required key is missing" in msg


def test_every_problem_is_listed(tmp_path):
    data = scenario()
    del data["training"]["learning_rate"]
    data["dataset"]["test_fraction"] = 1.5
    msg = error_of(write(tmp_path, data))
    assert "2 problem(s)" in msg
    assert "training.learning_rate" in msg and "dataset.test_fraction" in msg


def test_missing_hardware_file(tmp_path):
    msg = error_of(write(tmp_path, scenario(hardware="../configs/nowhere.yaml")))
    assert str((tmp_path / "configs" / "nowhere.yaml").resolve()) in msg
    assert "hardware file not found; check the path" in msg


def test_missing_scenario_file(tmp_path):
    msg = error_of(tmp_path / "absent.yaml")
    assert "absent.yaml" in msg
    assert "scenario file not found; check the path" in msg


def test_unreadable_hardware_file(tmp_path):
    (tmp_path / "configs" / "dir.yaml").mkdir(parents=True)
    msg = error_of(write(tmp_path, scenario(hardware="../configs/dir.yaml")))
    assert str((tmp_path / "configs" / "dir.yaml").resolve()) in msg
    assert "hardware file cannot be read" in msg


def test_malformed_yaml_names_line_and_column(tmp_path):
    text = "name: broken\nmesh: {rows: 2\npe: [\n"
    msg = error_of(write(tmp_path, hardware_text=text))
    assert hw_file(tmp_path) in msg
    assert "malformed YAML at line 3, column 3" in msg
    assert "fix the syntax" in msg


def test_yaml_list_instead_of_mapping(tmp_path):
    msg = error_of(write(tmp_path, hardware_text="- rows\n- cols\n"))
    assert hw_file(tmp_path) in msg
    assert "a hardware file must be a YAML mapping of keys to values, got list" in msg


def test_scenario_file_that_is_a_list(tmp_path):
    msg = error_of(write(tmp_path, scenario_text="- name\n"))
    assert "a scenario file must be a YAML mapping of keys to values, got list" in msg


def test_placement_outside_the_mesh(tmp_path):
    msg = error_of(write(tmp_path, scenario(placement=[[0, 0], [2, 0]])))
    assert "placement[1]: [2, 0] is outside the 2x2 mesh (rows 0-1, cols 0-1)" in msg


def test_placement_reusing_a_pe(tmp_path):
    msg = error_of(write(tmp_path, scenario(placement=[[1, 1], [1, 1]])))
    assert "placement[1]: PE [1, 1] already holds layer 1; each layer needs its own PE" in msg


def test_placement_of_wrong_length(tmp_path):
    msg = error_of(write(tmp_path, scenario(placement=[[0, 0]])))
    assert "placement: lists 1 PEs but the model has 2 layers; give one [row, col] per layer" in msg


def test_placement_entry_that_is_not_a_pair(tmp_path):
    msg = error_of(write(tmp_path, scenario(placement=[[0, 0], [1]])))
    assert "placement[1]: [1] is not a [row, col] pair" in msg


def test_placement_of_unknown_name(tmp_path):
    msg = error_of(write(tmp_path, scenario(placement="diagonal")))
    assert ("placement: expected 'snake', 'row', a list of [row, col] pairs, one per layer; or layer regions: "
            "'balanced'") in msg
    assert "(got 'diagonal')" in msg


def test_explicit_placement_is_kept(tmp_path):
    s = load_scenario(write(tmp_path, scenario(placement=[[1, 1], [0, 1]])))
    assert s.placement == [[1, 1], [0, 1]]


def test_more_layers_than_pes(tmp_path):
    data = scenario()
    data["model"]["layers"] = [8, 8, 8, 8, 8, 4]
    msg = error_of(write(tmp_path, data))
    assert "model.layers: 5 layers need 5 PEs but the 2x2 mesh (hardware.mesh) has 4" in msg
    assert "use a larger mesh or fewer layers" in msg


def test_epochs_and_samples_both_given(tmp_path):
    data = scenario()
    data["training"]["epochs"] = 1
    msg = error_of(write(tmp_path, data))
    assert "give exactly one of training.epochs and training.samples" in msg


def test_neither_epochs_nor_samples(tmp_path):
    data = scenario()
    del data["training"]["samples"]
    msg = error_of(write(tmp_path, data))
    assert "give exactly one of training.epochs and training.samples" in msg


def test_batch_size_above_one_with_cp(tmp_path):
    data = scenario()
    data["training"]["batch_size"] = 4
    msg = error_of(write(tmp_path, data))
    assert ("training.batch_size is 4 but cp does not use it (it is a key of mbgd, asgd, downpour, hogwild, "
            "allreduce); remove it or choose one of those algorithms") in msg


def test_batch_size_above_one_with_mbgd_is_fine(tmp_path):
    data = scenario()
    data["training"].update(algorithm="mbgd", batch_size=4)
    assert load_scenario(write(tmp_path, data)).training.batch_size == 4


@pytest.mark.parametrize("text, value", [("1.0e9", 1.0e9), ("1e9", 1.0e9), ("2E+9", 2.0e9), ("5e8", 5.0e8)])
def test_exponent_notation_reads_as_float(tmp_path, text, value):
    hw_text = yaml.safe_dump(hardware()).replace("clock_hz: 1000000000.0", f"clock_hz: {text}")
    assert f"clock_hz: {text}" in hw_text
    s = load_scenario(write(tmp_path, hardware_text=hw_text))
    assert isinstance(s.hardware.clock_hz, float)
    assert s.hardware.clock_hz == value


def test_exponent_learning_rate_is_not_a_string(tmp_path):
    text = yaml.safe_dump(scenario()).replace("learning_rate: 0.1", "learning_rate: 1e-2")
    assert load_scenario(write(tmp_path, scenario_text=text)).training.learning_rate == 0.01


@pytest.mark.parametrize("text", ["-e5", ".e5", "+e1"])
def test_exponent_without_mantissa_is_a_string(tmp_path, text):
    # Carried by the hardware's name: a scenario's name is a folder name, which may not start with '.' or '+'.
    body = yaml.safe_dump(hardware()).replace(f"name: {HARDWARE['name']}\n", f"name: {text}\n")
    assert load_scenario(write(tmp_path, hardware_text=body)).hardware.name == text


def test_hardware_override_applies_after_the_file_is_loaded(tmp_path):
    s = load_scenario(write(tmp_path), ["hardware.noc.hop_latency_cycles=4"])
    assert s.hardware.noc.hop_latency_cycles == 4
    assert s.hardware.noc.link_bytes_per_cycle == 16


def test_hardware_override_on_inline_hardware(tmp_path):
    s = load_scenario(write(tmp_path, scenario(hardware=hardware())), ["hardware.mesh.cols=3"])
    assert s.hardware.mesh.cols == 3


def test_invalid_hardware_override_names_the_hardware_file(tmp_path):
    msg = error_of(write(tmp_path), ["hardware.noc.hop_latency_cycles=-4"])
    assert hw_file(tmp_path) in msg
    assert "noc.hop_latency_cycles: Input should be greater than or equal to 0 (got -4)" in msg


def test_override_is_read_as_yaml_and_not_coerced(tmp_path):
    msg = error_of(write(tmp_path), ["hardware.noc.hop_latency_cycles=abc"])
    assert "noc.hop_latency_cycles: Input should be a valid integer (got 'abc')" in msg


def test_override_of_unknown_key(tmp_path):
    msg = error_of(write(tmp_path), ["training.warmup=4"])
    assert "training.warmup: unknown key; allowed here:" in msg


def test_override_of_unknown_hardware_key(tmp_path):
    msg = error_of(write(tmp_path), ["hardware.noc.bogus=1"])
    assert hw_file(tmp_path) in msg
    assert "noc.bogus: unknown key" in msg


def test_override_list_index(tmp_path):
    s = load_scenario(write(tmp_path), ["model.layers.1=16"])
    assert s.model.layers == [8, 16, 4]


def test_override_list_index_out_of_range(tmp_path):
    msg = error_of(write(tmp_path), ["model.layers.5=16"])
    assert "--set" in msg
    assert "model.layers.5: index 5 is outside the list of 3 items" in msg


def test_override_without_equals_sign(tmp_path):
    msg = error_of(write(tmp_path), ["foo"])
    assert "--set" in msg
    assert "override 'foo' must look like dotted.key=value" in msg


def test_override_value_that_is_not_yaml(tmp_path):
    msg = error_of(write(tmp_path), ["training.learning_rate=["])
    assert "--set" in msg
    assert "training.learning_rate: value '[' is not valid YAML" in msg


def test_override_inside_a_scalar(tmp_path):
    msg = error_of(write(tmp_path), ["training.learning_rate.x=1"])
    assert "training.learning_rate: 'training.learning_rate.x=1' goes inside a value that is not a mapping" in msg


def test_several_overrides(tmp_path):
    s = load_scenario(write(tmp_path), ["training.learning_rate=0.02", "training.seed=7", "placement=row"])
    assert (s.training.learning_rate, s.training.seed, s.placement) == (0.02, 7, "row")


def test_dataset_path_in_file_is_relative_to_the_file(tmp_path, monkeypatch):
    data = scenario()
    data["dataset"]["path"] = "data/idx"
    path = write(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    s = load_scenario(path)
    assert s.dataset.path == str((tmp_path / "scenarios" / "data" / "idx").resolve())


def test_dataset_path_override_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    path = write(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    s = load_scenario(path, ["dataset.path=rel"])
    assert s.dataset.path == str((work / "rel").resolve())


def test_hardware_path_override_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    path = write(tmp_path)
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(hardware(name="other-hw")))
    monkeypatch.chdir(tmp_path)
    assert load_scenario(path, ["hardware=other.yaml"]).hardware.name == "other-hw"


def test_hardware_override_with_inline_mapping(tmp_path):
    inline = yaml.safe_dump(hardware(name="inline-hw"), default_flow_style=True).strip()
    assert load_scenario(write(tmp_path), [f"hardware={inline}"]).hardware.name == "inline-hw"


def test_dataset_path_override_to_null(tmp_path):
    data = scenario()
    data["dataset"]["path"] = "data/idx"
    assert load_scenario(write(tmp_path, data), ["dataset.path=null"]).dataset.path is None


def sram_scenario(sram_bytes: int, **extra) -> Scenario:
    data = scenario(hardware=hardware(pe={"macs_per_cycle": 64, "sram_bytes": sram_bytes, "op_overhead_cycles": 4}),
                    **extra)
    data["model"]["layers"] = [64, 64, 10]
    return Scenario.model_validate(data)


def test_layer_that_does_not_fit_in_sram():
    with pytest.raises(ConfigError) as info:
        runner.prepare(sram_scenario(16384), "x.yaml")
    msg = str(info.value)
    assert msg.startswith("x.yaml: 1 problem(s)")
    assert "hardware.pe.sram_bytes: layer 1 (64->64 on PE [0, 0])" in msg
    assert "needs 18,432 bytes of SRAM" in msg
    assert "but a PE has 16,384" in msg
    assert "raise hardware.pe.sram_bytes" in msg
    assert "allow_sram_overflow: true" in msg


def test_sram_overflow_allowed_is_reported():
    s = sram_scenario(16384, allow_sram_overflow=True)
    runner.prepare(s, "x.yaml")
    result = runner.run(s, "x.yaml", progress=False, trace=False)
    assert result.status == "completed"
    assert result.metrics["sram_overflow"] == [
        {"layer": 1, "role": "layer", "worker": None, "row": 0, "col": 0, "bytes_needed": 18432,
         "bytes_available": 16384}]


def test_fitting_layers_report_no_overflow():
    result = runner.run(sram_scenario(1 << 20), "x.yaml", progress=False, trace=False)
    assert result.metrics["sram_overflow"] == []


def test_anchored_rule_needs_more_sram_than_immediate():
    def plan(rule: str) -> list[int]:
        data = scenario()
        data["hardware"] = hardware()
        data["training"]["delta_rule"] = rule
        s = Scenario.model_validate(data)
        return [p.memory.total for p in layout(s, 40, 60).placed]

    immediate, anchored = plan("immediate"), plan("anchored")
    assert anchored[0] == immediate[0]
    assert anchored[1] > immediate[1]


def test_anchored_rule_stashes_weight_copies_above_the_first_layer():
    data = scenario(hardware=hardware())
    data["training"]["delta_rule"] = "anchored"
    s = Scenario.model_validate(data)
    plan = layout(s, 40, 60)
    first, second = (p.memory for p in plan.placed[:2])
    n_in, n_out = s.model.layers[1], s.model.layers[2]
    assert first.weight_stash == 0
    assert second.weight_stash == plan.schedules[0].window(2) * n_in * n_out * 4
    assert second.weight_stash > 0


def test_a_deep_stack_of_layers_written_compactly(tmp_path):
    """{input, hidden, repeat, output} is the input width, the hidden widths `repeat` times, the output width."""
    stack = {"input": 8, "hidden": [6, 5], "repeat": 3, "output": 4}
    path = write(tmp_path, scenario(model={"layers": stack}), hardware(mesh={"rows": 3, "cols": 3}))
    assert load_scenario(path).model.layers == [8, 6, 5, 6, 5, 6, 5, 4]


@pytest.mark.parametrize("stack, problem", [
    ({"input": 8, "hidden": [6], "repeat": 2, "outptu": 4},
     "model.layers.outptu: unknown key; allowed here: input, hidden, repeat, output"),
    ({"input": 8, "hidden": [], "repeat": 2, "output": 4}, "model.layers.hidden: "),
    ({"input": 8, "hidden": [6], "repeat": 0, "output": 4},
     "model.layers.repeat: Input should be greater than or equal to 1 (got 0)"),
    ({"input": 8, "hidden": [6] * 10, "repeat": 1_000_000, "output": 4},
     "model.layers: 10 hidden widths repeated 1,000,000 times make 10,000,001 layers, more than the 1,000,000 a "
     "stack may have; lower repeat"),
])
def test_a_bad_stack_names_its_key(tmp_path, stack, problem):
    assert problem in error_of(write(tmp_path, scenario(model={"layers": stack})))
