"""A training run in progress: the chip and its programs, what has been measured so far, and how to go on.

`runner.run` drives a session: it starts the ports, runs the chip, and turns the session
into a `RunResult`. A session is also what a checkpoint saves: everything in it can be
pickled (the progress bar is left out and attached again on resume), and it is saved only
while the chip is paused between two events, so a resumed session goes on exactly as the
uninterrupted one would have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .algorithms.pipeline import Recorder
from .assemble import assemble
from .config import Scenario
from .hardware.chip import Chip
from .records import messages_table, ops_table
from .run_state import RunState


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a run pauses to save a checkpoint: every `samples` samples trained and/or every `seconds` of wall time."""

    samples: int | None = None
    seconds: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.samples) or bool(self.seconds)


class Session(RunState):
    """One run of a scenario on a simulated chip, from its first sample to its result."""

    def __init__(self, scenario: Scenario, prepared, order: np.ndarray, trace: bool, policy: CheckpointPolicy):
        super().__init__(scenario, prepared, trace)
        self.policy = policy
        self.chip = Chip(scenario.hardware, trace=trace)
        self.last_checkpoint = 0  # samples trained at the last checkpoint
        self.recorder = Recorder(scenario.n_layers, prepared.n_samples, self.on_trained, self.arithmetic)
        self.programs, self.ports, self.saved = assemble(scenario, prepared.layout, prepared.data, order, self.chip,
                                                         self.weights, self.biases, self.recorder)
        self.clock = time.monotonic()

    # -- pickling: everything but the progress bar --------------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["bar"] = state["stop"] = None
        return state

    def attach_progress(self, progress: bool, stop=None) -> None:
        super().attach_progress(progress, stop)
        self.clock = time.monotonic()

    # -- what the run has reached ----------------------------------------------------------
    @property
    def samples_trained(self) -> int:
        return self.recorder.samples_trained

    def take_recent(self) -> list[float]:
        return self.recorder.take_recent()

    def measured(self) -> tuple:
        return self.chip, self.programs, self.recorder

    # -- running -------------------------------------------------------------------------
    def start(self) -> None:
        for port in self.ports:
            port.send_next()

    def advance(self) -> bool:
        """Run the chip until it has no event left (True) or pauses for a checkpoint (False)."""
        return self.chip.run()

    def on_trained(self, samples: int) -> None:
        """Layer 1 (or its shard) has applied `samples` samples: progress, evaluation, checkpoint."""
        self.show_progress(samples)
        if samples - self.last_eval >= self.scenario.training.eval_every:
            self.evaluate(samples, self.chip.now)
        policy = self.policy
        if policy.active and samples < self.prepared.n_samples and (
                (policy.samples and samples - self.last_checkpoint >= policy.samples)
                or (policy.seconds and time.monotonic() - self.clock >= policy.seconds)):
            self.last_checkpoint = samples
            self.clock = time.monotonic()
            self.chip.pause()

    # -- the result ---------------------------------------------------------------------------
    def tables(self) -> tuple[dict, dict]:
        """The op and message tables (empty without a trace)."""
        if not self.trace:
            return {}, {}
        layer_of = {p.coord: p.layer for p in self.prepared.layout.placed}
        return ops_table(self.chip.trace, layer_of, self.chip.now), messages_table(self.chip.messages)

    def arrays(self) -> dict:
        """weights.npz, with the synthetic-gradient modules' parameters (sg/<k>/...) of a dni run."""
        extra = {}
        for program in self.programs.values():
            extra.update(getattr(program, "synthetic_arrays", dict)())
        return {**super().arrays(), **extra}
