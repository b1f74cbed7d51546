"""Hostile and mistaken configuration input: each is refused with one short message naming the file and the key."""

from __future__ import annotations

import codecs

import pytest
import yaml

from wafersim import cli
from wafersim.config import (MAX_DEPTH, MAX_FILE_BYTES, MAX_TRAINING_SAMPLES, MAX_VALUES, MESSAGE_BYTES, ConfigError,
                             load_scenario)

from .test_config import error_of, hardware, hw_file, scenario, write

TWO_KB = 2048


def text_of(tmp_path, **changes) -> str:
    return yaml.safe_dump(scenario(**changes), sort_keys=False)


def short(message: str) -> str:
    assert len(message.encode("utf-8", "backslashreplace")) < TWO_KB
    assert "Traceback" not in message
    return message


# --- encodings ---------------------------------------------------------------------------


def test_latin1_byte_in_a_comment_is_not_utf8(tmp_path):
    path = write(tmp_path)
    path.write_bytes(b"# caf\xe9 au lait\n" + path.read_bytes())
    msg = short(error_of(path))
    assert str(path) in msg
    assert "scenario file is not UTF-8 text: byte 0xe9 at offset 5 (line 1) is not valid UTF-8" in msg
    assert "save the file as UTF-8" in msg


def test_utf16_file_is_not_utf8(tmp_path):
    path = write(tmp_path)
    path.write_bytes(codecs.BOM_UTF16_LE + path.read_text().encode("utf-16-le"))
    msg = short(error_of(path))
    assert "not UTF-8 text: it starts with a UTF-16 or UTF-32 byte-order mark; save it as UTF-8" in msg


def test_utf16_without_a_byte_order_mark_is_not_utf8(tmp_path):
    path = write(tmp_path)
    path.write_bytes(path.read_text().encode("utf-16-le"))
    assert "not UTF-8 text: it holds a NUL byte at line 1" in short(error_of(path))


def test_hardware_file_that_is_not_utf8_names_the_hardware_file(tmp_path):
    path = write(tmp_path)
    (tmp_path / "configs" / "hw.yaml").write_bytes(b"name: m\xfcnchen\n")
    msg = short(error_of(path))
    assert msg.startswith(f"{hw_file(tmp_path)}: 1 problem(s)")
    assert "hardware file is not UTF-8 text: byte 0xfc at offset 7 (line 1)" in msg


def test_utf8_byte_order_mark_is_read(tmp_path):
    path = write(tmp_path)
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    assert load_scenario(path).name == "tiny"


def test_control_character_names_line_and_column(tmp_path):
    path = write(tmp_path, scenario_text="name: tiny\nmodel: {layers: [8, \x07]}\n")
    assert "malformed YAML at line 2, column 21: the character '\\x07' is not allowed in YAML; remove it" in short(error_of(path))


def test_empty_file_says_so(tmp_path):
    path = write(tmp_path, scenario_text="# nothing yet\n")
    assert "must be a YAML mapping of keys to values, got nothing (the file is empty)" in error_of(path)


# --- duplicate keys ----------------------------------------------------------------------


def test_duplicate_top_level_key_names_both_lines(tmp_path):
    path = write(tmp_path, scenario_text=text_of(tmp_path) + "name: again\n")
    msg = short(error_of(path))
    assert str(path) in msg
    assert ("  - name: given twice, at line 1 and line 17; a key may appear once in a mapping: keep the one you "
            "mean and remove the other") in msg


def test_duplicate_nested_key_names_its_dotted_key(tmp_path):
    body = "name: tiny\nhardware: ../configs/hw.yaml\nmodel: {layers: [8, 8, 4]}\ntraining:\n  learning_rate: 0.1\n" \
           "  samples: 40\n  learning_rate: 0.2\n"
    assert "training.learning_rate: given twice, at line 5 and line 7" in error_of(write(tmp_path, scenario_text=body))


def test_duplicate_key_in_hardware_file(tmp_path):
    text = yaml.safe_dump(hardware(), sort_keys=False).replace("noc:\n", "noc:\n  contention: false\n")
    msg = error_of(write(tmp_path, hardware_text=text))
    assert msg.startswith(hw_file(tmp_path))
    assert "noc.contention: given twice" in msg


