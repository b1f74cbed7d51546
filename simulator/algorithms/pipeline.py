"""The layer pipeline: each PE runs one layer's forward (F), backward (B) and update (U) ops.

Shared by SGD, CP and MBGD; a `Schedule` supplies what differs. Messages:

    ("x", s, h)   activation of sample s, to the next layer (port -> layer 1 for inputs)
    ("e", s, e)   dL/dh of sample s, to the previous layer
    ("y", s, y)   label of sample s, port -> top layer

A free PE picks, in this order: a pending U (so an update lands before anything else
reads the weights); an F whose input has arrived, if the window has room and the
schedule's gate is open (the top layer also needs the label); then a B whose delta has
arrived. Inputs and deltas wait in arrival order. The top layer's F also computes the
loss and dL/dz, so its B needs no message.

Where each update applies one sample's gradient (CP, SGD) and the optimizer keeps no
state, the gradient is never built: the optimizer is linear, so U applies it to the
rank-one factor and streams W += coef * dz x^T in a single pass over W. MBGD (and
momentum) sum gradients into a buffer that U then applies.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np

from kernels import (ACTIVATIONS, IDENTITY, accumulate_gradient, activation_backward, delta_to_input,
                     dense_forward, rank_one_update, softmax_cross_entropy, zero)

from ..hardware.chip import Chip
from ..hardware.cost import backward_macs, forward_macs, update_macs
from ..hardware.mesh import PORT, Coord
from ..memory import FLOAT_BYTES, LayerMemory
from ..training.optimizers import Transform, UpdateInfo, step
from .base import Schedule


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
                 first: Coord, top: Coord, arithmetic: bool, stream=None):
        self.chip, self.X, self.y, self.order = chip, X, y, order
        self.first, self.top, self.arithmetic = first, top, arithmetic
        self.stream = range(len(order)) if stream is None else stream
        self.input_bytes = X.shape[1] * FLOAT_BYTES
        self.sent = 0  # samples of the stream sent so far

    def send_next(self) -> None:
        """Send the next sample of the stream, if any: at the start, and each time layer 1 takes one in."""
        if self.sent >= len(self.stream):
            return
        sample = int(self.stream[self.sent])
        self.sent += 1
        row = self.order[sample]
        x = self.X[row] if self.arithmetic else None
        label = int(self.y[row])
        self.chip.send(PORT, self.first, self.input_bytes, ("x", sample, x))
        self.chip.send(PORT, self.top, FLOAT_BYTES, ("y", sample, label))


class Recorder:
    """What a run measures as it goes: per-sample losses, per-update staleness, samples completed."""

    def __init__(self, n_layers: int, n_samples: int, on_trained: Callable[[int], None]):
        self.losses = np.full(n_samples, np.nan)  # by sample id
        self.recent: list[float] = []  # losses computed since the last evaluation took them
        self.staleness: list[list[int]] = [[] for _ in range(n_layers)]
        self.samples_trained = 0
        self.on_trained = on_trained

    def loss(self, sample: int, value: float) -> None:
        self.losses[sample] = value
        self.recent.append(value)

    def take_recent(self) -> list[float]:
        """The losses computed since the last call (for the training-loss column of the curve)."""
        recent, self.recent = self.recent, []
        return recent

    def trained(self, samples: int) -> None:
        self.samples_trained = samples
        self.on_trained(samples)


class LayerProgram:
    """The program of the PE holding layer k: its weights, its queues and its three kinds of op."""

    def __init__(self, *, chip: Chip, schedule: Schedule, layer: int, coords: list[Coord],
                 W: np.ndarray, b: np.ndarray, activation: str, bias: bool,
                 optimizer: Transform, momentum: bool, port: Port, recorder: Recorder, arithmetic: bool,
                 memory: LayerMemory):
        D = len(coords)
        self.chip, self.schedule, self.k, self.D = chip, schedule, layer, D
        self.coord = coords[layer - 1]
        self.prev = coords[layer - 2] if layer > 1 else None
        self.next = coords[layer] if layer < D else None
        self.top = layer == D
        self.W, self.b, self.bias = W, b, bias
        self.n_out, self.n_in = W.shape
        self.act = IDENTITY if self.top else ACTIVATIONS[activation]
        self.port, self.recorder, self.arithmetic = port, recorder, arithmetic
        self.optimizer = optimizer
        self.params = [W, b] if bias else [W]
        self.grad_W, self.grad_b = np.zeros_like(W), np.zeros_like(b)  # grad_b is summed but unused without bias
        self.grads = [self.grad_W, self.grad_b][: len(self.params)]
        self.opt_states = [optimizer.init(p) for p in self.params]
        self.window = schedule.window(layer)

        self.cycles_F = chip.op_cycles(forward_macs(self.n_in, self.n_out))
        summing = schedule.sums_gradients
        self.streaming = not summing and not momentum
        self.cycles_B = chip.op_cycles(backward_macs(self.n_in, self.n_out, layer == 1, summing))
        self.cycles_U = chip.op_cycles(update_macs(self.n_in, self.n_out, bias, momentum))

        self.inputs: deque = deque()  # (sample, x) waiting for F
        self.deltas: deque = deque()  # (sample, e) waiting for B
        self.labels: dict[int, int] = {}
        self.held: dict[int, tuple] = {}  # sample -> (x, h or dz, weight version its F used)
        self.version = 0  # updates applied
        self.applied = 0  # samples whose gradients have been applied
        self.pending_update = False
        self.group: list[int] = []  # weight versions of the samples in the gradient being summed
        self.factors: tuple | None = None  # (dz, x) of the sample a streaming update applies
        self.group_last = -1
        self.version_refs: dict[int, int] = {}  # weight version -> held samples that used it (anchored)
        self.stash: dict[int, np.ndarray] = {}  # old weight versions still needed (anchored)
        self.max_in_flight = 0
        self.updates = 0

        # Weights and buffers stay for the whole run; per-sample data comes and goes.
        self.static_bytes = memory.weights + memory.gradient_buffer + memory.momentum_buffer + memory.exchange_buffers
        self.sram_in_use = self.static_bytes
        self.sram_peak = self.static_bytes

    # -- SRAM ledger ---------------------------------------------------------
    def _alloc(self, nbytes: int) -> None:
        self.sram_in_use += nbytes
        if self.sram_in_use > self.sram_peak:
            self.sram_peak = self.sram_in_use

    # -- messages ------------------------------------------------------------
    def receive(self, message: tuple) -> None:
        kind, sample, payload = message
        if kind == "x":
            self.inputs.append((sample, payload))
            self._alloc(self.n_in * FLOAT_BYTES)
        elif kind == "e":
            self.deltas.append((sample, payload))
        else:
            self.labels[sample] = payload

    # -- choosing the next op --------------------------------------------------
    def start_next(self):
        if self.pending_update:
            return self._update()
        inputs = self.inputs
        if inputs and len(self.held) < self.window:
            sample = inputs[0][0]
            if self.schedule.may_forward(sample, self.version) and (not self.top or sample in self.labels):
                return self._forward()
        if self.deltas:
            return self._backward()
        return None

    # -- the three ops -----------------------------------------------------------
    def _forward(self):
        sample, x = self.inputs.popleft()
        h = None
        if self.arithmetic:
            h = np.empty(self.n_out, dtype=np.float32)
            dense_forward(self.W, self.b, x, h, self.act)
            if self.top:
                dz = np.empty(self.n_out, dtype=np.float32)
                loss = softmax_cross_entropy(h, self.labels[sample], dz)
                if not np.isfinite(loss):
                    raise Diverged(sample, loss, self.chip.now)
                self.recorder.loss(sample, loss)
                h = dz
        if self.top:
            del self.labels[sample]
        version = self.version
        self.held[sample] = (x, h, version)
        if len(self.held) > self.max_in_flight:
            self.max_in_flight = len(self.held)
        self._alloc(self.n_out * FLOAT_BYTES)
        if self.schedule.anchored:
            self.version_refs[version] = self.version_refs.get(version, 0) + 1
        if self.k == 1:
            self.port.send_next()

        def finish():
            if self.top:
                self.deltas.append((sample, None))
            else:
                self.chip.send(self.coord, self.next, self.n_out * FLOAT_BYTES, ("x", sample, h))

        return "F", sample, self.cycles_F, finish

    def _backward(self):
        sample, e = self.deltas.popleft()
        x, h, version = self.held.pop(sample)
        out = None
        if self.arithmetic:
            if self.top:
                dz = h
            else:
                dz = np.empty(self.n_out, dtype=np.float32)
                activation_backward(h, e, dz, self.act)
            if self.streaming:
                self.factors = (dz, x)
            else:
                accumulate_gradient(self.grad_W, self.grad_b, dz, x)
            if self.k > 1:
                out = np.empty(self.n_in, dtype=np.float32)
                delta_to_input(self._weights_of(version), dz, out)
        if self.schedule.anchored:
            self._release(version)
        self.sram_in_use -= (self.n_in + self.n_out) * FLOAT_BYTES
        self.group.append(version)
        self.group_last = sample
        ends_group = self.schedule.ends_group(sample)

        def finish():
            if self.k > 1:
                self.chip.send(self.coord, self.prev, self.n_in * FLOAT_BYTES, ("e", sample, out))
            if ends_group:
                self._group_done()

        return "B", sample, self.cycles_B, finish

    def _group_done(self) -> None:
        """The backward of the last sample of a gradient has finished: apply it next."""
        self.pending_update = True

    def _update(self):
        self.pending_update = False
        if self.schedule.anchored and self.k > 1 and self.version_refs.get(self.version, 0) > 0:
            # Samples in flight still need this version's W^T for their backward: keep a copy.
            self.stash[self.version] = self.W.copy() if self.arithmetic else None
            self._alloc(self.W.nbytes)
        if self.arithmetic:
            info = UpdateInfo(step=self.applied, count=len(self.group))
            if self.streaming:
                dz, x = self.factors
                _, coef, _ = self.optimizer.update(dz, 1.0, self.opt_states[0], info)
                rank_one_update(self.W, self.b, dz, x, coef, self.bias)
                self.factors = None
            else:
                self._apply_gradient(info)
        self.recorder.staleness[self.k - 1].append(self.version - min(self.group))
        self.version += 1
        self.updates += 1
        self.applied += len(self.group)
        self.group = []
        last = self.group_last

        def finish():
            if self.k == 1:
                self.recorder.trained(last + 1)

        return "U", last, self.cycles_U, finish

    def _apply_gradient(self, info: UpdateInfo) -> None:
        """params += optimizer step of the summed gradient; the gradient buffer is then cleared."""
        self.opt_states = step(self.optimizer, self.params, self.grads, self.opt_states, info)
        zero(self.grad_W)
        zero(self.grad_b)

    def stats(self) -> dict:
        """What the layer's row in metrics.json reports about this program."""
        return {"op_cycles": {"F": self.cycles_F, "B": self.cycles_B, "U": self.cycles_U}, "updates": self.updates,
                "in_flight_window": self.window, "max_in_flight": self.max_in_flight,
                "peak_sram_bytes": self.sram_peak}

    # -- anchored delta rule -------------------------------------------------------
    def _weights_of(self, version: int) -> np.ndarray:
        """The W the backward must use: the current one, or (anchored) the one its forward used."""
        if self.schedule.anchored and version != self.version:
            return self.stash[version]
        return self.W

    def _release(self, version: int) -> None:
        refs = self.version_refs[version] - 1
        if refs:
            self.version_refs[version] = refs
            return
        del self.version_refs[version]
        if version in self.stash:
            del self.stash[version]
            self.sram_in_use -= self.W.nbytes
