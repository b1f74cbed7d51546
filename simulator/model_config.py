"""The `model` section: dense widths, a compact deep stack, or a list of layer mappings (convolutional networks).

    layers: [64, 128, 10]                                  # dense: widths, input first
    layers: {input: 64, hidden: [64], repeat: 100, output: 10}
    input: [1, 28, 28]                                     # channels, height, width
    layers:                                                # one mapping per layer
      - {type: conv, out: 32, kernel: 5, pad: 2}
      - {type: pool, kind: max, size: 3, stride: 2}
      - {type: conv, out: 10, kernel: 1}
      - {type: global_pool}                                # the top layer: its outputs are the logits
    grouping: conv_pool                                    # each pooling on its convolution's PE

A dense layer after a convolution or a pooling reads its input flattened (channels, then
rows, then columns). Every layer's shape follows from the one below it, and a layer that
does not fit its input is refused at validation with both shapes named. Each layer has a
PE of its own (`grouping: none`) unless `grouping: conv_pool` puts a pooling layer on the
PE of the convolution below it (`layers.group`); the run's layers k = 1..D are then the
PEs' (a grouped pair's weights are its convolution's).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import Field, PrivateAttr, field_validator, model_validator

from .layers import network_shapes
from .schema import Strict

MAX_STACK_LAYERS = 1_000_000
Activation = Literal["relu", "tanh"]


class LayerStack(Strict):
    """A deep network written compactly: the input width, the `hidden` widths `repeat` times, the output width."""

    input: int = Field(ge=1, description="input width")
    hidden: list[int] = Field(min_length=1, description="hidden widths, repeated in order")
    repeat: int = Field(ge=1, le=1_000_000, description="times the hidden widths repeat")
    output: int = Field(ge=1, description="output width (the logits)")

    @model_validator(mode="after")
    def _bounded(self) -> "LayerStack":
        """A stack is built whole in memory: at most MAX_STACK_LAYERS layers (a million, beyond any wafer)."""
        layers = len(self.hidden) * self.repeat + 1
        if layers > MAX_STACK_LAYERS:
            raise ValueError(f"{len(self.hidden)} hidden widths repeated {self.repeat:,} times make {layers:,} layers, "
                             f"more than the {MAX_STACK_LAYERS:,} a stack may have; lower repeat")
        return self

    def widths(self) -> list[int]:
        return [self.input, *self.hidden * self.repeat, self.output]


class DenseSpec(Strict):
    """A dense layer of `out` units over its input, flattened."""

    type: Literal["dense"]
    out: int = Field(ge=1, description="output units")
    activation: Activation | None = Field(default=None, description="relu | tanh; none: model.activation")


class ConvSpec(Strict):
    """A 2-D convolution: `out` filters of kernel x kernel over every input channel, zero-padded."""

    type: Literal["conv"]
    out: int = Field(ge=1, description="output channels (filters)")
    kernel: int = Field(ge=1, description="kernel height and width")
    stride: int = Field(default=1, ge=1, description="step between windows")
    pad: int = Field(default=0, ge=0, description="zeros added on every side")
    activation: Activation | None = Field(default=None, description="relu | tanh; none: model.activation")
    norm: bool = Field(default=False, description="normalization propagation (Arpit et al. 2016): unit-norm "
                                                  "filters with a learnt gain and shift, ReLU outputs recentred")


class PoolSpec(Strict):
    """Max or average pooling over size x size windows (no padding)."""

    type: Literal["pool"]
    kind: Literal["max", "avg"] = Field(default="max", description="max | avg")
    size: int = Field(ge=1, description="window height and width")
    stride: int | None = Field(default=None, ge=1, description="step between windows; none: the size")


class GlobalPoolSpec(Strict):
    """Global average pooling: one value per channel."""

    type: Literal["global_pool"]


LayerSpec = Annotated[Union[DenseSpec, ConvSpec, PoolSpec, GlobalPoolSpec], Field(discriminator="type")]


class ModelConfig(Strict):
    """The network: dense widths from the input to the logits, or an image input and a list of layer mappings."""

    layers: list[int] | list[LayerSpec] = Field(
        min_length=1, description="widths, input first; {input, hidden, repeat, output} for a deep stack; or a list "
                                  "of layer mappings ({type: conv | pool | global_pool | dense, ...}) with model.input")
    input: list[int] | None = Field(default=None, min_length=3, max_length=3,
                                    description="[channels, height, width] of the input images, for layer mappings")
    activation: Activation = "relu"
    init: Literal["glorot", "he"] = "glorot"
    bias: bool = True
    grouping: Literal["none", "conv_pool"] = Field(
        default="none", description="which layers share a PE: none (one layer per PE), or conv_pool (each pooling "
                                    "layer on the PE of the convolution right below it)")
    _stages: int = PrivateAttr(default=0)  # PEs the layer mappings take (grouping), set at validation

    @field_validator("layers", mode="before")
    @classmethod
    def _stack(cls, value: Any) -> Any:
        """`{input: 64, hidden: [64], repeat: 2000, output: 10}` is [64, 64 (2000 times), 10]."""
        return LayerStack.model_validate(value).widths() if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _consistent(self) -> "ModelConfig":
        if not self.mapped:
            if len(self.layers) < 2:
                raise ValueError("model.layers needs at least two widths: the input and the output")
            bad = [i for i, w in enumerate(self.layers) if w < 1]
            if bad:
                raise ValueError(f"model.layers[{bad[0]}] must be a positive width, got {self.layers[bad[0]]}")
            if self.input is not None:
                raise ValueError("model.input gives an image's shape for a list of layer mappings; with widths, "
                                 "the first width is the input: remove model.input")
            if self.grouping != "none":
                raise ValueError("model.grouping puts a pooling layer on its convolution's PE, and dense widths have "
                                 "neither: remove model.grouping, or list the layers as mappings")
            return self
        if self.input is None:
            raise ValueError("model.layers lists layer mappings, so give model.input: [channels, height, width]")
        if any(v < 1 for v in self.input):
            raise ValueError(f"model.input must be three positive numbers [channels, height, width], got {self.input}")
        self._stages = len(network_shapes(self))  # every layer's shape checked against its input
        return self

    @property
    def mapped(self) -> bool:
        """Is the network a list of layer mappings (rather than dense widths)?"""
        return bool(self.layers) and not isinstance(self.layers[0], int)

    @property
    def n_layers(self) -> int:
        """Layers of the pipeline, one per PE (a grouped convolution and pooling are one)."""
        return self._stages if self.mapped else len(self.layers) - 1

    @property
    def input_floats(self) -> int:
        """Floats of one input sample."""
        return math.prod(self.input) if self.mapped else self.layers[0]

    @property
    def classes(self) -> int:
        """The top layer's outputs: the logits."""
        return network_shapes(self)[-1].output_floats if self.mapped else self.layers[-1]

    @property
    def width_keys(self) -> tuple[str, str]:
        """Where the model states its input floats and its classes, for a message that asks to change them."""
        if self.mapped:
            return "model.input (channels x height x width)", f"model.layers[{len(self.layers) - 1}]'s output"
        return "model.layers[0]", "model.layers[-1]"