def test_merge_key_may_be_overridden(tmp_path):
    body = ("name: tiny\nhardware: ../configs/hw.yaml\nmodel: {layers: [8, 8, 4]}\n"
            "dataset: {name: synthetic, samples: 60}\n"
            "training: {<<: {learning_rate: 0.1, samples: 40, eval_every: 10}, learning_rate: 0.2}\n")
    assert load_scenario(write(tmp_path, scenario_text=body)).training.learning_rate == 0.2


# --- bounds on what the loader builds ----------------------------------------------------


def test_alias_bomb_is_refused_in_a_short_message(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = write(tmp_path, scenario_text="\n".join(lines) + "\nname: *a8\n")
    msg = short(error_of(path))
    assert f"the YAML expands to more than {MAX_VALUES:,} values (at line 6)" in msg
    assert "remove the repetition" in msg


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, scenario_text="name: tiny\nplacement: &p [*p]\n")
    assert "the alias at line 2 names a value that contains the alias itself" in short(error_of(path))


def test_deep_nesting_is_refused(tmp_path):
    path = write(tmp_path, scenario_text="x: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n")
    assert f"values nested more than {MAX_DEPTH} levels deep at line 1; " in short(error_of(path))
    path = write(tmp_path, scenario_text="x: " + "[" * 1000 + "]" * 1000 + "\n")
    assert f"nested more than {MAX_DEPTH} levels deep" in short(error_of(path))


