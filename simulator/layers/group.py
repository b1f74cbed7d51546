"""A convolution and the pooling above it on one PE (`model.grouping: conv_pool`): h = pool(conv(x)).

`ConvPoolShape` is what the pair is and costs as one pipeline layer; `ConvPool` is the
convolution's arrays and arithmetic (`conv.Conv2D`) with the pooling's F and B after it.
The PE keeps, per sample in flight, what every PE keeps: its input x and its output (the
pooled map). It does not keep the convolution's map between them: its B computes that map
again from x before routing the delta back through the pooling, as reverse checkpointing
does (CP paper, section 4.2). So the recompute follows the delta rule: under the anchored
rule (and PipeDream's stashing) it reads the filters and biases the forward read, which the
stash keeps, W and b; under the immediate rule the current ones ("admit immediate network
weights for recomputed activations"). Where the weights do not change between a sample's
F and B (SGD, MBGD, GPipe, 1F1B) a grouped network trains bitwise as the ungrouped one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..optimizers import Transform
from .conv import Conv2D, ConvShape, conv_forward
from .pool import Pool, PoolShape, pool_forward
from .shape import FLOAT_BYTES


@dataclass(frozen=True)
class ConvPoolShape:
    """A convolution and its pooling as one PE's layer: the pair's MACs per op and the bytes it keeps and sends."""

    conv: ConvShape
    pool: PoolShape
    kind: str = "conv+pool"
    streamable = False
    backward_reads_weights = True  # its B recomputes the convolution, on layer 1 too

    @property
    def first(self) -> bool:
        return self.conv.first

    @property
    def top(self) -> bool:
        return self.pool.top

    @property
    def bias(self) -> bool:
        return self.conv.bias

    @property
    def norm(self) -> bool:
        return self.conv.norm

    @property
    def param_count(self) -> int:
        return self.conv.param_count

    @property
    def rows(self) -> int:
        return self.conv.rows

    @property
    def input_floats(self) -> int:
        return self.conv.input_floats

    @property
    def output_floats(self) -> int:
        return self.pool.output_floats

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.pool.out_shape

    def forward_macs(self) -> int:
        """F: the convolution's, then the pooling's."""
        return self.conv.forward_macs() + self.pool.forward_macs()

    def input_gradient_macs(self) -> int:
        """B without dL/dW: the convolution's F again (its map), the pooling's B, the convolution's B."""
        return self.conv.forward_macs() + self.pool.input_gradient_macs() + self.conv.input_gradient_macs()

    def weight_gradient_macs(self, builds_gradient: bool) -> int:
        return self.conv.weight_gradient_macs(builds_gradient)

    def backward_macs(self, builds_gradient: bool) -> int:
        return self.input_gradient_macs() + self.weight_gradient_macs(builds_gradient)

    @property
    def stash_bytes(self) -> int:
        """One stashed version, W and b: the recomputed map reads both (on layer 1 as well)."""
        return self.conv.param_count * FLOAT_BYTES

    def describe(self) -> str:
        return f"{self.conv.describe()} + {self.pool.describe()}"

    def initial(self, rng: np.random.Generator, scheme: str) -> tuple[np.ndarray, np.ndarray]:
        """The convolution's initial W and b (the pooling draws nothing, so grouping changes no weight)."""
        return self.conv.initial(rng, scheme)

    def forward_batch(self, W: np.ndarray, b: np.ndarray, H: np.ndarray) -> np.ndarray:
        """The forward of every row of H, for evaluation."""
        return self.pool.forward_batch(W, b, self.conv.forward_batch(W, b, H))


class ConvPool(Conv2D):
    """A convolution's arrays and arithmetic (`Conv2D`) with its pooling after it, on one PE."""

    def __init__(self, shape: ConvPoolShape, W: np.ndarray, b: np.ndarray, optimizer: Transform,
                 builds_gradient: bool = True, flat_gradient: bool = False):
        super().__init__(shape.conv, W, b, optimizer, builds_gradient, flat_gradient)
        self.shape = shape
        self.pooling = Pool(shape.pool, optimizer)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """pool(conv(x)), flat."""
        return pool_forward(self.shape.pool, conv_forward(self.conv, self.W, self.b, x))

    def stash(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of W and b: a backward recomputes the convolution's map with the forward's version."""
        return self.W.copy(), self.b.copy()

    def backward_input(self, x: np.ndarray, out: np.ndarray, e: np.ndarray | None,
                       weights) -> tuple[np.ndarray, np.ndarray | None]:
        """(dz, dL/dx): the convolution's map again from x, on `weights` ((W, b) a stash kept, or W
        alone) or the current arrays; the delta through the pooling; then the convolution's B."""
        current = self.W, self.b
        if weights is not None:
            self.W, self.b = weights if isinstance(weights, tuple) else (weights, self.b)
        try:
            conv_map = conv_forward(self.conv, self.W, self.b, x)
            map_delta = self.pooling.backward_input(conv_map, out, e)[1]
            return super().backward_input(x, conv_map, map_delta, None)
        finally:
            self.W, self.b = current
