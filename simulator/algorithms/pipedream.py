"""PipeDream (Narayanan et al. 2019) and PipeDream-2BW (Narayanan et al. 2021): asynchronous 1F1B.

Every micro-batch (one sample) updates the stage's weights as soon as its backward is done,
with no flush, so stages never idle once the pipeline is full. Stage k (1..K) holds at
most K-k+1 samples between their forward and their backward and prefers a backward to a
forward; its backward uses the weights its own forward used (weight stashing, the
anchored rule), so it keeps up to K-k+1 weight versions. With uniform ops each update of
stage k is K-k versions stale once the pipeline is full.

PipeDream-2BW instead sums the gradients of M micro-batches into one update and double-
buffers the weights: mini-batch t's micro-batches all read the weights after t-1 updates,
W(t+1) = W(t) - lr mean grad(W(t-1)), whatever the timing, and a stage never keeps more
than two versions.

Vertical sync (PipeDream, section 3.3; `vertical_sync: true`): stage 1 tags sample s with
its version v_s (its updates applied) when it forwards s, and every stage forwards and
back-propagates s on its own weights after v_s updates, then applies that gradient to its
current weights: W_k <- W_k - lr grad_k(W(v_s)), one network version per sample. A stage
is never behind stage 1, so the version it needs is its current one or an older one it
kept: those a held sample carries, and every one from the last tag it forwarded on (tags
never decrease, so no later sample needs an older one). Stage 1 keeps none: it forwards
on its current weights and its backward reads no weights. Stage 1 holds at most K, so
s-(K-1) <= v_s <= s on any timing, and every stage's update of s is s - v_s stale.

With uniform ops v_s = max(0, s-(K-1)): the step model `stale_reference` with delay K-1 at
every stage; each stage's staleness is 0, 1, ..., K-2 once each, then K-1; stage k holds
K-k+1 samples, and keeps at most 1 weight version at k = 1, K at 1 < k < K (its held
samples carry K-k+1 consecutive tags, and the k-1 versions after the last of them up to
its current weights may be read by samples to come), K+1 at the top (it holds nothing
when it updates, so the last tag stays for the next sample). The bound: K copies of W and
b at every stage above the first (see `PipeDream.stash_bytes`).
"""

from __future__ import annotations

from pydantic import Field

from ..layers import FLOAT_BYTES, param_bytes
from ..records import Op
from ..schema import Strict
from .base import Schedule
from .gpipe import MicroBatched
from .pipeline import LayerProgram
from .registry import PIPELINE, Algorithm
from .stash import weights_of

TAG_BYTES = 4  # a weight version, as a 32-bit integer beside the activation


class PipeDreamOptions(Strict):
    """PipeDream's key: whether every stage runs a sample on the weight version stage 1 had."""

    vertical_sync: bool = Field(default=False, description="pipedream: every stage forwards and back-propagates a "
                                                            "sample on the weight version stage 1 had when it took "
                                                            "the sample in (vertical sync)")


class PipeDream(Schedule):
    """PipeDream: 1F1B order, an update per sample, the backward on the forward's stashed weights
    (vertical sync: every stage's forward and backward on the version stage 1 forwarded with)."""

    name = "pipedream"
    anchored = True
    priority = ("U", "B", "F")

    def __init__(self, n_layers: int, n_samples: int, vertical_sync: bool = False):
        super().__init__(n_layers, n_samples)
        self.vertical_sync = vertical_sync
        # Vertical sync: sample -> the version stage 1 forwarded it with, until the top forwards it.
        # The tag travels in the activation message, whose TAG_BYTES more are charged on the
        # links; the stages read its value here rather than from the payload, and its 4 bytes
        # per held sample are left out of the SRAM ledger (beside an input of n_in floats).
        self.tags: dict[int, int] = {}

    def window(self, layer: int) -> int:
        return self.n_layers - layer + 1

    def may_forward(self, sample: int, version: int) -> bool:
        return True

    def ends_group(self, sample: int) -> bool:
        return True

    def stash_bytes(self, layer: int, shape) -> int:
        """The old versions' SRAM: with vertical sync, K copies of W and b above stage 1 (the
        forward reads b too). A stage's version is at most its oldest held sample's id i, whose
        tag is at least i-(K-1), so it keeps K-1 copies while it holds a sample; holding none
        after sample j's update, it is at j+1 and keeps the last tag, at least j-(K-1): K."""
        if not self.vertical_sync:
            return super().stash_bytes(layer, shape)
        return self.n_layers * param_bytes(shape) if shape.backward_reads_weights else 0


