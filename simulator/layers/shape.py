"""What a layer is and what it costs, without arrays: the facts the timing model and the SRAM bound read.

Every layer type has a shape class with these members; the cycle and byte accounting of
the programs, `memory.py` and `layout.py` read only these, never a layer's widths.
"""

from __future__ import annotations

from typing import Protocol

from ..optimizers import Transform

FLOAT_BYTES = 4


class LayerShape(Protocol):
    """The costs of one layer: MACs per op kind and bytes kept and sent."""

    kind: str  # the layer type, e.g. "dense"
    first: bool  # nothing lies below it: its backward sends no delta
    top: bool  # it computes the loss
    param_count: int  # trainable floats
    rows: int  # output units; a lock-free update writes parameters one row (and its bias) at a time
    input_floats: int  # floats of one sample's input (the activation message from below)
    output_floats: int  # floats of one sample's output (the activation message up, or the loss delta kept)
    streamable: bool  # may a per-sample update stream its gradient into the weights (dense: dz x^T)?
    backward_reads_weights: bool  # does B read the weights (the anchored rule keeps the forward's version)?

    def forward_macs(self) -> int: ...

    def backward_macs(self, builds_gradient: bool) -> int: ...

    def input_gradient_macs(self) -> int: ...  # a split backward's B (zb-h1)

    def weight_gradient_macs(self, builds_gradient: bool) -> int: ...  # its W: B + W = backward_macs

    @property
    def stash_bytes(self) -> int: ...

    def describe(self) -> str: ...


def param_bytes(shape: LayerShape) -> int:
    """Bytes of the layer's parameters (and of a gradient or a weights message)."""
    return shape.param_count * FLOAT_BYTES


def optimizer_state_bytes(shape: LayerShape, optimizer: Transform) -> int:
    """Bytes of optimizer state the layer keeps beside its parameters."""
    return shape.param_count * optimizer.state_per_param * FLOAT_BYTES


def update_macs(shape: LayerShape, optimizer: Transform) -> int:
    """U: the optimizer's MACs per parameter times the parameters. A per-sample update
    that streams W += c * dz x^T costs the same one pass as applying a built gradient."""
    return shape.param_count * optimizer.macs_per_param
