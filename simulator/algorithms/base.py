"""What distinguishes one layer-pipelined algorithm from another: windows, gates, update groups and op priority."""

from __future__ import annotations

from pydantic import Field

from ..schema import Strict

DEFAULT_PRIORITY = ("U", "F", "B")


class Schedule:
    """The rules of a layer-pipelined training algorithm, as the questions a layer asks.

    Layers are numbered k = 1..D from the input and samples s = 0, 1, ... in the order
    they enter. The arithmetic, messages and SRAM ledger are shared by all algorithms and
    live in `pipeline.py`.
    """

    name = "schedule"
    anchored = False  # does the backward use the weights of its own forward (weight stashing)?
    sums_gradients = False  # are gradients summed in a buffer over several samples before an update?
    # The order in which a free PE looks for work: a pending update (U) first, so it lands
    # before anything else reads the weights; then a forward (F); then a backward (B).
    priority: tuple[str, ...] = DEFAULT_PRIORITY

    def __init__(self, n_layers: int, n_samples: int):
        self.n_layers = n_layers
        self.n_samples = n_samples

    def window(self, layer: int) -> int:
        """The most samples layer k may hold forwarded but not yet back-propagated."""
        raise NotImplementedError

    def may_forward(self, sample: int, version: int) -> bool:
        """May a layer that has applied `version` updates run the forward of `sample`?"""
        raise NotImplementedError

    def ends_group(self, sample: int) -> bool:
        """Does the backward of `sample` complete a gradient that the layer must now apply?"""
        raise NotImplementedError


class NoOptions(Strict):
    """An algorithm with no keys of its own."""


class Batched(Strict):
    """Algorithms that train on minibatches."""

    batch_size: int = Field(default=1, ge=1, description="samples per minibatch (per worker for data parallelism)")
