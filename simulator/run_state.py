"""What a run keeps whatever engine runs it: the parameters it trains, its curve, its progress bar, and its result.

`session.Session` (the event engine) and `engine.session.CompiledSession` both build on
`RunState`; each says where its measurements live (`measured`, and `chip`, whose cycle is
`now`), how far it has got (`samples_trained`) and which losses an evaluation averages
(`take_recent`).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from tqdm import tqdm

from . import signals
from .config import Scenario
from .metrics import collect
from .training.model import accuracy, init_params


STOP_POLL_SECONDS = 0.25  # how often a run asks its `stop` callable (a round trip to a Dask scheduler)


class RunState:
    """A run's parameters (initial and current), curve and progress bar, and the result files they become."""

    def __init__(self, scenario: Scenario, prepared, trace: bool):
        t, m = scenario.training, scenario.model
        self.scenario, self.prepared, self.trace = scenario, prepared, trace
        self.arithmetic = not scenario.timing_only
        self.weights, self.biases = init_params(m, t.seed)
        # A timing-only run never changes the weights, so its initial ones need no copy (96 M weights on a wafer).
        keep = (lambda a: a.copy()) if self.arithmetic else (lambda a: a)
        self.initial = {**{f"W{k}_init": keep(W) for k, W in enumerate(self.weights, 1)},
                        **{f"b{k}_init": keep(b) for k, b in enumerate(self.biases, 1)}}
        self.saved: dict[int, object] = {}  # layer k -> the layer object whose optimizer state the run saves
        self.curve: list[tuple[int, int, float, float]] = []  # (samples, cycle, train_loss, test_accuracy)
        self.last_eval = 0
        self.bar = None
        self.stop: Callable[[], int | None] | None = None  # asked while the run goes on: a stop signal's number, or None
        self.next_poll = 0.0  # monotonic seconds of the next time `stop` is asked

    # -- what each engine says -------------------------------------------------------------
    @property
    def samples_trained(self) -> int:
        raise NotImplementedError

    @property
    def now(self) -> int:
        """The cycle the run has reached (its chip's, measured or seen through the compiled engine's views)."""
        return self.chip.now

    def take_recent(self) -> list[float]:
        """The losses computed since the last evaluation (they are averaged into its train_loss)."""
        raise NotImplementedError

    def measured(self) -> tuple:
        """(chip, programs, recorder) as `metrics.collect` reads them."""
        raise NotImplementedError

    # -- progress ----------------------------------------------------------------------------
    def attach_progress(self, progress: bool, stop: Callable[[], int | None] | None = None) -> None:
        """Show a progress bar (again, after a resume) from the samples trained so far, and ask `stop`
        (if given) every STOP_POLL_SECONDS whether to stop as if that signal had arrived."""
        self.bar = tqdm(total=self.prepared.n_samples, initial=self.samples_trained, unit="sample",
                        disable=None if progress else True, leave=False, mininterval=0.5)
        self.stop, self.next_poll = stop, 0.0

    def close_progress(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stop = None

    def show_progress(self, samples: int) -> None:
        """Layer 1 has applied `samples` samples: the bar moves, and a stop asked for (see
        attach_progress) is raised here as `signals.Interrupted`, as a signal would be. A task on a
        Dask worker has no signals (they reach only a main thread): this is how it is stopped."""
        if self.bar is not None:
            self.bar.update(samples - self.bar.n)
        if self.stop is not None and time.monotonic() >= self.next_poll:
            self.next_poll = time.monotonic() + STOP_POLL_SECONDS
            signum = self.stop()
            if signum:
                raise signals.Interrupted(signum)

    # -- evaluation and result -----------------------------------------------------------------
    def evaluate(self, samples: int, cycle: int) -> None:
        """A curve point: the mean loss since the last one and the test accuracy of the weights as they stand."""
        window = self.take_recent()
        self.gather()
        loss = float(np.mean(window)) if self.arithmetic and len(window) else float("nan")
        data, m = self.prepared.data, self.scenario.model
        acc = accuracy(m, self.weights, self.biases, data.X_test, data.y_test) if self.arithmetic else float("nan")
        self.curve.append((samples, cycle, loss, acc))
        self.last_eval = samples

    def finish(self) -> None:
        """The last curve point, after the run (or where it stopped)."""
        if self.samples_trained > self.last_eval or not self.curve:
            self.evaluate(self.samples_trained, self.now)

    def metrics(self, status: str, engine: dict) -> dict:
        chip, programs, recorder = self.measured()
        p = self.prepared
        return collect(self.scenario, chip, p.layout, programs, recorder, p.overflow, self.curve, status,
                       p.n_samples, engine)

    def gather(self) -> None:
        """Bring the run's W_k and b_k up to date where layer regions hold them as blocks."""
        for layer in self.saved.values():
            if hasattr(layer, "gather"):
                layer.gather()

    def arrays(self) -> dict[str, np.ndarray]:
        """weights.npz: initial and final parameters and the optimizer state of the saved layers."""
        self.gather()
        return {**self.initial,
                **{f"W{k}": W for k, W in enumerate(self.weights, 1)},
                **{f"b{k}": b for k, b in enumerate(self.biases, 1)},
                **{f"opt/{k}/{name}": array for k, layer in sorted(self.saved.items())
                   for name, array in layer.optimizer_arrays().items()}}
