"""Weight stashing: old weight versions kept while samples in flight still need them, and running an op on one."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any


class WeightStash:
    """The weight versions a layer's held samples were forwarded with, and copies of the old ones still needed.

    A version is copied only when an update is about to overwrite weights that some held
    sample's backward will read; the copy is dropped when the last such sample has
    back-propagated.
    """

    def __init__(self):
        self.refs: dict[int, int] = {}  # weight version -> held samples forwarded with it
        self.copies: dict[int, Any] = {}  # weight version -> its copy (None in timing-only runs)

    def hold(self, version: int) -> None:
        """A sample was forwarded with `version`."""
        self.refs[version] = self.refs.get(version, 0) + 1

    def needed(self, version: int) -> bool:
        """Do held samples still need `version` (so an update must copy it first)?"""
        return self.refs.get(version, 0) > 0

    def keep(self, version: int, copy: Any) -> None:
        self.copies[version] = copy

    def release(self, version: int) -> bool:
        """A sample forwarded with `version` has back-propagated; True if that dropped a copy."""
        refs = self.refs[version] - 1
        if refs:
            self.refs[version] = refs
            return False
        del self.refs[version]
        if version in self.copies:
            del self.copies[version]
            return True
        return False


@contextmanager
def weights_of(layer, W, b=None):
    """Run the block with `layer`'s weights (and bias, if given) replaced by W (and b): an old version
    or a predicted one, for one op's arithmetic; the layer's own arrays are put back after."""
    current = layer.W, layer.b
    layer.W = W
    if b is not None:
        layer.b = b
    try:
        yield
    finally:
        layer.W, layer.b = current
