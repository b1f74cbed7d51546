"""One training run: prepare it (data, layout, SRAM and cost checks), run its session, checkpoint and resume it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import checkpoint as checkpoints
from . import engine as engines
from . import signals
from .algorithms.pipeline import Diverged
from .config import ConfigError, Scenario
from .engine.session import CompiledSession, Unsupported
from .estimate import Estimate, estimate, too_large
from .layout import Layout, check_memory, layout
from .memory import LayerMemory
from .placement import PlacementError
from .session import CheckpointPolicy, Session
from .training.data import Dataset, load_dataset


@dataclass
class RunResult:
    """Everything a run produced, as plain data: what `results.write` saves and `plots` draws."""

    status: str  # completed | diverged | interrupted
    message: str
    metrics: dict
    curve: list[tuple[int, int, float, float]]  # (samples, cycle, train_loss, test_accuracy)
    weights: dict[str, np.ndarray]  # W1_init, W1, b1_init, b1, ..., and opt/<layer>/<transform>/<entry>[/<param>]
    ops: dict[str, np.ndarray] = field(default_factory=dict)  # one entry per op, columns as arrays
    messages: dict[str, np.ndarray] = field(default_factory=dict)  # one entry per message (records.MESSAGE_COLUMNS)


def sample_order(n_train: int, n_samples: int, seed: int) -> np.ndarray:
    """Indices of the training samples in the order they enter: a fresh seeded permutation per epoch."""
    rng = np.random.default_rng([seed, 1])
    epochs = -(-n_samples // n_train)
    return np.concatenate([rng.permutation(n_train) for _ in range(epochs)])[:n_samples]


def n_samples_of(scenario: Scenario, n_train: int) -> int:
    t = scenario.training
    return t.samples if t.samples is not None else max(1, round(t.epochs * n_train))


@dataclass(frozen=True)
class Checkpointing:
    """Where a run saves its checkpoints and when (or, with `resume`, the folder it goes on from)."""

    folder: Path
    policy: CheckpointPolicy
    resume: bool = False


@dataclass(frozen=True)
class Prepared:
    """What a scenario resolves to before it runs: data, the PEs it occupies and their SRAM."""

    data: Dataset
    layout: Layout
    overflow: list[dict]  # PEs over their SRAM, when allow_sram_overflow lets them run
    cost: Estimate  # the host memory and time the run is expected to need
    engine: engines.EngineChoice  # the engine that runs it, and why

    @property
    def n_samples(self) -> int:
        return self.layout.n_samples

    @property
    def coords(self) -> list:
        """The PE of each layer 1..D (of worker 1 in data-parallel runs)."""
        return [p.coord for p in self.layout.worker(1)]

    @property
    def plan(self) -> list[LayerMemory]:
        """The SRAM bound of every PE in use."""
        return [p.memory for p in self.layout.placed]


def prepare(scenario: Scenario, source: str, trace: bool = True, checkpointing: bool = False) -> Prepared:
    """Everything checkable before a run; raises ConfigError or DataError for what cannot run.

    The engine is chosen here (`checkpointing`: the run saves checkpoints every so many
    samples), and the host cost estimated for it, keeping the op and message logs if `trace`."""
    m = scenario.model
    d = scenario.dataset
    data = load_dataset(d.name, d.path, d.test_fraction, d.seed(scenario.training.seed),
                        n_features=m.input_floats, n_classes=m.classes, samples=d.samples, keys=m.width_keys,
                        extra=d.extra, normalize=d.normalize)
    n_train = len(data.y_train)
    try:
        placed = layout(scenario, n_samples_of(scenario, n_train), n_train)
    except PlacementError as exc:
        raise ConfigError(source, [(exc.key, exc.text)]) from None
    overflow = check_memory(scenario, placed.placed, source)
    try:
        choice = engines.choose(scenario, placed, checkpointing)
    except ValueError as exc:
        raise ConfigError(source, [("engine", f"{exc}; use engine: auto (or events)")]) from None
    cost = estimate(scenario, placed, data, trace, compiled=choice.used == "compiled")
    problem = too_large(cost)
    if problem and not scenario.allow_large:
        keep = " or run without figures (--no-figures: no op and message trace)" if trace else ""
        raise ConfigError(source, [("", f"{problem}; lower training.samples (or epochs), use fewer layers or "
                                        f"workers{keep}, or pass --allow-large (allow_large: true) to run anyway")])
    return Prepared(data, placed, overflow, cost, choice)


def _drive(session, start: bool, checkpoint, scenario: Scenario) -> None:
    """Run `session` to its end (started first if `start`), saving a checkpoint each time it pauses for one."""
    if start:
        session.start()
    while not session.advance():
        checkpoints.save(checkpoint.folder, session, scenario, session.samples_trained, session.chip.now)


def run(scenario: Scenario, source: str = "scenario", progress: bool = True, trace: bool = True,
        checkpoint: Checkpointing | None = None, stop: Callable[[], int | None] | None = None) -> RunResult:
    """Train `scenario` on the simulated chip and return what it measured.

    Divergence (a non-finite loss), Ctrl-C, SIGTERM and SIGHUP stop the run early; the
    result then holds everything measured up to that point, with `status` saying why it
    stopped. With `checkpoint`, the run pauses between two events as its policy says and
    saves its whole state into the checkpoint's folder; with `checkpoint.resume` it starts
    from the state saved there instead (checked to be this scenario's), and goes on to the
    result an uninterrupted run gives, byte for byte. `stop`, asked a few times a second while
    the run goes on, stops it as the signal whose number it returns would (for a run in a Dask
    worker's thread, which signals never reach).
    """
    fresh = checkpoint is None or not checkpoint.resume
    if not fresh:
        session = checkpoints.load(checkpoint.folder, scenario)
        choice = session.prepared.engine
    else:
        every_n_samples = checkpoint is not None and bool(checkpoint.policy.samples)
        prepared = prepare(scenario, source, trace, checkpointing=every_n_samples)
        choice = prepared.engine
        order = sample_order(len(prepared.data.y_train), prepared.n_samples, scenario.training.seed)

        def event_session() -> Session:
            return Session(scenario, prepared, order, trace, checkpoint.policy if checkpoint else CheckpointPolicy())

        session = CompiledSession(scenario, prepared, order, trace) if choice.used == "compiled" else event_session()
    t = scenario.training
    status, message = "completed", f"trained {session.prepared.n_samples} samples"
    session.attach_progress(progress, stop)
    try:
        with signals.raising():  # SIGTERM and SIGHUP stop the run as Ctrl-C does
            try:
                _drive(session, fresh, checkpoint, scenario)
            except Unsupported as exc:  # a case the timing pass does not model: the model of record runs it afresh
                session.close_progress()
                session, choice = event_session(), engines.EngineChoice(choice.requested, "events", str(exc))
                session.attach_progress(progress, stop)
                _drive(session, True, checkpoint, scenario)
    except Diverged as exc:
        hint = session.prepared.layout.schedules[0].divergence_hint()
        status, message = "diverged", (f"training diverged: {exc}; lower training.learning_rate "
                                       f"(now {t.learning_rate}){hint} or add a learning-rate half-life")
    except KeyboardInterrupt as exc:
        stop = signals.signal_name(signals.signal_of(exc))
        status, message = "interrupted", f"interrupted at cycle {session.chip.now} by {stop}"
    finally:
        session.close_progress()
    if status == "completed" and session.samples_trained < session.prepared.n_samples:
        status, message = "stalled", (f"the chip ran out of events with {session.samples_trained:,} of "
                                      f"{session.prepared.n_samples:,} samples trained: its programs wait on each "
                                      "other, a simulator bug; please report it with the scenario")
    session.finish()
    ops, messages = session.tables()
    return RunResult(status, message, session.metrics(status, choice.describe()), session.curve, session.arrays(),
                     ops, messages)
