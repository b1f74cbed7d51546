"""The command line's own options: --version, python -m wafersim, --quiet, --no-figures, and the schema command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.simulator.test_cli import FIGURES, tiny

from wafersim.cli import EXIT_CONFIG, main
from wafersim.config import load_scenario
from wafersim.schemas import FILES

REPO = Path(__file__).resolve().parents[2]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("wafersim ")


def test_quiet_and_no_figures(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(tiny(tmp_path)), "--out", str(out), "--quiet", "--no-figures"]) == 0
    assert capsys.readouterr().out == ""
    assert (out / "metrics.json").is_file() and not any((out / name).exists() for name in FIGURES)


def test_schema_writes_every_file_and_the_shipped_ones_are_current(tmp_path, capsys):
    assert main(["schema", "--out", str(tmp_path)]) == 0
    for name in FILES.values():
        assert (tmp_path / name).read_text() == (REPO / "schemas" / name).read_text(), (
            f"schemas/{name} is stale: run `wafersim schema --out schemas`")


def test_schema_describes_files_as_written(tmp_path):
    main(["schema", "--out", str(tmp_path)])
    scenario = json.loads((tmp_path / FILES["scenario"]).read_text())
    assert scenario["additionalProperties"] is False
    assert {"type": "string", "description": "path of a hardware file, relative to this file"} in \
        scenario["properties"]["hardware"]["anyOf"]
    training = scenario["$defs"]["TrainingConfig"]["properties"]
    assert "adam" in training["optimizer"]["anyOf"][0]["enum"]
    assert {"delta_rule", "workers", "n_fetch"} <= set(training)


def test_every_shipped_file_validates_against_its_schema():
    """As a YAML 1.2 language server reads them (1.0e9 is a number), hence the project's loader."""
    jsonschema = pytest.importorskip("jsonschema")
    from wafersim.config import _safe_load

    schemas = {kind: json.loads((REPO / "schemas" / name).read_text()) for kind, name in FILES.items()}
    from wafersim.compare import LISTING_KEY, load_all

    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        data = _safe_load(path.read_text())
        if LISTING_KEY in data:  # a comparison file: every scenario it lists loads
            assert len(load_all([path], [])) == len(data[LISTING_KEY])
            continue
        jsonschema.validate(data, schemas["scenario"])
        assert load_scenario(path)  # and the loader agrees
    for path in sorted((REPO / "configs").glob("*.yaml")):
        jsonschema.validate(_safe_load(path.read_text()), schemas["hardware"])
    from wafersim.sweep.spec import expand, load_sweep

    for path in sorted((REPO / "sweeps").glob("*.yaml")):
        jsonschema.validate(_safe_load(path.read_text()), schemas["sweep"])
        assert expand(load_sweep(path))  # and every point validates


def test_schema_into_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    assert main(["schema", "--out", str(target)]) == EXIT_CONFIG
    assert "is a file, not a folder" in capsys.readouterr().err
