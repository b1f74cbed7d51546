"""The arithmetic of a pipelined run, replayed op by op in the order the timing pass found.

The event engine does each op's arithmetic when the op starts; the timing pass lists the
ops in exactly that order, so doing the same arithmetic in list order on the same layer
objects gives the same floats: this module is the reference replay, for any layer type and
optimizer. `fused.py` does the same in one compiled loop for the common cases.

Buffers follow the event engine's lifetimes: layer k keeps its output h (the top layer:
dL/dz) from its F of sample s to its B of s; the delta for s waits at layer k from the B
of layer k+1 to the B of layer k; stashed weight copies (anchored rule) are made by a U
that overwrites weights held samples still need, oldest first, and dropped by the B of
the last such sample.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..algorithms.pipeline import Losses
from .pipeline_pass import AUX_KEEP, AUX_RELEASE, AUX_STASHED, COUNT_SHIFT
from .timing import Timeline


class NonFinite(Exception):
    """The loss of the op at `index` (a top layer's F) is not finite."""

    def __init__(self, index: int, sample: int, loss: float):
        super().__init__(f"the loss of sample {sample} is {loss}")
        self.index, self.sample, self.loss = index, sample, loss


class Replay:
    """The state between ops of a replay on the layers' own objects (`layers.Dense`): held outputs, deltas, stashes."""

    def __init__(self, layers: list, X: np.ndarray, y: np.ndarray, order: np.ndarray, losses: Losses):
        self.layers, self.X, self.y, self.order, self.losses = layers, X, y, order, losses
        D = len(layers)
        self.outputs: list[dict] = [{} for _ in range(D)]  # sample -> h (top layer: dL/dz)
        self.deltas: list[dict] = [{} for _ in range(D)]  # sample -> dL/dh waiting for layer k's B
        self.stashes: list[deque] = [deque() for _ in range(D)]  # copies of old weights, oldest first
        self.applied = [0] * D  # samples applied per layer

    def run(self, tl: Timeline, start: int, stop: int) -> None:
        """Do ops start..stop-1 of the timeline; raise NonFinite at a non-finite loss (that op not done)."""
        layers, outputs, deltas = self.layers, self.outputs, self.deltas
        top = len(layers) - 1
        for i in range(start, stop):
            k, kind, s, aux = int(tl.op_layer[i]), int(tl.op_kind[i]), int(tl.op_tag[i]), int(tl.op_aux[i])
            layer = layers[k]
            if kind == 0:  # F
                x = self.X[self.order[s]] if k == 0 else outputs[k - 1][s]
                if k == top:
                    h, loss = layer.forward_loss(x, int(self.y[self.order[s]]))
                    if not math.isfinite(loss):
                        raise NonFinite(i, s, loss)
                    self.losses.add(s, loss)
                else:
                    h = layer.forward(x)
                outputs[k][s] = h
            elif kind == 1:  # B
                x = self.X[self.order[s]] if k == 0 else outputs[k - 1][s]
                stashed = self.stashes[k][0] if aux & AUX_STASHED else None
                out = layer.backward(x, outputs[k].pop(s), deltas[k].pop(s, None), stashed)
                if aux & AUX_RELEASE:
                    self.stashes[k].popleft()
                if k > 0:
                    deltas[k - 1][s] = out
            else:  # U
                if aux & AUX_KEEP:
                    self.stashes[k].append(layer.stash())
                count = aux >> COUNT_SHIFT
                layer.update(self.applied[k], count)
                self.applied[k] += count
