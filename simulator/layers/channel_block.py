"""One PE's share of a convolutional layer on a region of R x 1 PEs: some of its filters, over the whole input.

A convolution (or a convolution with its pooling, `group`) splits by output channels: the
PE at (r, 0) holds filters [f0, f1) (and their biases, or normalization's beta and g),
reads the whole input map, and computes channels [f0, f1) of the output, which are one
contiguous piece of the flat (channels, rows, columns) output. Its B computes those
channels' dz and the input gradient through its own filters, a partial dL/dx that the
column's end adds up over r (op A), and keeps its filters' gradient. A pooling layer, which
has no weights, takes a 1 x 1 region. `ChannelShape` is what the share costs; `WholeBlock`
runs any layer (its arithmetic class on the share's shape) as such a block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .block import Block



@dataclass(frozen=True)
class ChannelShape:
    """Block r of a layer on an R x 1 region: `inner` is the layer's shape cut to the block's output channels."""

    inner: object  # a ConvShape, ConvPoolShape or PoolShape, with the block's filters
    column_end: bool  # r = R-1: ends the column's sum of partial dL/dx
    column_blocks: int  # R
    column_children: int = 0  # blocks of its column whose partial input gradients it adds (`reduction`)
    row_end = True  # each block has its whole row: its F gives its output channels, phi and all
    row_start = True
    row_children = 0
    row_blocks = 1
    streamable = False

    def __getattr__(self, name: str):
        """Everything else (kind, first, top, bias, param_count, the MACs of F, B and U, ...) is the inner shape's."""
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def n_in(self) -> int:
        return self.inner.input_floats

    @property
    def n_out(self) -> int:
        return self.inner.output_floats

    def row_sum_macs(self) -> int:
        return 0

    @property
    def column_start(self) -> bool:
        """It adds nothing on its column: its B's partial input gradient goes straight on."""
        return self.column_children == 0

    def column_sum_macs(self) -> int:
        """A on the column's tree: its children's subtotals of partial input gradients added to its own
        (0 where it has none, and on layer 1)."""
        return 0 if self.first else self.column_children * self.n_in

    def describe(self) -> str:
        return f"channels of {self.inner.describe()}"


class WholeBlock:
    """A layer (conv, conv and pool, or pool) run as a block whose row is itself: the methods a
    BlockProgram calls, on the layer's own F and split B; everything else is the layer's."""

    def __init__(self, shape: ChannelShape, layer):
        self.shape, self.layer = shape, layer

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "layer":
            raise AttributeError(name)
        return getattr(self.layer, name)

    def partial(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward(x)

    loss = staticmethod(Block.loss)  # the top layer's softmax cross-entropy, as a dense block's

    @staticmethod
    def dz(h: np.ndarray, e: np.ndarray) -> tuple:
        """The layer's B works from its output and the arriving delta together: both, for `backward`."""
        return h, e

    def backward(self, x: np.ndarray, dz, weights) -> np.ndarray | None:
        """The layer's input gradient through its (or a stashed version's) filters, and its weight gradient kept."""
        out, e = dz if isinstance(dz, tuple) else (dz, None)  # the top layer kept dL/dz from its loss
        grad, delta = self.layer.backward_input(x, out, e, weights)
        self.layer.backward_weight(x, grad)
        return delta

    column_sum = staticmethod(Block.column_sum)  # the column's partial input gradients, added in the order r
