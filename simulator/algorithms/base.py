"""What distinguishes one layer-pipelined algorithm from another: windows, gates and update groups."""

from __future__ import annotations


class Schedule:
    """The rules of a layer-pipelined training algorithm, as three questions a layer asks.

    Layers are numbered k = 1..D from the input and samples s = 0, 1, ... in the order
    they enter. Everything else (priorities, arithmetic, messages) is shared by all
    algorithms and lives in `pipeline.py`.
    """

    name = "schedule"
    anchored = False  # does the backward use the weights of its own forward (weight stashing)?
    sums_gradients = False  # are gradients summed in a buffer over several samples before an update?

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
