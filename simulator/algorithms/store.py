"""The arithmetic of one parameter-server shard: apply pushed gradients, count versions, serve reads.

No timing here: `shard.py` decides when each of these happens and charges the cycles.
"""

from __future__ import annotations

from ..optimizers import UpdateInfo


class ParameterStore:
    """One layer's master weights on a parameter-server shard (a layer object with its optimizer) and their version.

    The version counts the gradients applied. The staleness of a pushed gradient is the
    version when it is applied minus the version the worker's weights had when it computed
    it. With `staleness_aware` the step size is divided by that staleness, staleness 0
    counting as 1 (Zhang et al. 2016).
    """

    def __init__(self, layer, staleness_aware: bool):
        self.layer = layer
        self.staleness_aware = staleness_aware
        self.version = 0
        self.applied = 0  # samples whose gradients have been applied

    def scale(self, staleness: int) -> float:
        """The factor on the learning rate for an update of this staleness."""
        return 1.0 / max(staleness, 1) if self.staleness_aware else 1.0

    def apply(self, grads, mean_over: int, samples: int, base_version: int) -> int:
        """Apply one pushed gradient; return its staleness.

        `grads` (one array per parameter, consumed) is summed over `mean_over` samples and
        stands for `samples` trained samples; None in timing-only runs.
        """
        staleness = self.version - base_version
        self.layer.apply_gradient(grads, UpdateInfo(samples=self.applied, count=mean_over), self.scale(staleness))
        self.version += 1
        self.applied += samples
        return staleness

    def read(self):
        """A copy of the weights, as a reply message carries them."""
        return self.layer.read()


def rows_written(n_rows: int, start: int, end: int, now: int) -> int:
    """Rows an update that writes n_rows rows at an even rate over cycles [start, end) has written by `now`."""
    if end <= start or now >= end:
        return n_rows
    return max(0, (now - start) * n_rows // (end - start))
