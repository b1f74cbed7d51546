"""SRAM a PE needs: parameters and optimizer state, buffers, and what it holds per sample.

A layer holds, per sample between its forward and its backward, its input and its output
(the activation, or the loss delta on the top layer); inputs may also wait before their
forward. With the anchored delta rule a layer keeps one weight copy per older weight
version still in use (`shape.stash_bytes`; none for the first layer). A per-sample update
with a linear, stateless optimizer streams dz x^T straight into the weights; a layer that
sums gradients over several samples, or whose optimizer keeps state, builds the gradient
in a buffer. Every figure comes from the layer's shape and the optimizer's own facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .layers import LayerShape, optimizer_state_bytes, param_bytes
from .optimizers import Transform

if TYPE_CHECKING:
    from .algorithms.base import Schedule


@dataclass(frozen=True)
class LayerMemory:
    """Bytes of SRAM one PE needs, by purpose, at the most the schedule allows."""

    layer: int
    weights: int
    gradient_buffer: int
    optimizer_state: int
    activations: int
    weight_stash: int
    exchange_buffers: int = 0  # data parallel: gradients or weights landing from, or accrued for, other PEs
    synthetic: int = 0  # dni: the synthetic-gradient module's parameters, gradients and optimizer state
    region_buffers: int = 0  # a layer region's block: partial sums and deltas from its row's or column's blocks

    @property
    def static(self) -> int:
        """What stays for the whole run; per-sample data comes and goes."""
        return self.weights + self.gradient_buffer + self.optimizer_state + self.exchange_buffers + self.synthetic

    @property
    def total(self) -> int:
        return self.static + self.activations + self.weight_stash + self.region_buffers

    def describe(self) -> str:
        parts = [("weights", self.weights), ("gradient buffer", self.gradient_buffer),
                 ("optimizer state", self.optimizer_state), ("activations in flight", self.activations),
                 ("stashed weights", self.weight_stash), ("exchange buffers", self.exchange_buffers),
                 ("synthetic-gradient module", self.synthetic), ("region buffers", self.region_buffers)]
        return " + ".join(f"{name} {value:,}" for name, value in parts if value)


class SramLedger:
    """A PE's SRAM in use, as the run allocates and frees it, and its peak."""

    def __init__(self, static_bytes: int):
        self.in_use = static_bytes
        self.peak = static_bytes

    def alloc(self, nbytes: int) -> None:
        self.in_use += nbytes
        if self.in_use > self.peak:
            self.peak = self.in_use

    def free(self, nbytes: int) -> None:
        self.in_use -= nbytes


def builds_gradient(schedule: Schedule, optimizer: Transform, shape: LayerShape) -> bool:
    """Does the layer build its gradient in a buffer (rather than stream a rank-one update, which
    only a dense layer's per-sample gradient under a linear, stateless optimizer allows)?"""
    return schedule.sums_gradients or not optimizer.linear or not shape.streamable


def held_inputs_bound(schedule: Schedule, layer: int) -> int:
    """Most inputs layer k can hold: those its own window allows for layer 1 (plus one the
    port sends ahead); for k > 1 at most what layer k-1 holds, since every sample held at
    k is one that k-1 forwarded and has not yet back-propagated."""
    return schedule.window(1) + 1 if layer == 1 else schedule.window(layer - 1)


def layer_memory(schedule: Schedule, layer: int, shape: LayerShape, optimizer: Transform,
                 exchange: int = 0, classes: int = 0) -> LayerMemory:
    """The SRAM bound for layer k (1-based) under `schedule`, plus `exchange` bytes of data-parallel buffers
    (`classes`: the network's outputs, which a label-conditioned module reads)."""
    params = param_bytes(shape)
    side, side_per_sample = schedule.side_memory(layer, shape, classes)
    return LayerMemory(
        layer=layer,
        weights=params,
        gradient_buffer=params if builds_gradient(schedule, optimizer, shape) else 0,
        optimizer_state=optimizer_state_bytes(shape, optimizer),
        activations=schedule.activation_bytes(layer, shape, held_inputs_bound(schedule, layer)) + side_per_sample,
        weight_stash=schedule.stash_bytes(layer, shape),
        exchange_buffers=exchange,
        synthetic=side,
    )


def shard_memory(layer: int, shape: LayerShape, optimizer: Transform, workers: int) -> LayerMemory:
    """A parameter-server shard: the master weights, their optimizer state, and one landing buffer per
    worker for pushed gradients (each worker has one push queued at a time when the shard keeps up)."""
    params = param_bytes(shape)
    return LayerMemory(layer=layer, weights=params, gradient_buffer=0,
                       optimizer_state=optimizer_state_bytes(shape, optimizer),
                       activations=0, weight_stash=0, exchange_buffers=workers * params)