def test_nesting_of_real_files_is_allowed(tmp_path):
    path = write(tmp_path, scenario_text=text_of(tmp_path) + "extra: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2))
    assert "extra: unknown key" in error_of(path)


def test_file_larger_than_the_bound_is_refused(tmp_path):
    path = write(tmp_path)
    path.write_bytes(path.read_bytes() + b"#" * MAX_FILE_BYTES)
    assert f"scenario file is larger than {MAX_FILE_BYTES:,} bytes" in short(error_of(path))


def test_too_long_integer_is_refused(tmp_path):
    path = write(tmp_path, scenario_text=text_of(tmp_path) + "x: " + "9" * 5000 + "\n")
    assert "malformed YAML at line 17, column 4: the value '99999" in short(error_of(path))
    assert "cannot be read (it is too long)" in error_of(path)


def test_impossible_date_is_refused(tmp_path):
    path = write(tmp_path, scenario_text=text_of(tmp_path).replace("name: tiny", "name: 2001-13-45"))
    assert "malformed YAML at line 1, column 7: the value '2001-13-45' cannot be read (month must be in 1..12)" in \
        error_of(path)


def test_alias_bomb_in_a_set_value_is_refused(tmp_path):
    value = "[" + ", ".join(["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 6)]) + "]"
    msg = short(error_of(write(tmp_path), [f"name={value}"]))
    assert msg.startswith("--set: 1 problem(s)") and "name: value '[&a0" in msg
    assert "expands to more than" in msg


# --- messages stay short -----------------------------------------------------------------


def test_many_problems_are_counted_not_listed(tmp_path):
    extra = {f"unknown_key_number_{i}": i for i in range(300)}
    msg = short(error_of(write(tmp_path, scenario(**extra))))
    assert msg.startswith(f"{write(tmp_path, scenario(**extra))}: 300 problem(s) in the configuration:")
    assert msg.endswith("more problem(s)")
    assert len(msg.encode()) <= MESSAGE_BYTES


def test_long_value_is_elided_in_got(tmp_path):
    data = scenario()
    data["training"]["eval_every"] = "x" * 100_000
    msg = short(error_of(write(tmp_path, data)))
    assert "training.eval_every: Input should be a valid integer (got 'xxxx" in msg
    assert "...xxx" in msg or "..." in msg


def test_long_list_is_elided_in_got(tmp_path):
    data = scenario(hardware=list(range(50_000)))
    msg = short(error_of(write(tmp_path, data)))
    assert "hardware: Input should be a valid dictionary or instance of HardwareConfig (got [0, 1, 2, 3, 4, 5, ...])" \
        in msg


def test_long_source_and_key_are_elided():
    msg = short(str(ConfigError("/" + "d" * 5000 + "/sc.yaml", [("k" * 5000, "t" * 5000)])))
    assert msg.startswith("/ddd") and "d...d" in msg and "d/sc.yaml: 1 problem(s)" in msg
    assert "k...k" in msg and "t...t" in msg


# --- values that validate but cannot run -------------------------------------------------


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_learning_rate_must_be_finite(tmp_path, value):
    msg = short(error_of(write(tmp_path), [f"training.learning_rate={value}"]))
    assert "training.learning_rate: must be a finite number (got " in msg
    assert ".inf, -.inf and .nan cannot be used" in msg


@pytest.mark.parametrize("override, key", [
    ("hardware.clock_hz=.inf", "clock_hz"),
    ("training.optimizer={name: adam, beta1: .nan}", "training.optimizer.beta1"),
    ("training.lr_half_life_epochs=.inf", "training.lr_half_life_epochs"),
    ("dataset.test_fraction=.nan", "dataset.test_fraction"),
])
def test_every_float_must_be_finite(tmp_path, override, key):
    assert f"{key}: must be a finite number" in error_of(write(tmp_path), [override])


def test_seed_must_fit_numpy(tmp_path):
    msg = error_of(write(tmp_path), ["training.seed=-1"])
    assert "training.seed: is -1; a seed is a whole number from 0 to 2**63 - 1" in msg
    msg = error_of(write(tmp_path), [f"training.seed={2**63}"])
    assert "training.seed: 9.223e+18 is too large: give a whole number between -2**63 and 2**63 - 1" in msg


def test_seed_limits_are_accepted(tmp_path):
    assert load_scenario(write(tmp_path), [f"training.seed={2**63 - 1}"]).training.seed == 2**63 - 1


def test_integers_must_fit_in_64_bits(tmp_path):
    msg = error_of(write(tmp_path), ["hardware.mesh.rows=100000000000000000000"])
    assert "mesh.rows: 1.000e+20 is too large: give a whole number between -2**63 and 2**63 - 1" in msg
    msg = error_of(write(tmp_path), [f"model.layers=[8, {2**64}, 4]"])
    assert "model.layers: an item of the list is too large" in msg


def test_allreduce_with_fewer_samples_than_workers(tmp_path):
    data = scenario(hardware=hardware(mesh={"rows": 4, "cols": 4}))
    data["training"] = {"algorithm": "allreduce", "workers": 4, "batch_size": 4, "learning_rate": 0.1,
                        "epochs": 1e-12}
    path = write(tmp_path, data)
    msg = short(error_of(path))
    assert ("training.epochs: 1e-12 epochs of the 48 training samples are 4.8e-11 samples, which rounds to none; "
            "give training.epochs of at least 0.0208 (one sample), or training.samples") in msg
    msg = error_of(path, ["training.epochs=0.05"])
    assert ("training.epochs: 0.05 epochs of the 48 training samples give 2 sample(s) but allreduce splits every "
            "step over its 4 workers, so it needs at least 4 samples (one per worker); raise training.epochs or "
            "lower training.workers") in msg
    msg = error_of(path, ["training.epochs=", "training.samples=3"])
    assert "training.samples: 3 sample(s) but allreduce splits every step over its 4 workers" in msg
    assert load_scenario(path, ["training.epochs=", "training.samples=4"]).training.samples == 4


def test_epochs_that_round_to_no_sample(tmp_path):
    data = scenario()
    data["training"] = {"learning_rate": 0.1, "epochs": 0.001}
    msg = error_of(write(tmp_path, data))
    assert "training.epochs: 0.001 epochs of the 48 training samples are 0.048 samples, which rounds to none" in msg
    data["training"]["epochs"] = 1e300
    assert ("training.epochs: 1e+300 epochs of the 48 training samples are 4.8e+301 samples, more than the "
            "100,000,000 a run may train on") in error_of(write(tmp_path, data))


def test_training_samples_are_bounded(tmp_path):
    msg = error_of(write(tmp_path), [f"training.samples={MAX_TRAINING_SAMPLES + 1}"])
    assert ("training.samples: is 100,000,001, more than the 100,000,000 a run may train on (its op and message "
            "records alone would need over 150 GB); lower training.samples") in msg


# --- keys and paths ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a[1]", "link's", "x'y[0]"])
def test_unknown_noc_key_is_named_whatever_it_holds(tmp_path, key):
    allowed = "unknown key; allowed here: hop_latency_cycles, link_bytes_per_cycle, contention"
    assert f"noc.{key}: {allowed}" in error_of(write(tmp_path), [f"hardware.noc.{key}=1"])
    inline = hardware()
    inline["noc"][key] = 1
    msg = error_of(write(tmp_path, scenario(hardware=inline)))
    assert f"hardware.noc.{key}: {allowed}" in msg and "another form" not in msg
    on_file = hardware()
    on_file["noc"][key] = 1
    msg = error_of(write(tmp_path, hardware_data=on_file))
    assert msg.startswith(hw_file(tmp_path)) and f"noc.{key}: {allowed}" in msg


def test_key_that_is_not_text(tmp_path):
    path = write(tmp_path, scenario_text=text_of(tmp_path) + "1: 2\n")
    assert "\n  - the key 1 is not text; keys are names such as learning_rate" in error_of(path)
    data = scenario()
    data["model"][None] = 3
    path = write(tmp_path, scenario_text=yaml.safe_dump(data, sort_keys=False))
    assert "\n  - model: the key None is not text" in error_of(path)


@pytest.mark.parametrize("value", ["''", "'   '"])
def test_empty_hardware_path_names_the_key(tmp_path, value):
    path = write(tmp_path, scenario_text=text_of(tmp_path).replace("../configs/hw.yaml", value))
    msg = short(error_of(path))
    assert msg.startswith(f"{path}: 1 problem(s)")
    assert "  - hardware: is an empty path; give the path of the file or folder it names" in msg


def test_empty_hardware_override_names_the_key(tmp_path):
    assert "hardware: is empty; give the path of a hardware file" in error_of(write(tmp_path), ["hardware="])
    assert "--set: 1 problem(s)" in error_of(write(tmp_path), ["hardware=''"])


def test_empty_dataset_path_names_the_key(tmp_path):
    data = scenario(dataset={"name": "mnist", "path": ""})
    assert "dataset.path: is an empty path" in error_of(write(tmp_path, data))


def test_nul_in_a_path_names_the_key(tmp_path):
    path = write(tmp_path, scenario_text=text_of(tmp_path).replace("../configs/hw.yaml", '"a\\0b.yaml"'))
    assert "hardware: 'a\\x00b.yaml' holds a NUL character" in error_of(path)


def test_unknown_user_in_a_path_is_kept_as_written(tmp_path):
    path = write(tmp_path, scenario_text=text_of(tmp_path).replace("../configs/hw.yaml", "~no-such-user-xyz/hw.yaml"))
    assert "~no-such-user-xyz/hw.yaml: 1 problem(s)" in error_of(path)


def test_set_index_of_unicode_digits(tmp_path):
    assert "index ² is outside the list of 3 items" in error_of(write(tmp_path), ["model.layers.²=3"])
    assert "goes inside a value that is not a mapping" in error_of(write(tmp_path), ["model.layers.².x=3"])


# --- the command line --------------------------------------------------------------------


def test_validate_refuses_with_exit_2_and_one_message(tmp_path, capsys):
    path = write(tmp_path)
    path.write_bytes(b"# \xff\n" + path.read_bytes())
    assert cli.main(["validate", str(path)]) == cli.EXIT_CONFIG
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"error: {path}: 1 problem(s) in the configuration:\n  - scenario file is not UTF-8 text: byte "
                   "0xff at offset 2 (line 1) is not valid UTF-8; save the file as UTF-8 (Latin-1 accents are the "
                   "usual cause)\n")
