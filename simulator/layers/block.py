"""One PE's block of a dense layer spread over a region of R x C PEs: W[rows_r, cols_c] and its share of the work.

A dense layer h = phi(W x + b) on a region splits W's output rows into R blocks and its
input columns into C blocks; the PE at (r, c) holds W_rc = W[rows_r, cols_c] (contiguous,
its own array) and, in column 0, the biases b[rows_r]. Per sample, its F is the partial
product p_rc = W_rc x_c (+ b_r in column 0); the row adds its partials along a reduction
tree (`reduction`): a block with children adds their subtotals and its own partial (op A)
and passes the sum on, and the row's end (c = C-1) applies phi. In B the row's end computes
dz_r = dL/dh_r * phi'(h_r) (the top layer kept it from the loss) and every block of the
row receives it, keeps its gradient dz_r x_c^T and computes q_rc = W_rc^T dz_r; the
column adds its q along its tree likewise (op A again), which at the column's end
(r = R-1) is dL/dx over cols_c. So a 1 x 1 region runs exactly `Dense`'s kernels on the whole
matrix, and a split one sums the same products in another order (float32 rounding).
`BlockShape` is what a block costs; `Block` its arrays and arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wafersim_kernels import (ACTIVATIONS, IDENTITY, accumulate_gradient, activation_backward, delta_to_input,
                              dense_forward, softmax_cross_entropy)
from wafersim_kernels.activations import activate_in_place

from ..optimizers import Transform
from .dense import MatrixCounts
from .params import ParamLayer

_F32 = np.float32


@dataclass(frozen=True)
class BlockShape(MatrixCounts):
    """Block (r, c) of a dense layer's R x C region: n_out rows and n_in columns of W, its MACs and bytes
    (those of its matrix W_rc, `MatrixCounts`, with its F the partial product W_rc x_c)."""

    n_in: int  # columns of the block: its piece of the layer's input
    n_out: int  # rows of the block: its piece of the layer's output
    bias: bool  # column 0 holds its rows' biases
    activation: str
    first: bool  # the layer is layer 1: no dL/dx
    top: bool  # the layer computes the loss
    row_end: bool  # c = C-1: ends the row's sum, applies phi, computes dz
    column_end: bool  # r = R-1: ends the column's sum and sends dL/dx
    row_blocks: int  # C: the blocks of its row
    column_blocks: int  # R: the blocks of its column
    row_children: int = 0  # blocks of its row whose subtotals it adds (`reduction.children`)
    column_children: int = 0  # blocks of its column whose partial-delta subtotals it adds
    kind: str = "dense"
    streamable = True  # its per-sample gradient is the rank-one dz_r x_c^T

    @property
    def row_start(self) -> bool:
        """It adds nothing on its row: its F's partial goes straight on (a leaf, or a one-block row)."""
        return self.row_children == 0

    @property
    def column_start(self) -> bool:
        """It adds nothing on its column: its B's partial delta goes straight on."""
        return self.column_children == 0

    def row_sum_macs(self) -> int:
        """A on the row's tree: its children's subtotals added to its own partial, n_out MACs each (at the
        row's end phi rides along, as in a dense F); 0 where the block adds nothing."""
        return self.row_children * self.n_out

    def column_sum_macs(self) -> int:
        """A on the column's tree: its children's subtotals of partial deltas added to its own; 0 where the
        block adds nothing (a leaf, a one-block column, or layer 1, which sends no delta)."""
        return 0 if self.first else self.column_children * self.n_in

    def input_gradient_macs(self) -> int:
        """dz_r at the row's end (n_out), and W_rc^T dz_r above layer 1."""
        return (self.n_out if self.row_end else 0) + (0 if self.first else self.n_in * self.n_out)

    def describe(self) -> str:
        return f"block {self.n_in}->{self.n_out}"


