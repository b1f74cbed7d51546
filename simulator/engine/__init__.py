"""Which engine runs a scenario: the event-driven model of record, or the compiled engine that gives the same results.

The event engine (SimPy; `hardware/`, `algorithms/`) runs every algorithm and is the
model of record. The compiled engine (`pipeline_pass.py`, `replay.py`, `fused.py`) runs the
pipelined algorithms (sgd, cp with either delta rule, mbgd) and ring all-reduce: a Numba
timing pass computes every op's start and every message's arrival with the event engine's
rules, then the arithmetic is replayed in that order. Tests hold the two to bitwise-identical weights,
curves, op and message tables and metrics.

`engine: auto` (the default) picks the compiled engine where it applies and says why not
otherwise; `metrics.json` records the choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from .timing import unsupported

@dataclass(frozen=True)
class EngineChoice:
    """The engine a run uses: what the scenario asked for, what runs, and why."""

    requested: str
    used: str  # "events" | "compiled"
    why: str

    def describe(self) -> dict:
        """The `engine` entry of metrics.json."""
        return {"requested": self.requested, "used": self.used, "why": self.why}


def choose(scenario, layout, checkpointing: bool) -> EngineChoice:
    """The engine for `scenario` laid out as `layout`; `checkpointing`: the run saves checkpoints
    every so many samples (or resumes from one), which only the event engine can. (Checkpoints
    by wall time are a safety net for long event-driven runs; a compiled run saves none.)

    Raises ValueError (with the reason) if `engine: compiled` is asked for a run it cannot do.
    """
    requested = scenario.engine
    if requested == "events":
        return EngineChoice(requested, "events", "the scenario asks for the event engine")
    reason = unsupported(scenario, layout)
    if reason is None and checkpointing:
        reason = "checkpoints save the event engine's state"
    if reason is None:
        return EngineChoice(requested, "compiled", "the compiled engine runs this algorithm with identical results")
    if requested == "compiled":
        raise ValueError(f"the compiled engine cannot run this scenario: {reason}")
    return EngineChoice(requested, "events", reason)


__all__ = ["EngineChoice", "choose"]
