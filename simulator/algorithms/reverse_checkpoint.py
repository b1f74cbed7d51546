"""Reverse checkpointing for CP (paper Fig. 1d, section 4): checkpoint layers keep their inputs, the rest recompute.

The checkpoints c_1 = 1 < c_2 < ... cut the network into segments [c_i, c_(i+1) - 1]. A
checkpoint layer keeps each held sample's input x from its forward to its backward, and
forgets its output; the other layers of its segment keep nothing. Before the backward
reaches a segment, its checkpoint runs the forward again (op C, a forward's cycles) and
sends the output up (message r); each layer above it in the segment recomputes its own
output from it and passes it on, so the recompute wave climbs the segment just ahead of
the deltas coming down (the wedges of Fig. 1d). The backward then uses the recomputed
activations.

When: the checkpoint c of a segment ending at layer e recomputes sample s once it has
forwarded sample s + lag, lag = max(0, 2(D-e) - 1): with uniform ops the wave then reaches
layer e one step before the delta of s does. It holds at most cap = W_c - lag recomputed
samples (W_c = 2(D-c)+1 + slack, its window), and so does every layer of its segment
(each such sample is one the checkpoint recomputed and has not yet back-propagated).

With which weights (`weights`): `stashed`, the ones the sample's forward used, kept until
the recompute (and, anchored, the backward) has read them: the recomputed activations are
bitwise the originals, so training is plain CP's whenever the forwards read the same
versions (they do on uniform ops). `immediate`, the layer's current weights: the paper's
"interesting choice", which brings the weights of the forward and the backward closer
together and gives different numbers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..schema import Strict


class ReverseCheckpoint(Strict):
    """`training.reverse_checkpoint`: which layers keep their inputs, and the weights the recompute reads."""

    every: int | None = Field(default=None, ge=1, description="checkpoint layers 1, 1+c, 1+2c, ... (give this "
                                                              "or layers)")
    layers: list[int] | None = Field(default=None, min_length=1, description="the checkpoint layers, ascending, "
                                                                             "1 first (give this or every)")
    weights: Literal["stashed", "immediate"] = Field(
        default="stashed", description="the recompute reads the forward's weights (stashed: bitwise plain CP) or "
                                       "the current ones (immediate)")

    @model_validator(mode="after")
    def _one_rule(self):
        if (self.every is None) == (self.layers is None):
            raise ValueError("give exactly one of every (checkpoint every c-th layer) and layers (a list, 1 first)")
        if self.layers is not None:
            if self.layers[0] != 1 or any(b <= a for a, b in zip(self.layers, self.layers[1:])):
                raise ValueError(f"layers is {self.layers}: list the checkpoint layers in ascending order, "
                                 "starting with 1 (layer 1 keeps the samples it is fed)")
        return self

    def checkpoints(self, n_layers: int) -> list[int]:
        """The checkpoint layers of a network of `n_layers` layers."""
        return list(range(1, n_layers + 1, self.every)) if self.every is not None else list(self.layers)


def check(options, n_layers: int) -> str | None:
    """Why `training.reverse_checkpoint` does not fit a network of `n_layers` layers, or None."""
    rc = options.reverse_checkpoint
    if rc is not None and rc.layers is not None and rc.layers[-1] > n_layers:
        return (f"training.reverse_checkpoint.layers: {rc.layers} go beyond the network's {n_layers} layers: "
                f"list layers 1..{n_layers}")
    return None