class Block(ParamLayer):
    """A dense layer's block on one PE of its region: W_rc (and b_r in column 0) with their optimizer and gradient."""

    def __init__(self, shape: BlockShape, W: np.ndarray, b: np.ndarray, optimizer: Transform,
                 builds_gradient: bool, flat_gradient: bool = False):
        super().__init__(shape, W, b, optimizer, builds_gradient, flat_gradient)
        self.act = IDENTITY if shape.top else ACTIVATIONS[shape.activation]
        self.alone = shape.row_blocks == 1  # the whole row on this PE: F is the dense F, phi and all
        self._zeros = np.zeros(shape.n_out, _F32)  # the bias of a block without one

    def partial(self, x: np.ndarray) -> np.ndarray:
        """F: W_rc x_c (+ b_r in column 0); on a one-block row the whole h_r = phi(W x + b), as `Dense`."""
        p = np.empty(self.shape.n_out, _F32)
        dense_forward(self.W, self.b if self.shape.bias else self._zeros, x, p, self.act if self.alone else IDENTITY)
        return p

    def row_sum(self, partials: list[np.ndarray]) -> np.ndarray:
        """A on the row's tree: [its children's subtotals in `reduction` order, its own partial] added
        (`column_sum`), and at the row's end phi (not on the top layer)."""
        acc = self.column_sum(partials)
        if self.shape.row_end and not self.shape.top:
            activate_in_place(acc, self.act)
        return acc

    @staticmethod
    def loss(z: np.ndarray, label: int) -> tuple[np.ndarray, float]:
        """The top layer's row end (its region has one row): (dL/dz, L) of softmax cross-entropy on the logits z."""
        dz = np.empty_like(z)
        return dz, float(softmax_cross_entropy(z, label, dz))

    def dz(self, h: np.ndarray, e: np.ndarray) -> np.ndarray:
        """dz_r = e_r * phi'(h_r), at a hidden layer's row end."""
        dz = np.empty(self.shape.n_out, _F32)
        activation_backward(h, e, dz, self.act)
        return dz

    def backward(self, x: np.ndarray, dz: np.ndarray, weights: np.ndarray | None) -> np.ndarray | None:
        """Keep the gradient dz_r x_c^T (summed, or its factors to stream) and return q_rc = W_rc^T dz_r
        through `weights` (a stashed version) or the current W_rc; None on layer 1."""
        if self.streams:
            self.factors = (dz, x)
        else:
            accumulate_gradient(self.grad_W, self.grad_b, dz, x)
        if self.shape.first:
            return None
        q = np.empty(self.shape.n_in, _F32)
        delta_to_input(self.W if weights is None else weights, dz, q)
        return q

    @staticmethod
    def column_sum(partials: list[np.ndarray]) -> np.ndarray:
        """The parts added in their order: on the column's tree [its children's subtotals, its own partial
        delta]; at the column's end that is dL/dx_c."""
        acc = partials[0].copy()
        for q in partials[1:]:
            acc += q
        return acc


class RegionArrays:
    """A region's blocks seen as one layer's arrays: the run's full W and b, gathered from the blocks when read."""

    def __init__(self, W: np.ndarray, b: np.ndarray, spans: dict, layers: dict):
        self.W, self.b = W, b  # the run's own arrays (evaluated and saved)
        self.spans = spans  # block key -> (index of W, index of b or None): the parts it holds
        self.layers = layers  # block key -> its layer (Block, WholeBlock, or the Timing twin)

    @classmethod
    def split(cls, W: np.ndarray, b: np.ndarray, spans: dict, make) -> "RegionArrays":
        """Cut W and b into blocks: make(key, W_block, b_block) builds each block's layer from contiguous
        copies of its parts (a dense block off column 0 gets zeros: it adds no bias)."""
        layers = {}
        for key, (w_index, b_index) in spans.items():
            part = np.ascontiguousarray(W[w_index])
            bias = b[b_index].copy() if b_index is not None else np.zeros(part.shape[0], b.dtype)
            layers[key] = make(key, part, bias)
        return cls(W, b, spans, layers)

    def gather(self) -> None:
        """Write every block's weights (and biases) into the full arrays."""
        for key, (w_index, b_index) in self.spans.items():
            block = self.layers[key]
            if not block.params:
                return  # a timing-only run, or a pooling layer: nothing to gather
            self.W[w_index] = block.W
            if b_index is not None:
                self.b[b_index] = block.b

    def optimizer_arrays(self) -> dict[str, np.ndarray]:
        """The blocks' optimizer state as full-size arrays (named as a layer's: .../W, .../b)."""
        out: dict[str, np.ndarray] = {}
        for key, (w_index, b_index) in self.spans.items():
            for name, array in self.layers[key].optimizer_arrays().items():
                if name.endswith("/W"):
                    out.setdefault(name, np.zeros(self.W.shape, array.dtype))[w_index] = array
                elif name.endswith("/b") and b_index is not None:
                    out.setdefault(name, np.zeros(self.b.shape, array.dtype))[b_index] = array
                elif not name.endswith("/b"):
                    out.setdefault(name, array)  # a scalar state (a step count): the same on every block
        return out
