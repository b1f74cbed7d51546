"""Plain SGD, the reference: one sample goes all the way forward and back before the next enters."""

from __future__ import annotations

from .base import NoOptions, Schedule, TimingRules
from .registry import PIPELINE, Algorithm


class SGD(Schedule):
    """SGD: only one sample is ever in the network, so one PE computes at a time.

    (A layer's update U overlaps the backward of the layer below, which does not need
    it; no forward or backward ever overlaps another.)

    Layer k may forward sample s only once it has applied the update of sample s-1;
    since layer 1 updates last, sample s enters when every layer holds the exact
    weights after s updates.
    """

    name = "sgd"

    def window(self, layer: int) -> int:
        return 1

    def may_forward(self, sample: int, version: int) -> bool:
        return sample <= version

    def ends_group(self, sample: int) -> bool:
        return True

    def timing_rules(self) -> TimingRules:
        return TimingRules(gate_batch=1, group_batch=0)


ALGORITHM = Algorithm(
    name="sgd", summary="plain SGD, one sample in the network at a time (the reference)", options=NoOptions,
    family=PIPELINE, schedule=lambda options, n_layers, n_samples: SGD(n_layers, n_samples))
