"""Plain SGD, the reference: one sample goes all the way forward and back before the next enters."""

from __future__ import annotations

from .base import Schedule


class SGD(Schedule):
    """SGD: only one sample is ever in the network, so one PE is busy at a time.

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
