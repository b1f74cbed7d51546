"""What is computed: layer types with their parameters, arithmetic and costs, and the timing-only twin.

A layer type is a shape class (what it is and costs; see `shape.LayerShape`) plus an
arithmetic class with the methods of `Dense`; `Timing` stands in for any of them in a
timing-only run. `SHAPES` and `LAYERS` map the model's layer kind to its classes.
"""

from __future__ import annotations

import math

from .block import Block, BlockShape
from .channel_block import ChannelShape, WholeBlock
from .conv import Conv2D, ConvShape
from .dense import Dense, DenseShape
from .group import ConvPool, ConvPoolShape
from .pool import Pool, PoolShape
from .shape import FLOAT_BYTES, LayerShape, optimizer_state_bytes, param_bytes, update_macs
from .timing import Timing

LAYERS = {"dense": Dense, "conv": Conv2D, "pool": Pool, "conv+pool": ConvPool}  # shape.kind -> the arithmetic class


class ShapeError(ValueError):
    """A layer of the model does not fit the output of the one below it."""


def network_shapes(model) -> list:
    """The shape of every PE's layer k = 1..D of a scenario's `model` section, input first: one per
    layer, or with `model.grouping: conv_pool` a convolution and the pooling right above it as one."""
    if not model.mapped:
        widths = list(model.layers)
        D = len(widths) - 1
        return [DenseShape(n_in, n_out, model.bias, model.activation, first=k == 1, top=k == D)
                for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]), start=1)]
    shapes, below = [], tuple(model.input)  # (C, H, W) of an image, or (n,) once flattened
    D = len(model.layers)
    for k, spec in enumerate(model.layers, start=1):
        shape = _shape(spec, below, model, first=k == 1, top=k == D, where=f"model.layers[{k - 1}] ({spec.type})")
        shapes.append(shape)
        below = (shape.output_floats,) if shape.kind == "dense" else shape.out_shape
    return _grouped(shapes) if model.grouping == "conv_pool" else shapes


def _grouped(shapes: list) -> list:
    """Each convolution followed by a pooling layer made one `ConvPoolShape`; every other layer as it was."""
    out = []
    for shape in shapes:
        if shape.kind == "pool" and out and out[-1].kind == "conv":
            out[-1] = ConvPoolShape(out[-1], shape)
        else:
            out.append(shape)
    return out


def _shape(spec, below: tuple, model, first: bool, top: bool, where: str):
    """One layer's shape over an input of shape `below`; a ShapeError names the layer and both shapes."""
    activation = getattr(spec, "activation", None) or model.activation
    if spec.type == "dense":
        return DenseShape(math.prod(below), spec.out, model.bias, activation, first=first, top=top)
    if len(below) != 3:
        raise ShapeError(f"{where} needs an image (channels x height x width) below it, but gets {below[0]} flat "
                         "values from a dense layer: put convolutions and pooling before the dense layers")
    C, H, W = below
    text = f"{C}x{H}x{W}"
    if spec.type == "conv":
        if spec.norm and activation != "relu" and not top:
            raise ShapeError(f"{where}: normalization propagation recentres ReLU outputs, and its activation is "
                             f"{activation}; use activation: relu, or drop norm")
        shape = ConvShape(C, H, W, spec.out, spec.kernel, spec.stride, spec.pad, model.bias or spec.norm, activation,
                          first, top, norm=spec.norm)
        if shape.out_height < 1 or shape.out_width < 1:
            raise ShapeError(f"{where}: a {spec.kernel}x{spec.kernel} kernel with pad {spec.pad} does not fit its "
                             f"{text} input; lower kernel, or raise pad")
        return shape
    if spec.type == "global_pool":
        return PoolShape(C, H, W, "global", max(H, W), 1, first, top)
    shape = PoolShape(C, H, W, spec.kind, spec.size, spec.stride or spec.size, first, top)
    if shape.out_height < 1 or shape.out_width < 1:
        raise ShapeError(f"{where}: a {spec.size}x{spec.size} window does not fit its {text} input; lower size")
    return shape


def build(shape, W, b, optimizer, arithmetic: bool, builds_gradient: bool, flat_gradient: bool = False):
    """The layer object a program computes with: the arithmetic layer of its kind, or its timing twin."""
    if not arithmetic:
        return Timing(shape, optimizer)
    if isinstance(shape, BlockShape):
        return Block(shape, W, b, optimizer, builds_gradient, flat_gradient)
    if isinstance(shape, ChannelShape):
        return WholeBlock(shape, build(shape.inner, W, b, optimizer, arithmetic, builds_gradient, flat_gradient))
    if shape.kind == "pool":
        return Pool(shape, optimizer)
    return LAYERS[shape.kind](shape, W, b, optimizer, builds_gradient, flat_gradient)


__all__ = ["Conv2D", "ConvPool", "ConvPoolShape", "ConvShape", "Dense", "DenseShape", "FLOAT_BYTES", "LAYERS",
           "LayerShape", "Pool", "PoolShape", "ShapeError", "Timing", "build", "network_shapes", "optimizer_state_bytes", "param_bytes", "update_macs"]
