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

from ..algorithms.allreduce import REDUCE, chunk_taken
from ..algorithms.pipeline import Losses
from .pipeline_pass import AUX_KEEP, AUX_RELEASE, AUX_STASHED, COUNT_SHIFT
from .timing import Timeline


class NonFinite(Exception):
    """The loss of the op at `index` (a top layer's F) is not finite."""

    def __init__(self, index: int, sample: int, loss: float):
        super().__init__(f"the loss of sample {sample} is {loss}")
        self.index, self.sample, self.loss = index, sample, loss


class Replay:
    """The state between ops of a replay on the layers' own objects (`layers.Dense`): held outputs, deltas, stashes.

    `layers[w * D + k]` is layer k of worker w (`depth` D; one worker for a pipeline).
    Under all-reduce each layer's ring is replayed as the event engine sums it: an R op
    adds the previous worker's copy of the chunk (which that worker leaves alone until
    the sum is complete) into the layer's own; the R that completes a chunk's sum keeps
    it in `finals[k]`, and every worker's U applies `finals[k]`, which is what its gather
    leaves in its gradient.
    """

    def __init__(self, layers: list, X: np.ndarray, y: np.ndarray, order: np.ndarray, losses: Losses,
                 depth: int | None = None, chunks: list[list[slice]] | None = None):
        self.layers, self.X, self.y, self.order, self.losses = layers, X, y, order, losses
        P = len(layers)
        self.depth = depth or P
        self.chunks = chunks  # per layer: the ring's chunks of the flat gradient
        self.workers = P // self.depth
        self.outputs: list[dict] = [{} for _ in range(P)]  # sample -> h (top layer: dL/dz)
        self.deltas: list[dict] = [{} for _ in range(P)]  # sample -> dL/dh waiting for layer k's B
        self.stashes: list[deque] = [deque() for _ in range(P)]  # copies of old weights, oldest first
        self.applied = [0] * P  # samples applied per layer
        self.finals = ([np.zeros(layer.flat.size, np.float32) for layer in layers[: self.depth]]
                       if self.workers > 1 else [])

    def run(self, tl: Timeline, start: int, stop: int) -> None:
        """Do ops start..stop-1 of the timeline; raise NonFinite at a non-finite loss (that op not done)."""
        layers, outputs, deltas = self.layers, self.outputs, self.deltas
        D, N = self.depth, self.workers
        top = D - 1
        for i in range(start, stop):
            p, kind, s, aux = int(tl.op_layer[i]), int(tl.op_kind[i]), int(tl.op_tag[i]), int(tl.op_aux[i])
            k = p % D
            layer = layers[p]
            if kind == 0:  # F
                x = self.X[self.order[s]] if k == 0 else outputs[p - 1][s]
                if k == top:
                    h, loss = layer.forward_loss(x, int(self.y[self.order[s]]))
                    if not math.isfinite(loss):
                        raise NonFinite(i, s, loss)
                    self.losses.add(s, loss)
                else:
                    h = layer.forward(x)
                outputs[p][s] = h
            elif kind == 1:  # B
                x = self.X[self.order[s]] if k == 0 else outputs[p - 1][s]
                stashed = self.stashes[p][0] if aux & AUX_STASHED else None
                out = layer.backward(x, outputs[p].pop(s), deltas[p].pop(s, None), stashed)
                if aux & AUX_RELEASE:
                    self.stashes[p].popleft()
                if k > 0:
                    deltas[p - 1][s] = out
            elif kind == 2:  # U
                if aux & AUX_KEEP:
                    self.stashes[p].append(layer.stash())
                if N > 1:
                    layer.set_chunk(slice(None), self.finals[k])
                count = aux >> COUNT_SHIFT
                layer.update(self.applied[p], count)
                self.applied[p] += count
            else:  # R at ring step `aux`: worker w adds chunk (w-1-step) mod N from worker w-1
                step = aux
                part = self.chunks[k][chunk_taken(p // D, REDUCE, step, N)]
                layer.add_chunk(part, layers[(p - D) % len(layers)].chunk(part))
                if step == N - 2:  # the chunk's sum is complete
                    self.finals[k][part] = layer.chunk(part)
