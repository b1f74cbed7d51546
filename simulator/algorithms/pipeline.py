"""The layer pipeline: each PE runs one layer's forward (F), backward (B) and update (U) ops.

Shared by SGD, CP, MBGD and the data-parallel workers; a `Schedule` supplies what differs
and the layer object (`wafersim.layers`) does the arithmetic, so this module keeps only
queues, gates, cycles and messages. Messages (`records.Message`):

    x  activation of sample s, to the next layer (port -> layer 1 for inputs)
    e  dL/dh of sample s, to the previous layer
    y  label of sample s, port -> top layer

A free PE looks for work in the order of `schedule.priority` (by default U, F, B): a
pending U (so an update lands before anything else reads the weights); an F whose input
has arrived, if the window has room and the schedule's gate is open (the top layer also
needs the label); a B whose delta has arrived. Inputs and deltas wait in arrival order.
The top layer's F also computes the loss and dL/dz, so its B needs no message.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Callable

import numpy as np

from ..hardware.chip import Chip
from ..hardware.mesh import PORT, Coord
from ..layers import FLOAT_BYTES, update_macs
from ..memory import LayerMemory, SramLedger, builds_gradient
from ..records import Message, Op, new_record
from .base import DEFAULT_PRIORITY, Schedule
from .stash import WeightStash


def _nothing() -> None:
    """The finish of an op whose end has no effect."""


class Diverged(Exception):
    """The loss of a sample is not finite: training has diverged."""

    def __init__(self, sample: int, loss: float, cycle: int):
        self.sample, self.loss, self.cycle = sample, loss, cycle
        super().__init__(f"the loss of sample {sample} is {loss} at cycle {cycle}")


class Port:
    """The I/O port at the mesh edge: feeds a stream of samples to layer 1 and their labels to the top layer.

    The stream is every sample id in order, or (for a data-parallel worker) the worker's own
    ids; sample id s is row `order[s]` of the training set.
    """

    def __init__(self, chip: Chip, X: np.ndarray, y: np.ndarray, order: np.ndarray,
                 first: Coord, top: Coord, stream=None, pieces: list | None = None):
        self.chip, self.X, self.y, self.order = chip, X, y, order
        self.first, self.top = first, top
        self.pieces = pieces  # layer 1 on a region: (PEs, start, stop) of each piece of the input, multicast as (0, x[start:stop])
        self.piece_channels: list = []
        self.stream = range(len(order)) if stream is None else stream
        self.input_bytes = X.shape[1] * FLOAT_BYTES
        self.sent = 0  # samples of the stream sent so far
        self.channels: tuple | None = None  # (to layer 1, to the top layer), once the PEs are on the chip
        self.label_coords: list[Coord] = []  # PEs besides the top layer that get every label (cDNI)
        self.label_channels: list = []

    def label_to(self, coord: Coord) -> None:
        """Send every label to the PE at `coord` as well (after the top layer's)."""
        self.label_coords.append(coord)

    def send_next(self) -> None:
        """Send the next sample of the stream, if any: at the start, and each time layer 1 takes one in."""
        if self.sent >= len(self.stream):
            return
        sample = int(self.stream[self.sent])
        self.sent += 1
        row = self.order[sample]
        if self.channels is None:
            chip = self.chip
            self.channels = (chip.channel(PORT, self.first, "x", self.input_bytes),
                             chip.channel(PORT, self.top, "y", FLOAT_BYTES))
            self.label_channels = [chip.channel(PORT, coord, "y", FLOAT_BYTES) for coord in self.label_coords]
            self.piece_channels = [(chip.multicast(PORT, coords, "x", (stop - start) * FLOAT_BYTES), start, stop)
                                   for coords, start, stop in self.pieces or ()]
        inputs, labels = self.channels
        if self.pieces is None:
            inputs.send(sample, self.X[row])
        for channel, start, stop in self.piece_channels:
            channel.send(sample, (0, self.X[row, start:stop]))
        label = int(self.y[row])
        labels.send(sample, label)
        for channel in self.label_channels:
            channel.send(sample, label)


class Losses:
    """Per-sample losses (NaN until computed) and those computed since the last evaluation took them."""

    def __init__(self, n_samples: int):
        self.by_sample = np.full(n_samples, np.nan)
        self.recent: list[float] = []

    def add(self, sample: int, value: float) -> None:
        self.by_sample[sample] = value
        self.recent.append(value)

    def take_recent(self) -> list[float]:
        recent, self.recent = self.recent, []
        return recent


class Recorder:
    """What a run measures as it goes: per-sample losses, per-update staleness, samples completed.

    In a timing-only run losses are None and are not recorded.
    """

    def __init__(self, n_layers: int, n_samples: int, on_trained: Callable[[int], None], arithmetic: bool = True):
        self.losses = Losses(n_samples)
        self.staleness: list[list[int]] = [[] for _ in range(n_layers)]
        self.samples_trained = 0
        self.on_trained = on_trained
        self.arithmetic = arithmetic

    def loss(self, sample: int, value: float | None, cycle: int) -> None:
        """Record the loss of `sample`; a non-finite loss stops the run (Diverged)."""
        if not self.arithmetic:
            return
        if not math.isfinite(value):
            raise Diverged(sample, value, cycle)
        self.losses.add(sample, value)

    def take_recent(self) -> list[float]:
        """The losses computed since the last call (for the training-loss column of the curve)."""
        return self.losses.take_recent()

    @property
    def staleness_counts(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each layer's staleness histogram: (values ascending, updates of each), int64 arrays."""
        return [np.unique(np.asarray(values, dtype=np.int64), return_counts=True) for values in self.staleness]

    def trained(self, samples: int) -> None:
        self.samples_trained = samples
        self.on_trained(samples)


def op_macs(shape, schedule: Schedule, optimizer) -> tuple[int, int, int]:
    """The MACs of a pipeline layer's F, B and U ops (its B builds the gradient if the schedule or optimizer needs it)."""
    return (shape.forward_macs(), shape.backward_macs(builds_gradient(schedule, optimizer, shape)),
            update_macs(shape, optimizer))


def layer_stats(op_cycles: tuple[int, int, int], updates: int, window: int, max_in_flight: int,
                peak_sram: int) -> dict:
    """What a layer's row in metrics.json reports about its program (F, B and U cycles first)."""
    return {"op_cycles": dict(zip("FBU", op_cycles)), "updates": updates, "in_flight_window": window,
            "max_in_flight": max_in_flight, "peak_sram_bytes": peak_sram}


class LayerProgram:
    """The program of the PE holding layer k: its queues, its window and gate, and its three kinds of op."""

    def __init__(self, *, chip: Chip, schedule: Schedule, k: int, coords: list[Coord], layer, port: Port,
                 recorder: Recorder, memory: LayerMemory):
        D = len(coords)
        self.chip, self.schedule, self.k, self.D = chip, schedule, k, D
        self.coord = coords[k - 1]
        self.prev = coords[k - 2] if k > 1 else None
        self.next = coords[k] if k < D else None
        self.top = k == D
        self.layer, self.shape = layer, layer.shape
        self.port, self.recorder = port, recorder
        self.staleness = recorder.staleness[k - 1]  # this layer's list, appended to once per update
        self.window = schedule.window(k)
        self.anchored = schedule.anchored and self.shape.backward_reads_weights  # layer 1's dense or conv B reads none

        self.cycles_F, self.cycles_B, self.cycles_U = (chip.op_cycles(macs)
                                                       for macs in op_macs(self.shape, schedule, layer.optimizer))
        self.in_bytes = self.shape.input_floats * FLOAT_BYTES
        self.out_bytes = self.shape.output_floats * FLOAT_BYTES

        self.down: tuple | None = None  # chip channels to the next and previous layers' PEs, at the first send
        self.up: tuple | None = None
        self.inputs: deque = deque()  # (sample, x) waiting for F
        self.deltas: deque = deque()  # (sample, e) waiting for B
        self.labels: dict[int, int] = {}
        self.held: dict[int, tuple] = {}  # sample -> (x, h or dz, weight version its F used)
        self.version = 0  # updates applied
        self.applied = 0  # samples whose gradients have been applied
        self.pending_update = False
        self.group: list[int] = []  # weight versions of the samples in the gradient being summed
        self.group_last = -1
        self.stash = WeightStash()
        self.max_in_flight = 0
        self.updates = 0
        self.sram = SramLedger(memory.static)
        self.wants_labels = False  # labels reach the top layer alone (a subclass may want them too)
        self.counts_trained = k == 1  # its updates count the samples trained
        # `receive` below only files a message in this program's queues, so the PE may hand it
        # over late (`hardware.pe.Program`); a subclass with a receive of its own gets each on time.
        self.local_receive = type(self).receive is LayerProgram.receive
        self.gated = schedule.gates_backward
        pickers = {"U": self._pick_update, "F": self._pick_forward, "B": self._pick_backward, **self.extra_pickers()}
        self._pickers = [pickers[kind] for kind in self.priority()]
        if self.priority() == DEFAULT_PRIORITY and not self.gated:
            self.start_next = self._start_default

    def priority(self) -> tuple[str, ...]:
        """The op kinds a free PE looks for, in order."""
        return self.schedule.priority

    def extra_pickers(self) -> dict[str, Callable[[], Op | None]]:
        """Op kinds a subclass adds to the priority list, by letter."""
        return {}

    @property
    def sram_peak(self) -> int:
        return self.sram.peak

    # -- messages ------------------------------------------------------------
    def receive(self, message: Message) -> None:
        kind, tag, payload = message
        if kind == "x":
            self.inputs.append((tag, payload))
            sram = self.sram  # inlined SramLedger.alloc (freed by the backward): once per sample and layer
            sram.in_use += self.in_bytes
            if sram.in_use > sram.peak:
                sram.peak = sram.in_use
        elif kind == "e":
            self.deltas.append((tag, payload))
        else:
            self.labels[tag] = payload

    # -- choosing the next op --------------------------------------------------
    def start_next(self) -> Op | None:
        """The first op available in priority order, or None."""
        for pick in self._pickers:
            op = pick()
            if op is not None:
                return op
        return None

    def _start_default(self) -> Op | None:
        """`start_next` for the default priority U, F, B, with the three picks inlined (the hot path)."""
        if self.pending_update:
            return self.update()
        inputs = self.inputs
        if inputs and len(self.held) < self.window:
            sample = inputs[0][0]
            if self.schedule.may_forward(sample, self.version) and (not self.top or sample in self.labels):
                return self.forward()
        if self.deltas:
            return self.backward()
        return None

    def _pick_update(self) -> Op | None:
        return self.update() if self.pending_update else None

    def _pick_forward(self) -> Op | None:
        inputs = self.inputs
        if inputs and len(self.held) < self.window:
            sample = inputs[0][0]
            if self.schedule.may_forward(sample, self.version) and (not self.top or sample in self.labels):
                return self.forward()
        return None

    def _pick_backward(self) -> Op | None:
        if not self.deltas or (self.gated and not self.schedule.may_backward(self.deltas[0][0], self.held)):
            return None
        return self.backward()

    # -- the three ops -----------------------------------------------------------
    def forward(self) -> Op:
        sample, x = self.inputs.popleft()
        if self.top:
            h, loss = self.layer.forward_loss(x, self.labels.pop(sample))
            self.recorder.loss(sample, loss, self.chip.now)
        else:
            h = self.layer.forward(x)
        version = self.version
        self.held[sample] = (x, h, version)
        if len(self.held) > self.max_in_flight:
            self.max_in_flight = len(self.held)
        sram = self.sram  # inlined SramLedger.alloc: this runs once per sample and layer
        sram.in_use += self.out_bytes
        if sram.in_use > sram.peak:
            sram.peak = sram.in_use
        if self.anchored:
            self.stash.hold(version)
        if self.k == 1:
            self.port.send_next()

        if self.top:
            def finish():
                self.deltas.append((sample, None))
        else:
            def finish():
                (self.down or self._open_channels()[0]).send(sample, h)

        return new_record(Op, ("F", sample, self.cycles_F, finish))

    def backward(self) -> Op:
        sample, e = self.deltas.popleft()
        x, h, version = self.held.pop(sample)
        stashed = self.stashed(version) if self.anchored else None
        out = self.layer.backward(x, h, e, stashed)
        if self.anchored:
            self.release(version)
        self.sram.in_use -= self.in_bytes + self.out_bytes  # inlined SramLedger.free
        self.group.append(version)
        self.group_last = sample
        ends_group = self.schedule.ends_group(sample)

        def finish():
            if self.k > 1:
                (self.up or self._open_channels()[1]).send(sample, out)
            if ends_group:
                self.gradient_ready()

        return new_record(Op, ("B", sample, self.cycles_B, finish))

    def _open_channels(self) -> tuple:
        """The chip channels to the next and the previous layer (None where there is none)."""
        chip = self.chip
        self.down = chip.channel(self.coord, self.next, "x", self.out_bytes) if self.next is not None else None
        self.up = chip.channel(self.coord, self.prev, "e", self.in_bytes) if self.prev is not None else None
        return self.down, self.up

    def gradient_ready(self) -> None:
        """The backward of the last sample of a gradient has finished: apply it next."""
        self.pending_update = True

    def update(self) -> Op:
        self.pending_update = False
        if self.anchored:
            self.keep_weights_in_use()
        group = self.group
        self.layer.update(self.applied, len(group))
        self.staleness.append(self.version - min(group))
        self.version += 1
        self.updates += 1
        self.applied += len(group)
        self.group = []
        last = self.group_last
        if self.counts_trained:
            def finish():
                self.recorder.trained(last + 1)
        else:
            finish = _nothing  # only layer 1's updates are counted
        return new_record(Op, ("U", last, self.cycles_U, finish))

    def stats(self) -> dict:
        return layer_stats((self.cycles_F, self.cycles_B, self.cycles_U), self.updates, self.window,
                           self.max_in_flight, self.sram.peak)

    # -- anchored delta rule -------------------------------------------------------
    def stashed(self, version: int):
        """The weights a backward of a sample forwarded with `version` reads: a kept copy, or None (the current ones)."""
        return self.stash.copies[version] if version != self.version else None

    def release(self, version: int) -> None:
        """A sample forwarded with `version` has back-propagated: drop the copy if no other needs it."""
        if self.stash.release(version):
            self.sram.free(self.shape.stash_bytes)

    def keep_weights_in_use(self) -> None:
        """Before an update overwrites the weights: copy them if held samples' backwards still need them."""
        if self.anchored and self.stash.needed(self.version):
            self.stash.keep(self.version, self.layer.stash())
            self.sram.alloc(self.shape.stash_bytes)
