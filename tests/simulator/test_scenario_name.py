"""A scenario's name is a folder name (results/<name>, compare's OUT/<name>), so only safe ones are valid."""

from __future__ import annotations

import json

import pytest

from tests.simulator.test_cli import TINY
from wafersim.cli import EXIT_CONFIG, main
from wafersim.config import ConfigError, load_scenario

RULE = ("cannot be a folder name (results/<name>): use 1 to 100 letters, digits, '.', '_' or '-', "
        "not starting with '.'")


def named(tmp_path, name: str):
    path = tmp_path / "s.yaml"
    path.write_text(TINY.replace("name: tiny\n", f"name: {json.dumps(name)}\n"))  # JSON escapes are YAML escapes
    return path


@pytest.mark.parametrize("name, shown", [
    ("/tmp/x", "'/tmp/x'"),
    ("../x", "'../x'"),
    ("..", "'..'"),
    (".hidden", "'.hidden'"),
    ("a/b", "'a/b'"),
    ("", "''"),
    ("a" * 300, "'" + "a" * 40 + "...'"),
    ("a" * 101, "'" + "a" * 40 + "...'"),
    ("a\x00b", r"'a\x00b'"),
    ("\udc80", r"'\udc80'"),
])
def test_unsafe_names_are_refused_with_the_rule(tmp_path, name, shown):
    path = named(tmp_path, name)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: 1 problem(s) in the configuration:\n  - name: {shown} {RULE}"


@pytest.mark.parametrize("name", ["quickstart", "cp-anchored", "asgd_4.workers", "-e5", "a" * 100])
def test_safe_names_are_valid(tmp_path, name):
    assert load_scenario(named(tmp_path, name)).name == name


def test_the_command_line_prints_an_unprintable_name_escaped(tmp_path, capsys):
    path = named(tmp_path, "\udc80/..")
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == EXIT_CONFIG
    assert capsys.readouterr().err == f"error: {path}: 1 problem(s) in the configuration:\n  - name: '\\udc80/..' {RULE}\n"
