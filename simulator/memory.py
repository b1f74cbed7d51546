"""SRAM a layer needs on its PE: weights and optimizer state, plus what it holds per sample.

A layer holds, per sample between its forward and its backward, its input (n_in
floats) and its output (n_out floats: the activation, or the loss delta on the top
layer); inputs may also wait before their forward. With the anchored delta rule a
layer above the first keeps one weight copy per older weight version still in use
(the first layer's backward needs no W^T, so it stashes nothing). A per-sample update
(CP, SGD) streams h x delta straight into the weights; only an algorithm that sums
gradients over several samples (MBGD with batch > 1) keeps a gradient buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .algorithms.base import Schedule

FLOAT_BYTES = 4


@dataclass(frozen=True)
class LayerMemory:
    """Bytes of SRAM one layer needs, by purpose, at the most the schedule allows."""

    layer: int
    weights: int
    gradient_buffer: int
    momentum_buffer: int
    activations: int
    weight_stash: int
    exchange_buffers: int = 0  # data parallel: gradients or weights landing from, or accrued for, other PEs

    @property
    def total(self) -> int:
        return (self.weights + self.gradient_buffer + self.momentum_buffer + self.activations + self.weight_stash
                + self.exchange_buffers)

    def describe(self) -> str:
        parts = [("weights", self.weights), ("gradient buffer", self.gradient_buffer),
                 ("momentum buffer", self.momentum_buffer), ("activations in flight", self.activations),
                 ("stashed weights", self.weight_stash), ("exchange buffers", self.exchange_buffers)]
        return " + ".join(f"{name} {value:,}" for name, value in parts if value)


def param_bytes(n_in: int, n_out: int, bias: bool) -> int:
    return (n_in * n_out + (n_out if bias else 0)) * FLOAT_BYTES


def held_inputs_bound(schedule: Schedule, layer: int) -> int:
    """Most inputs layer k can hold: those its own window allows for layer 1 (plus one the
    port sends ahead); for k > 1 at most what layer k-1 holds, since every sample held at
    k is one that k-1 forwarded and has not yet back-propagated."""
    return schedule.window(1) + 1 if layer == 1 else schedule.window(layer - 1)


def layer_memory(schedule: Schedule, layer: int, n_in: int, n_out: int, bias: bool, momentum: bool,
                 exchange: int = 0) -> LayerMemory:
    """The SRAM bound for layer k (1-based) under `schedule`, plus `exchange` bytes of data-parallel buffers."""
    params = param_bytes(n_in, n_out, bias)
    window = schedule.window(layer)
    stash = window * n_in * n_out * FLOAT_BYTES if schedule.anchored and layer > 1 else 0
    return LayerMemory(
        layer=layer,
        weights=params,
        gradient_buffer=params if schedule.sums_gradients else 0,
        momentum_buffer=params if momentum else 0,
        activations=(held_inputs_bound(schedule, layer) * n_in + window * n_out) * FLOAT_BYTES,
        weight_stash=stash,
        exchange_buffers=exchange,
    )


def worker_exchange_bytes(variant: str, params: int, workers: int) -> int:
    """A worker layer's exchange buffers: downpour keeps an accrued gradient and a landing
    buffer for fetched weights; all-reduce lands one ring chunk; asgd and hogwild wait for
    their weights, which land straight in the weight buffer."""
    if variant == "downpour":
        return 2 * params
    if variant == "allreduce" and workers > 1:
        return -(-params // (workers * FLOAT_BYTES)) * FLOAT_BYTES
    return 0


def shard_memory(layer: int, n_in: int, n_out: int, bias: bool, momentum: bool, workers: int) -> LayerMemory:
    """A parameter-server shard: the master weights, their momentum, and one landing buffer per
    worker for pushed gradients (each worker has one push queued at a time when the shard keeps up)."""
    params = param_bytes(n_in, n_out, bias)
    return LayerMemory(layer=layer, weights=params, gradient_buffer=0, momentum_buffer=params if momentum else 0,
                       activations=0, weight_stash=0, exchange_buffers=workers * params)
