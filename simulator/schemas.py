"""JSON Schemas of scenario, hardware and sweep files, from the pydantic models, for editors' YAML language servers.

The scenario schema describes a file as written, before loading: `hardware` may be a path
(a string) or an inline mapping, and `optimizer` / `lr_schedule` may be a name alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import HardwareConfig, LayerStack, Scenario
from .optimizers import OPTIMIZER_NAMES, SCHEDULE_NAMES

FILES = {"scenario": "scenario.schema.json", "hardware": "hardware.schema.json", "sweep": "sweep.schema.json"}


def hardware_schema() -> dict:
    schema = HardwareConfig.model_json_schema()
    schema["title"] = "wafersim hardware file"
    return schema


def scenario_schema() -> dict:
    schema = Scenario.model_json_schema()
    schema["title"] = "wafersim scenario file"
    props = schema["properties"]
    props["hardware"] = {"anyOf": [{"type": "string", "description": "path of a hardware file, relative to this file"},
                                   {"$ref": "#/$defs/HardwareConfig"}]}
    model = schema["$defs"][props["model"]["$ref"].rsplit("/", 1)[1]]["properties"]
    stack = LayerStack.model_json_schema()
    model["layers"] = {"anyOf": [model["layers"], {k: v for k, v in stack.items() if k != "title"}],
                       "description": model["layers"]["description"]}
    training = schema["$defs"][props["training"]["$ref"].rsplit("/", 1)[1]]["properties"]
    for key, names in (("optimizer", OPTIMIZER_NAMES), ("lr_schedule", SCHEDULE_NAMES)):
        _or_name(training, key, names)
    _or_name(schema["$defs"]["SyntheticConfig"]["properties"], "optimizer", OPTIMIZER_NAMES)  # dni's modules
    return schema


def _or_name(properties: dict, key: str, names) -> None:
    """Let section `key` also be given by its name alone (`named_section`): one more choice, an enum of the names."""
    alone = {"enum": list(names), "description": "the name alone, with its defaults"}
    section = properties[key]
    if "anyOf" in section:  # an optional section: [the sections, null]
        section["anyOf"].insert(0, alone)
        return
    kept = {k: v for k, v in section.items() if k in ("default", "description")}
    properties[key] = {"anyOf": [alone, {k: v for k, v in section.items() if k not in kept}], **kept}


def write_schemas(out_dir: Path) -> list[Path]:
    """Write the schemas of scenario, hardware and sweep files into out_dir (created if needed); return their paths."""
    from .sweep.spec import sweep_schema

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, make in (("scenario", scenario_schema), ("hardware", hardware_schema), ("sweep", sweep_schema)):
        path = out_dir / FILES[kind]
        path.write_text(json.dumps(make(), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths
