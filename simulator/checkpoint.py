"""Checkpoints of a run in progress: the whole simulation state between two events, saved to resume from.

A checkpoint is taken when the chip is paused between events (`Chip.pause`), where every
program, message in flight, link reservation and array is consistent. The state is
pickled with cloudpickle (the programs hold closures and the optimizers are closures);
resuming unpickles it and runs on, so the result is byte-identical to a run that was never
stopped. A checkpoint is code: resume only checkpoints you wrote.

Files, in `DIR/.<name>.checkpoint/` beside the results folder `DIR/<name>` (so a hard kill,
which leaves no results folder, leaves the checkpoint): `checkpoint.pkl` (the state) and
`checkpoint.json` (what it is: format, wafersim version, the digest of the validated
scenario, samples trained, cycle). Both are written to temporary names and renamed, so a
checkpoint is whole or absent.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import cloudpickle

from . import version
from .outdir import write_whole

FORMAT = 3  # 2: PEs keep an inbox of messages on their way; 3: programs send on chip channels (older ones cannot resume)
STATE = "checkpoint.pkl"
HEADER = "checkpoint.json"


class CheckpointError(Exception):
    """A folder that holds no usable checkpoint for this scenario."""


def folder_of(out: Path) -> Path:
    """Where the checkpoints of the run writing results folder `out` live."""
    target = Path(out).resolve()
    return target.parent / f".{target.name}.checkpoint"


def scenario_digest(scenario) -> str:
    """A fingerprint of the validated scenario (with its hardware and every override)."""
    text = json.dumps(scenario.model_dump(mode="json", exclude={"allow_large"}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save(folder: Path, state, scenario, samples: int, cycle: int) -> None:
    """Write the checkpoint of `state` (anything cloudpickle can pickle) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    write_whole(folder / STATE, cloudpickle.dumps(state))
    header = {"format": FORMAT, "wafersim": version(), "scenario": scenario_digest(scenario),
              "samples_trained": samples, "cycle": cycle}
    write_whole(folder / HEADER, (json.dumps(header, indent=2, sort_keys=True) + "\n").encode())


def header(folder: Path) -> dict:
    """What the checkpoint in `folder` is, or CheckpointError naming what is missing or unreadable."""
    path = folder / HEADER
    if not (folder / STATE).is_file() or not path.is_file():
        raise CheckpointError(f"{folder} holds no checkpoint ({STATE} and {HEADER}); only a run that reached a "
                              "checkpoint (--checkpoint-every) can be resumed")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} cannot be read ({exc}); the checkpoint is unusable") from None


def load(folder: Path, scenario):
    """The state saved in `folder`, after checking it was written for this scenario by this version."""
    head = header(folder)
    if head.get("format") != FORMAT or head.get("wafersim") != version():
        raise CheckpointError(f"{folder / HEADER} was written by wafersim {head.get('wafersim')} (format "
                              f"{head.get('format')}); this is wafersim {version()}: run the scenario again")
    if head.get("scenario") != scenario_digest(scenario):
        raise CheckpointError(f"{folder} was checkpointed from another scenario (or other --set values); resume "
                              "with the same scenario file and the same --set options as the interrupted run")
    try:
        with open(folder / STATE, "rb") as f:
            return pickle.load(f)
    except Exception as exc:  # a truncated or foreign pickle can fail in many ways
        raise CheckpointError(f"{folder / STATE} cannot be loaded ({type(exc).__name__}); the checkpoint is "
                              "unusable: run the scenario again") from None


def remove(folder: Path) -> None:
    """Drop the checkpoint of a run that has finished (and the folder, once empty)."""
    for name in (STATE, HEADER):
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            pass
    try:
        folder.rmdir()
    except OSError:
        pass