class VerticalSyncProgram(LayerProgram):
    """A PipeDream stage under vertical sync: it runs each sample's forward and backward on the
    version stage 1 tagged it with, and keeps a copy of every version a held or future sample
    may carry."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        self.arithmetic = not scenario.timing_only
        self.anchored = False  # the versions are kept below, W and b, for the forward as well as the backward
        self.keeps = self.shape.backward_reads_weights  # stage 1 forwards on its current weights; its B reads none
        self.copy_bytes = param_bytes(self.shape) if self.keeps else 0
        self.copies: dict[int, tuple | None] = {}  # version -> (W, b) (None in timing-only runs)
        self.held_tags: dict[int, int] = {}  # version -> held samples tagged with it
        self.last_tag = 0  # the tag of the last sample forwarded: no later sample carries an older one
        self.forwarded = 0
        self.max_versions = 1

    def _needed(self, version: int) -> bool:
        """May a held or future sample run on `version`?"""
        return version in self.held_tags or (version >= self.last_tag and self.forwarded < self.schedule.n_samples)

    def _prune(self) -> None:
        """Drop the copies no held or future sample can read (after a forward moves the last tag
        on, or a backward releases one)."""
        for version in [v for v in self.copies if not self._needed(v)]:
            del self.copies[version]
            self.sram.free(self.copy_bytes)

    def _on(self, version: int, op):
        """Run op() on the weights of `version`: the current ones, or a kept copy."""
        if version == self.version or not (self.keeps and self.arithmetic):
            return op()
        with weights_of(self.layer, *self.copies[version]):
            return op()

    def forward(self) -> Op:
        sample = self.inputs[0][0]
        tags = self.schedule.tags
        if self.k == 1:
            tag = self.version
            if not self.top:
                tags[sample] = tag
        else:
            tag = tags.pop(sample) if self.top else tags[sample]
        assert tag <= self.version, "a stage is never behind stage 1"
        op = self._on(tag, super().forward)
        x, h, _ = self.held[sample]
        self.held[sample] = (x, h, tag)  # for its backward, and its update's staleness
        self.held_tags[tag] = self.held_tags.get(tag, 0) + 1
        self.last_tag = tag
        self.forwarded += 1
        self._prune()
        return op

    def backward(self) -> Op:
        tag = self.held[self.deltas[0][0]][2]
        op = self._on(tag, super().backward)
        refs = self.held_tags.pop(tag) - 1
        if refs:
            self.held_tags[tag] = refs
        self._prune()
        return op

    def update(self) -> Op:
        if self.keeps and self._needed(self.version):  # the update is about to overwrite it
            self.copies[self.version] = (self.layer.W.copy(), self.layer.b.copy()) if self.arithmetic else None
            self.sram.alloc(self.copy_bytes)
            self.max_versions = max(self.max_versions, len(self.copies) + 1)
        return super().update()

    def _open_channels(self) -> tuple:
        """The activation message carries the sample's tag as well."""
        super()._open_channels()
        if self.next is not None:
            self.down = self.chip.channel(self.coord, self.next, "x", self.out_bytes + TAG_BYTES)
        return self.down, self.up

    def stats(self) -> dict:
        return {**super().stats(), "max_weight_versions": self.max_versions}


def stage_program(*, scenario, schedule, **args) -> LayerProgram:
    """A PipeDream stage: the plain anchored one, or with vertical sync one that keeps its own versions."""
    if schedule.vertical_sync:
        return VerticalSyncProgram(scenario=scenario, schedule=schedule, **args)
    return LayerProgram(schedule=schedule, **args)


ALGORITHM = Algorithm(
    name="pipedream", summary="PipeDream: asynchronous 1F1B, an update per sample, weight stashing",
    options=PipeDreamOptions, family=PIPELINE, layer_program=stage_program,
    schedule=lambda o, n_layers, n_samples: PipeDream(n_layers, n_samples, o.vertical_sync))


class PipeDream2BW(Schedule):
    """PipeDream-2BW: 1F1B order with no flush; the M micro-batches of mini-batch t all run on the
    weights after t-1 updates, and their summed gradient makes update t, so every update is
    exactly one version stale and a stage keeps two versions (double buffering)."""

    name = "pipedream-2bw"
    priority = ("U", "B", "F")

    def __init__(self, n_layers: int, n_samples: int, micro_batches: int):
        super().__init__(n_layers, n_samples)
        self.micro_batches = micro_batches
        self.sums_gradients = micro_batches > 1

    def forward_version(self, sample: int) -> int:
        """The weights mini-batch t's forwards and backwards read: those after t-1 updates (t = 0: the first)."""
        return max(0, sample // self.micro_batches - 1)

    def window(self, layer: int) -> int:
        return self.n_layers - layer + 1

    def may_forward(self, sample: int, version: int) -> bool:
        return self.forward_version(sample) <= version  # the version it reads exists

    def ends_group(self, sample: int) -> bool:
        return (sample + 1) % self.micro_batches == 0 or sample == self.n_samples - 1

    def updates(self) -> int:
        return -(-self.n_samples // self.micro_batches)

    def stash_bytes(self, layer: int, shape) -> int:
        """The second weight buffer: the version before the current one, W and b (layer 1's forward reads it too)."""
        return shape.param_count * FLOAT_BYTES


class TwoBufferProgram(LayerProgram):
    """A PipeDream-2BW stage: before each update it keeps the weights as the shadow version, and a
    forward or backward whose mini-batch reads that version runs on the shadow."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        self.shadow: tuple | None = None  # (W, b) after version - 1 updates, once there has been an update
        self.arithmetic = not scenario.timing_only

    def _on(self, version: int, op):
        """Run op() on the weights of `version`: the current ones, or the shadow (the one before)."""
        if version == self.version or not self.arithmetic:
            return op()
        assert version == self.version - 1, "2BW reads the current or the previous version only"
        with weights_of(self.layer, *self.shadow):
            return op()

    def forward(self) -> Op:
        sample = self.inputs[0][0]
        version = self.schedule.forward_version(sample)
        op = self._on(version, super().forward)
        x, h, _ = self.held[sample]
        self.held[sample] = (x, h, version)  # the version it read, for its backward and its update's staleness
        return op

    def backward(self) -> Op:
        return self._on(self.held[self.deltas[0][0]][2], super().backward)

    def update(self) -> Op:
        if self.version == 0:  # the second buffer, from the first update on
            self.sram.alloc(self.schedule.stash_bytes(self.k, self.shape))
        if self.arithmetic:
            self.shadow = (self.layer.W.copy(), self.layer.b.copy())
        return super().update()


TWO_BW = Algorithm(
    name="pipedream-2bw", summary="PipeDream-2BW: asynchronous 1F1B, one update per mini-batch, one version stale",
    options=MicroBatched, family=PIPELINE, layer_program=TwoBufferProgram,
    schedule=lambda o, n_layers, n_samples: PipeDream2BW(n_layers, n_samples, o.micro_batches))
