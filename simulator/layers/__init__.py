"""What is computed: layer types with their parameters, arithmetic and costs, and the timing-only twin.

A layer type is a shape class (what it is and costs; see `shape.LayerShape`) plus an
arithmetic class with the methods of `Dense`; `Timing` stands in for any of them in a
timing-only run. `SHAPES` and `LAYERS` map the model's layer kind to its classes.
"""

from __future__ import annotations

from .dense import Dense, DenseShape
from .shape import FLOAT_BYTES, LayerShape, optimizer_state_bytes, param_bytes, update_macs
from .timing import Timing


def network_shapes(model) -> list[DenseShape]:
    """The shape of every layer k = 1..D of a scenario's `model` section, input first."""
    widths = list(model.layers)
    D = len(widths) - 1
    return [DenseShape(n_in, n_out, model.bias, model.activation, first=k == 1, top=k == D)
            for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]), start=1)]


def build(shape, W, b, optimizer, arithmetic: bool, builds_gradient: bool, flat_gradient: bool = False):
    """The layer object a program computes with: the arithmetic layer, or its timing twin."""
    if not arithmetic:
        return Timing(shape, optimizer)
    return Dense(shape, W, b, optimizer, builds_gradient, flat_gradient)


__all__ = ["Dense", "DenseShape", "FLOAT_BYTES", "LayerShape", "Timing", "build", "network_shapes",
           "optimizer_state_bytes", "param_bytes", "update_macs"]
