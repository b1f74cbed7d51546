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
from tqdm import tqdm

from .algorithms.pipeline import Recorder
from .assemble import assemble
from .config import Scenario
from .hardware.chip import Chip
from .metrics import collect
from .records import messages_table, ops_table
from .training.model import accuracy, init_params


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a run pauses to save a checkpoint: every `samples` samples trained and/or every `seconds` of wall time."""

    samples: int | None = None
    seconds: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.samples) or bool(self.seconds)


class Session:
    """One run of a scenario on a simulated chip, from its first sample to its result."""

    def __init__(self, scenario: Scenario, prepared, order: np.ndarray, trace: bool, policy: CheckpointPolicy):
        t, m = scenario.training, scenario.model
        self.scenario, self.prepared, self.trace, self.policy = scenario, prepared, trace, policy
        self.arithmetic = not scenario.timing_only
        self.weights, self.biases = init_params(m, t.seed)
        self.initial = {**{f"W{k}_init": W.copy() for k, W in enumerate(self.weights, 1)},
                        **{f"b{k}_init": b.copy() for k, b in enumerate(self.biases, 1)}}
        self.chip = Chip(scenario.hardware, trace=trace)
        self.curve: list[tuple[int, int, float, float]] = []
        self.last_eval = 0
        self.last_checkpoint = 0  # samples trained at the last checkpoint
        self.recorder = Recorder(scenario.n_layers, prepared.n_samples, self.on_trained, self.arithmetic)
        self.programs, self.ports, self.saved = assemble(scenario, prepared.layout, prepared.data, order, self.chip,
                                                         self.weights, self.biases, self.recorder)
        self.bar = None
        self.clock = time.monotonic()

    # -- pickling: everything but the progress bar --------------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["bar"] = None
        return state

    def attach_progress(self, progress: bool) -> None:
        """Show a progress bar (again, after a resume) from the samples trained so far."""
        self.bar = tqdm(total=self.prepared.n_samples, initial=self.recorder.samples_trained, unit="sample",
                        disable=None if progress else True, leave=False, mininterval=0.5)
        self.clock = time.monotonic()

    def close_progress(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    # -- running -------------------------------------------------------------------------
    def start(self) -> None:
        for port in self.ports:
            port.send_next()

    def advance(self) -> bool:
        """Run the chip until it has no event left (True) or pauses for a checkpoint (False)."""
        return self.chip.run()

    def on_trained(self, samples: int) -> None:
        """Layer 1 (or its shard) has applied `samples` samples: progress, evaluation, checkpoint."""
        if self.bar is not None:
            self.bar.update(samples - self.bar.n)
        if samples - self.last_eval >= self.scenario.training.eval_every:
            self.evaluate(samples)
        policy = self.policy
        if policy.active and samples < self.prepared.n_samples and (
                (policy.samples and samples - self.last_checkpoint >= policy.samples)
                or (policy.seconds and time.monotonic() - self.clock >= policy.seconds)):
            self.last_checkpoint = samples
            self.clock = time.monotonic()
            self.chip.pause()

    def evaluate(self, samples: int) -> None:
        window = self.recorder.take_recent()
        loss = float(np.mean(window)) if self.arithmetic and window else float("nan")
        data, m = self.prepared.data, self.scenario.model
        acc = accuracy(m, self.weights, self.biases, data.X_test, data.y_test) if self.arithmetic else float("nan")
        self.curve.append((samples, self.chip.now, loss, acc))
        self.last_eval = samples

    # -- the result ---------------------------------------------------------------------------
    def finish(self) -> None:
        """The last curve point, after the run (or where it stopped)."""
        if self.recorder.samples_trained > self.last_eval or not self.curve:
            self.evaluate(self.recorder.samples_trained)

    def tables(self) -> tuple[dict, dict]:
        """The op and message tables (empty without a trace)."""
        if not self.trace:
            return {}, {}
        layer_of = {p.coord: p.layer for p in self.prepared.layout.placed}
        return ops_table(self.chip.trace, layer_of, self.chip.now), messages_table(self.chip.messages)

    def metrics(self, status: str, engine: dict) -> dict:
        p = self.prepared
        return collect(self.scenario, self.chip, p.layout, self.programs, self.recorder, p.overflow, self.curve,
                       status, p.n_samples, engine)

    def arrays(self) -> dict[str, np.ndarray]:
        """weights.npz: initial and final parameters and the optimizer state of the saved layers."""
        return {**self.initial,
                **{f"W{k}": W for k, W in enumerate(self.weights, 1)},
                **{f"b{k}": b for k, b in enumerate(self.biases, 1)},
                **{f"opt/{k}/{name}": array for k, layer in sorted(self.saved.items())
                   for name, array in layer.optimizer_arrays().items()}}
