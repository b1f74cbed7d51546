"""The arithmetic of one parameter-server shard: apply pushed gradients, count versions, serve reads.

No timing here: `shard.py` decides when each of these happens and charges the cycles.
"""

from __future__ import annotations

import numpy as np

from ..training.optimizers import Transform, UpdateInfo, step


class ParameterStore:
    """One layer's master weights on a parameter-server shard, with their optimizer state and version.

    The version counts the gradients applied. The staleness of a pushed gradient is the
    version when it is applied minus the version the worker's weights had when it computed
    it. With `staleness_aware` the step size is divided by that staleness, staleness 0
    counting as 1 (Zhang et al. 2016).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, bias: bool, optimizer: Transform, staleness_aware: bool):
        self.W, self.b = W, b
        self.params = [W, b] if bias else [W]
        self.optimizer = optimizer
        self.states = [optimizer.init(p) for p in self.params]
        self.staleness_aware = staleness_aware
        self.version = 0
        self.applied = 0  # samples whose gradients have been applied

    def scale(self, staleness: int) -> float:
        """The factor on the learning rate for an update of this staleness."""
        return 1.0 / max(staleness, 1) if self.staleness_aware else 1.0

    def apply(self, grads: list[np.ndarray] | None, mean_over: int, samples: int, base_version: int) -> int:
        """Apply one pushed gradient; return its staleness.

        `grads` (one array per parameter, consumed) is summed over `mean_over` samples and
        stands for `samples` trained samples; None in timing-only runs.
        """
        staleness = self.version - base_version
        if grads is not None:
            info = UpdateInfo(step=self.applied, count=mean_over)
            self.states = step(self.optimizer, self.params, grads, self.states, info, self.scale(staleness))
        self.version += 1
        self.applied += samples
        return staleness

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """A copy of the weights, as a reply message carries them."""
        return self.W.copy(), self.b.copy()


def partial_read(before: tuple[np.ndarray, np.ndarray], after: tuple[np.ndarray, np.ndarray],
                 rows_done: int) -> tuple[np.ndarray, np.ndarray]:
    """What a lock-free read sees in the middle of an update that writes W row by row:
    output rows [0, rows_done) (and their biases) already updated, the rest not yet."""
    W, b = before[0].copy(), before[1].copy()
    W[:rows_done] = after[0][:rows_done]
    b[:rows_done] = after[1][:rows_done]
    return W, b


def rows_written(n_rows: int, start: int, end: int, now: int) -> int:
    """Rows an update that writes n_rows rows at an even rate over cycles [start, end) has written by `now`."""
    if end <= start or now >= end:
        return n_rows
    return max(0, (now - start) * n_rows // (end - start))
