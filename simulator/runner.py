"""One training run: build the chip, place the layers, stream the samples, measure everything."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .algorithms.pipeline import Diverged, Recorder
from .assemble import assemble
from .config import Scenario
from .hardware.chip import Chip
from .layout import Layout, check_memory, layout
from .memory import LayerMemory
from .metrics import collect
from .records import messages_table, ops_table
from .training.data import Dataset, load_dataset
from .training.model import accuracy, init_params


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
class Prepared:
    """What a scenario resolves to before it runs: data, the PEs it occupies and their SRAM."""

    data: Dataset
    layout: Layout
    overflow: list[dict]  # PEs over their SRAM, when allow_sram_overflow lets them run

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


def prepare(scenario: Scenario, source: str) -> Prepared:
    """Everything checkable before a run; raises ConfigError or DataError for what cannot run."""
    m = scenario.model
    data = load_dataset(scenario.dataset.name, scenario.dataset.path, scenario.dataset.test_fraction,
                        scenario.training.seed, n_features=m.layers[0], n_classes=m.layers[-1],
                        samples=scenario.dataset.samples)
    n_train = len(data.y_train)
    placed = layout(scenario, n_samples_of(scenario, n_train), n_train)
    overflow = check_memory(scenario, placed.placed, source)
    return Prepared(data, placed, overflow)


def run(scenario: Scenario, source: str = "scenario", progress: bool = True, trace: bool = True) -> RunResult:
    """Train `scenario` on the simulated chip and return what it measured.

    Divergence (a non-finite loss) and Ctrl-C stop the run early; the result then holds
    everything measured up to that point, with `status` saying why it stopped.
    """
    prepared = prepare(scenario, source)
    data, n_samples = prepared.data, prepared.n_samples
    t, m = scenario.training, scenario.model
    arithmetic = not scenario.timing_only
    order = sample_order(len(data.y_train), n_samples, t.seed)
    weights, biases = init_params(m, t.seed)
    initial = {**{f"W{k}_init": W.copy() for k, W in enumerate(weights, 1)},
               **{f"b{k}_init": b.copy() for k, b in enumerate(biases, 1)}}
    chip = Chip(scenario.hardware, trace=trace)

    curve: list[tuple[int, int, float, float]] = []
    bar = tqdm(total=n_samples, unit="sample", disable=None if progress else True, leave=False, mininterval=0.5)
    last_eval = [0]

    def evaluate(samples: int) -> None:
        window = recorder.take_recent()
        loss = float(np.mean(window)) if arithmetic and window else float("nan")
        acc = accuracy(m, weights, biases, data.X_test, data.y_test) if arithmetic else float("nan")
        curve.append((samples, chip.now, loss, acc))
        last_eval[0] = samples

    def on_trained(samples: int) -> None:
        bar.update(samples - bar.n)
        if samples - last_eval[0] >= t.eval_every:
            evaluate(samples)

    recorder = Recorder(scenario.n_layers, n_samples, on_trained, arithmetic)
    programs, ports, saved = assemble(scenario, prepared.layout, data, order, chip, weights, biases, recorder)

    status, message = "completed", f"trained {n_samples} samples"
    for port in ports:
        port.send_next()
    try:
        chip.run()
    except Diverged as exc:
        status, message = "diverged", (f"training diverged: {exc}; lower training.learning_rate "
                                       f"(now {t.learning_rate}) or add a learning-rate half-life")
    except KeyboardInterrupt:
        status, message = "interrupted", f"interrupted at cycle {chip.now}"
    finally:
        bar.close()
    if recorder.samples_trained > last_eval[0] or not curve:
        evaluate(recorder.samples_trained)

    metrics = collect(scenario, chip, prepared.layout, programs, recorder, prepared.overflow, curve, status, n_samples)
    final = {**initial,
             **{f"W{k}": W for k, W in enumerate(weights, 1)},
             **{f"b{k}": b for k, b in enumerate(biases, 1)},
             **{f"opt/{k}/{name}": array for k, layer in sorted(saved.items())
                for name, array in layer.optimizer_arrays().items()}}
    ops = ops_table(chip.trace, {p.coord: p.layer for p in prepared.layout.placed}) if trace else {}
    messages = messages_table(chip.messages) if trace else {}
    return RunResult(status, message, metrics, curve, final, ops, messages)
