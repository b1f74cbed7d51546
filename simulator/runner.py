"""One training run: build the chip, place the layers, stream the samples, measure everything."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .algorithms import Schedule, make_schedule
from .algorithms.pipeline import Diverged, LayerProgram, Port, Recorder
from .config import ConfigError, Scenario
from .hardware.chip import Chip
from .memory import LayerMemory, layer_memory
from .metrics import collect
from .placement import place
from .records import KINDS, OPS_COLUMNS, messages_table
from .training.data import Dataset, load_dataset
from .training.model import accuracy, init_params
from .training.optimizers import make_optimizer


@dataclass
class RunResult:
    """Everything a run produced, as plain data: what `results.write` saves and `plots` draws."""

    status: str  # completed | diverged | interrupted
    message: str
    metrics: dict
    curve: list[tuple[int, int, float, float]]  # (samples, cycle, train_loss, test_accuracy)
    weights: dict[str, np.ndarray]  # W1_init, W1, b1_init, b1, ...
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


def memory_plan(scenario: Scenario, schedule) -> list[LayerMemory]:
    m = scenario.model
    return [layer_memory(schedule, k, n_in, n_out, m.bias, scenario.training.momentum > 0)
            for k, (n_in, n_out) in enumerate(zip(m.layers[:-1], m.layers[1:]), start=1)]


def check_memory(scenario: Scenario, plan: list[LayerMemory], coords: list, source: str) -> list[dict]:
    """Raise ConfigError for layers that do not fit in SRAM, unless overflow is allowed; return the overflows."""
    sram = scenario.hardware.pe.sram_bytes
    over = [(mem, coord) for mem, coord in zip(plan, coords) if mem.total > sram]
    if over and not scenario.allow_sram_overflow:
        problems = [("hardware.pe.sram_bytes",
                     f"layer {mem.layer} ({scenario.model.layers[mem.layer - 1]}->{scenario.model.layers[mem.layer]} "
                     f"on PE {list(coord)}) needs {mem.total:,} bytes of SRAM ({mem.describe()}) but a PE has "
                     f"{sram:,}; raise hardware.pe.sram_bytes, narrow model.layers, or set allow_sram_overflow: true "
                     "to study the hypothetical chip anyway") for mem, coord in over]
        raise ConfigError(source, problems)
    return [{"layer": mem.layer, "row": coord[0], "col": coord[1], "bytes_needed": mem.total, "bytes_available": sram}
            for mem, coord in over]


@dataclass(frozen=True)
class Prepared:
    """What a scenario resolves to before it runs: data, placement, schedule and SRAM plan."""

    data: Dataset
    coords: list  # the PE of each layer 1..D
    n_samples: int
    schedule: Schedule
    plan: list[LayerMemory]
    overflow: list[dict]  # layers over their SRAM, when allow_sram_overflow lets them run


def prepare(scenario: Scenario, source: str) -> Prepared:
    """Everything checkable before a run; raises ConfigError or DataError for what cannot run."""
    hw, m = scenario.hardware, scenario.model
    data = load_dataset(scenario.dataset.name, scenario.dataset.path, scenario.dataset.test_fraction,
                        scenario.training.seed, n_features=m.layers[0], n_classes=m.layers[-1],
                        samples=scenario.dataset.samples)
    coords = place(scenario.placement, hw.mesh.rows, hw.mesh.cols, scenario.n_layers)
    n_samples = n_samples_of(scenario, len(data.y_train))
    schedule = make_schedule(scenario.training, scenario.n_layers, n_samples)
    plan = memory_plan(scenario, schedule)
    overflow = check_memory(scenario, plan, coords, source)
    return Prepared(data, coords, n_samples, schedule, plan, overflow)


def run(scenario: Scenario, source: str = "scenario", progress: bool = True, trace: bool = True) -> RunResult:
    """Train `scenario` on the simulated chip and return what it measured.

    Divergence (a non-finite loss) and Ctrl-C stop the run early; the result then holds
    everything measured up to that point, with `status` saying why it stopped.
    """
    prepared = prepare(scenario, source)
    data, coords, plan, schedule = prepared.data, prepared.coords, prepared.plan, prepared.schedule
    n_samples = prepared.n_samples
    t, m = scenario.training, scenario.model
    D = scenario.n_layers
    arithmetic = not scenario.timing_only
    order = sample_order(len(data.y_train), n_samples, t.seed)
    weights, biases = init_params(m, t.seed)
    initial = {**{f"W{k}_init": W.copy() for k, W in enumerate(weights, 1)},
               **{f"b{k}_init": b.copy() for k, b in enumerate(biases, 1)}}
    chip = Chip(scenario.hardware, trace=trace)
    half_life = t.lr_half_life_epochs * len(data.y_train) if t.lr_half_life_epochs else None
    optimizer = make_optimizer(t.learning_rate, t.momentum, half_life)

    curve: list[tuple[int, int, float, float]] = []
    bar = tqdm(total=n_samples, unit="sample", disable=None if progress else True, leave=False, mininterval=0.5)
    last_eval = [0]

    def evaluate(samples: int) -> None:
        window = recorder.losses[last_eval[0]:samples]
        loss = float(np.mean(window)) if arithmetic and len(window) else float("nan")
        acc = accuracy(weights, biases, data.X_test, data.y_test, m.activation) if arithmetic else float("nan")
        curve.append((samples, chip.now, loss, acc))
        last_eval[0] = samples

    def on_trained(samples: int) -> None:
        bar.update(samples - bar.n)
        if samples - last_eval[0] >= t.eval_every:
            evaluate(samples)

    recorder = Recorder(D, n_samples, on_trained)
    port = Port(chip, data.X_train, data.y_train, order, coords[0], coords[-1], arithmetic)
    programs = [LayerProgram(chip=chip, schedule=schedule, layer=k, coords=coords, W=weights[k - 1], b=biases[k - 1],
                             activation=m.activation, bias=m.bias, optimizer=optimizer, momentum=t.momentum > 0,
                             port=port, recorder=recorder, arithmetic=arithmetic, memory=plan[k - 1])
                for k in range(1, D + 1)]
    pes = [chip.add_pe(coord, program) for coord, program in zip(coords, programs)]

    status, message = "completed", f"trained {n_samples} samples"
    port.request(0)
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

    metrics = collect(scenario, chip, pes, programs, recorder, plan, prepared.overflow, curve, status, n_samples)
    final = {**initial,
             **{f"W{k}": W for k, W in enumerate(weights, 1)},
             **{f"b{k}": b for k, b in enumerate(biases, 1)}}
    ops = _ops_table(chip.trace, {coord: k for k, coord in enumerate(coords, start=1)}) if trace else {}
    messages = messages_table(chip.messages) if trace else {}
    return RunResult(status, message, metrics, curve, final, ops, messages)


def _ops_table(trace: list, layer_of: dict) -> dict[str, np.ndarray]:
    """The op trace as columns: layer (1-based), kind (see KINDS), sample (or batch) tag,
    start and end cycles, and the PE's row and column."""
    n = len(trace)
    table = {name: np.empty(n, dtype=np.int64) for name in OPS_COLUMNS}
    for i, (coord, kind, tag, start, end) in enumerate(trace):
        table["layer"][i] = layer_of[coord]
        table["row"][i] = coord[0]
        table["col"][i] = coord[1]
        table["kind"][i] = KINDS[kind]
        table["sample"][i] = tag
        table["start"][i] = start
        table["end"][i] = end
    return table
