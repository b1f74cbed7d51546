"""The programs of a DNI run: a layer with its synthetic-gradient module, or the module alone on a PE next to it.

`Module` is M_k's state wherever it runs: the samples it has predicted for, awaiting their
targets, the targets awaiting training, and what each training step measured. A layer
with `placement: same` runs M_k's G and T ops itself (`DNIProgram`); with `neighbour` it
sends h_k to the module's own PE (`ModuleProgram`, message `h`), which runs G and sends the
prediction back (message `g`) for the layer's B, and takes the targets from the layer above
(the `e` messages go there instead of to the layer) for its T ops, off the layer's path.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..hardware.mesh import Coord
from ..layers import FLOAT_BYTES
from ..layers.synthetic import Synthetic, SyntheticShape
from ..memory import SramLedger
from ..records import Op, new_record
from .pipeline import LayerProgram, _nothing


class Module:
    """M_k's arithmetic and bookkeeping, on whichever PE holds it."""

    def __init__(self, scenario, schedule, k: int, width: int, chip, sram: SramLedger):
        self.k, self.chip, self.sram = k, chip, sram
        self.shape: SyntheticShape = schedule.synthetic_shape(width, scenario.model.classes)
        self.conditioned = self.shape.classes > 0
        self.arithmetic = not scenario.timing_only
        rng = np.random.default_rng([scenario.training.seed, 2, k])  # M_k's hidden layers: apart from the network's
        self.sg = Synthetic(self.shape, schedule.optimizer, rng) if self.arithmetic else None
        self.eval_every = scenario.training.eval_every
        self.cycles_G = chip.op_cycles(self.shape.predict_macs())
        self.cycles_T = chip.op_cycles(self.shape.train_macs(schedule.optimizer))
        self.kept_bytes = (width + 1) * FLOAT_BYTES  # a prediction and its label, from G to T
        self.targets: deque = deque()  # (sample, dL/dh_k from above) awaiting T
        self.awaiting: dict[int, tuple] = {}  # sample -> (h, prediction, label, M_k updates at G, G start cycle)
        self.record: list[tuple] = []  # per T: (sample, loss, cosine, age in M_k updates, age in cycles)
        self.updates = 0

    def predict(self, sample: int, h, label: int):
        """G: M_k's prediction for sample's h (None in a timing-only run), kept with h until its target."""
        g = self.sg.predict(h, label) if self.arithmetic else None
        self.awaiting[sample] = (h, g, label, self.updates, self.chip.now)
        self.sram.alloc(self.kept_bytes)
        return g

    def train(self) -> int:
        """T: one step of M_k towards the next target; returns its sample."""
        sample, target = self.targets.popleft()
        h, g, label, updates_then, cycle_then = self.awaiting.pop(sample)
        loss = cosine = None
        if self.arithmetic:
            loss = self.sg.train(h, label, target)
            cosine = _cosine(g, target)
        self.record.append((sample, loss, cosine, self.updates - updates_then, self.chip.now - cycle_then))
        self.updates += 1
        self.sram.free(self.kept_bytes)
        return sample

    def stats(self) -> dict:
        return synthetic_stats(self.record, self.shape, self.eval_every)

    def arrays(self) -> dict[str, np.ndarray]:
        return self.sg.arrays(self.k) if self.arithmetic else {}


class DNIProgram(LayerProgram):
    """A layer of a DNI network: the pipeline layer, plus, at an interface, M_k's G and T ops or
    (placement: neighbour) the h_k it sends to M_k's PE and the prediction it waits for."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        schedule, k = self.schedule, self.k
        self.interface = k in schedule.interfaces
        self.remote = self.interface and schedule.remote
        self.local = self.interface and not self.remote
        self.module: Module | None = None  # M_k, on this PE or (remote) on its own, linked by `attach`
        if self.local:
            self.module = Module(scenario, schedule, k, self.shape.output_floats, self.chip, self.sram)
        self.wants_labels = self.local and self.module.conditioned  # the port sends this PE every label too
        self.to_predict: deque = deque()  # samples forwarded, awaiting G (local module)
        self.module_at: Coord | None = None  # remote: M_k's PE, where h_k goes
        self.delta_to: Coord | None = None  # where this layer's input delta goes, if not the layer below (its M_k)
        self.to_module = None  # chip channel for h_k, once opened

    def attach(self, module_program: "ModuleProgram") -> None:
        """Link this interface layer to M_k's own PE (placement: neighbour)."""
        self.module, self.module_at = module_program.module, module_program.coord

    def extra_pickers(self) -> dict:
        return {"G": self._pick_predict, "T": self._pick_train, "F": self._pick_forward_dni}

    # -- messages -------------------------------------------------------------------------
    def receive(self, message) -> None:
        kind, tag, payload = message
        if kind == "e" and self.local:  # M_k's target, not this layer's backward input
            self.module.targets.append((tag, payload))
        elif kind == "g":  # the prediction from M_k's PE: this layer's delta
            self.deltas.append((tag, payload))
        else:
            super().receive(message)

    def _open_channels(self) -> tuple:
        down, up = super()._open_channels()
        if self.delta_to is not None:
            self.up = up = self.chip.channel(self.coord, self.delta_to, "e", self.in_bytes)
        return down, up

    # -- choosing --------------------------------------------------------------------------
    def _pick_forward_dni(self) -> Op | None:
        if self.local and len(self.module.awaiting) + len(self.to_predict) >= self.window:
            return None
        return self._pick_forward()

    def _pick_predict(self) -> Op | None:
        if not self.to_predict or (self.module.conditioned and self.to_predict[0] not in self.labels):
            return None
        return self.predict()

    def _pick_train(self) -> Op | None:
        return self.train() if self.local and self.module.targets else None

    # -- ops --------------------------------------------------------------------------------
    def forward(self) -> Op:
        op = super().forward()
        if self.local:
            self.to_predict.append(op.tag)
        elif self.remote:  # h_k goes to M_k's PE as well as up
            sample, finish = op.tag, op.finish
            h = self.held[sample][1]

            def send_both():
                finish()
                if self.to_module is None:
                    self.to_module = self.chip.channel(self.coord, self.module_at, "h", self.out_bytes)
                self.to_module.send(sample, h)

            op = new_record(Op, (op.kind, sample, op.cycles, send_both))
        return op

    def predict(self) -> Op:
        """G: M_k's prediction of dL/dh_k for the sample just forwarded, handed to B as its delta."""
        sample = self.to_predict.popleft()
        h = self.held[sample][1]
        label = self.labels.pop(sample) if self.module.conditioned else -1
        self.deltas.append((sample, self.module.predict(sample, h, label)))
        return new_record(Op, ("G", sample, self.module.cycles_G, _nothing))

    def backward(self) -> Op:
        op = super().backward()
        if self.local:
            self.sram.alloc(self.out_bytes)  # h stays for T (the backward freed it with the input)
        return op

    def train(self) -> Op:
        sample = self.module.train()
        self.sram.free(self.out_bytes)
        return new_record(Op, ("T", sample, self.module.cycles_T, _nothing))

    # -- results -----------------------------------------------------------------------------
    def stats(self) -> dict:
        stats = super().stats()
        if self.interface:
            if self.local:
                stats["op_cycles"].update(G=self.module.cycles_G, T=self.module.cycles_T)
            stats["synthetic"] = {"placement": "neighbour" if self.remote else "same", **self.module.stats()}
        return stats

    def synthetic_arrays(self) -> dict[str, np.ndarray]:
        return self.module.arrays() if self.local else {}


class ModuleProgram:
    """The PE next to interface layer k that holds M_k alone (placement: neighbour): G for every
    h_k that arrives (first), then T for every target."""

    def __init__(self, *, scenario, schedule, chip, coord: Coord, k: int, width: int, layer_at: Coord, memory):
        self.chip, self.coord, self.k, self.layer_at = chip, coord, k, layer_at
        self.sram = SramLedger(memory.static)
        self.module = Module(scenario, schedule, k, width, chip, self.sram)
        self.wants_labels = self.module.conditioned
        self.h_bytes = width * FLOAT_BYTES
        self.inputs: deque = deque()  # (sample, h_k) awaiting G
        self.labels: dict[int, int] = {}
        self.back = None  # chip channel for predictions to layer k, once opened
        self.local_receive = True  # receive only files messages

    @property
    def sram_peak(self) -> int:
        return self.sram.peak

    def receive(self, message) -> None:
        kind, tag, payload = message
        if kind == "h":
            self.inputs.append((tag, payload))
            self.sram.alloc(self.h_bytes)  # h_k stays until T
        elif kind == "e":
            self.module.targets.append((tag, payload))
        else:
            self.labels[tag] = payload

    def start_next(self) -> Op | None:
        if self.inputs and (not self.module.conditioned or self.inputs[0][0] in self.labels):
            return self.predict()
        if self.module.targets:
            return self.train()
        return None

    def predict(self) -> Op:
        sample, h = self.inputs.popleft()
        label = self.labels.pop(sample) if self.module.conditioned else -1
        g = self.module.predict(sample, h, label)

        def send():
            if self.back is None:
                self.back = self.chip.channel(self.coord, self.layer_at, "g", self.h_bytes)
            self.back.send(sample, g)

        return new_record(Op, ("G", sample, self.module.cycles_G, send))

    def train(self) -> Op:
        sample = self.module.train()
        self.sram.free(self.h_bytes)
        return new_record(Op, ("T", sample, self.module.cycles_T, _nothing))

    def stats(self) -> dict:
        return {"op_cycles": {"G": self.module.cycles_G, "T": self.module.cycles_T}}

    def synthetic_arrays(self) -> dict[str, np.ndarray]:
        return self.module.arrays()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b) in float64; NaN if either is zero (a zero prediction has no direction)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norms if norms > 0 else float("nan")


def _mean(values: list) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _runs(values: list[int]) -> list[list[int]]:
    """[[value, times], ...]: the sequence run-length encoded (the ages of the targets, in sample order)."""
    runs: list[list[int]] = []
    for v in values:
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([int(v), 1])
    return runs


def synthetic_stats(record: list[tuple], shape: SyntheticShape, every: int) -> dict:
    """An interface's row in metrics.json: M_k's shape, its loss and cosine curve (means over the
    targets of each `every` samples), their overall means, and the targets' ages."""
    windows: dict[int, list[tuple]] = {}
    for r in record:
        windows.setdefault(r[0] // every, []).append(r)
    curve = [[window[-1][0] + 1, _mean([r[1] for r in window]), _mean([r[2] for r in window])]
             for _, window in sorted(windows.items())]
    ages, counts = np.unique(np.asarray([r[3] for r in record], dtype=np.int64), return_counts=True)
    tail = record[-max(1, len(record) // 10):] if record else []
    return {"module": shape.describe(), "conditioned": shape.classes > 0, "updates": len(record),
            "mean_loss": _mean([r[1] for r in record]), "final_loss": _mean([r[1] for r in tail]),
            "mean_cosine": _mean([r[2] for r in record]), "final_cosine": _mean([r[2] for r in tail]),
            "mean_age_updates": _mean([r[3] for r in record]), "mean_age_cycles": _mean([r[4] for r in record]),
            "age_histogram": {str(int(a)): int(c) for a, c in zip(ages, counts)},
            "age_runs": _runs([r[3] for r in record]), "curve": curve}
