"""The program of a layer under CP's reverse checkpointing: forget activations after the forward, recompute them (op C).

The rules (which layers keep their inputs, when a checkpoint recomputes, with which
weights) are the schedule's (`cp.CheckpointedCP`, defined in `reverse_checkpoint.py`);
this module keeps the queues, the weight copies and the SRAM ledger. Messages beyond the
plain pipeline's:

    r  the recomputed output of sample s, to the next layer of the segment
"""

from __future__ import annotations

from collections import deque

from ..memory import layer_memory
from ..records import Op, new_record
from .pipeline import LayerProgram, _nothing
from .stash import WeightStash, weights_of


class RecomputeProgram(LayerProgram):
    """Layer k's program when it recomputes: a forward that forgets, a recompute C, a backward on the recomputed pair.

    A checkpoint layer keeps the input of each held sample and recomputes its output once
    the schedule's lag has passed; any other layer keeps nothing after its forward and
    recomputes when the recomputed input arrives (r). A backward waits for its sample's
    recompute. Weight versions are copied before an update overwrites them while a held
    sample's recompute (stashed weights) or anchored backward still has to read them.
    """

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        self.sram_bound = args["memory"].total
        schedule, k = self.schedule, self.k
        checkpoint = schedule.checkpoint_of(k)
        self.checkpoint = checkpoint == k
        self.sends_on = k < schedule.segment_end(k)  # the next layer recomputes from this one's output
        self.lag, self.cap = schedule.lag(checkpoint), schedule.cap(checkpoint)
        self.cycles_C = self.cycles_F  # a recompute is a forward again
        self.anchored_rule = self.anchored  # the backward reads its forward's W (k > 1, anchored)
        self.anchored = False  # ...from this program's own copies, not the plain pipeline's
        self.stashing = schedule.stashes(k)
        self.copy_bytes = schedule.copy_bytes(self.shape)
        self.copies = WeightStash()  # versions -> (W, b) for a stashed recompute, W for the anchored backward
        self.not_recomputed: deque = deque()  # a checkpoint's forwarded samples, in order, awaiting C
        self.recomputed_in: deque = deque()  # (sample, recomputed input) from the layer below, awaiting C
        self.recomputed: set[int] = set()  # samples whose backward may run
        self.kept_labels: dict[int, int] = {}  # the top layer recomputes its loss delta
        self.forwarded = 0
        self.recomputes = 0
        self.channel_r = None

    def extra_pickers(self) -> dict:
        return {"C": self._pick_recompute, "B": self._pick_recomputed_backward}

    # -- messages ------------------------------------------------------------
    def receive(self, message) -> None:
        kind, tag, payload = message
        if kind == "r":
            self.recomputed_in.append((tag, payload))
            self.sram.alloc(self.in_bytes)
        else:
            super().receive(message)

    # -- choosing ------------------------------------------------------------
    def _pick_recompute(self) -> Op | None:
        if self.checkpoint:
            if not self.not_recomputed or len(self.recomputed) >= self.cap:
                return None
            sample = self.not_recomputed[0]
            if self.forwarded <= sample + self.lag and self.forwarded < self.schedule.n_samples:
                return None  # not yet: the wave would wait at the segment's top
            self.not_recomputed.popleft()
            return self.recompute(sample, self.held[sample][0])
        if not self.recomputed_in or self.recomputed_in[0][0] not in self.held:
            return None  # nothing arrived, or this layer has not forwarded the sample yet
        sample, x = self.recomputed_in.popleft()
        return self.recompute(sample, x)

    def _pick_recomputed_backward(self) -> Op | None:
        if not self.deltas or self.deltas[0][0] not in self.recomputed:
            return None
        return self.backward()

    # -- the ops -------------------------------------------------------------
    def forward(self) -> Op:
        sample = self.inputs[0][0]
        if self.top:
            self.kept_labels[sample] = self.labels[sample]
        op = super().forward()
        x, _, version = self.held[sample]
        if self.checkpoint:
            self.held[sample] = (x, None, version)
            self.sram.in_use -= self.out_bytes  # the output lives on in the message, not here
            self.not_recomputed.append(sample)
        else:
            self.held[sample] = (None, None, version)
            self.sram.in_use -= self.in_bytes + self.out_bytes
        if self.stashing:
            self.copies.hold(version)
        self.forwarded += 1
        return op

    def recompute(self, sample: int, x) -> Op:
        """C: the forward of `sample` again, with the stashed or the current weights."""
        version = self.held[sample][2]
        copy = self.copies.copies.get(version) if self.schedule.recompute_stashed and version != self.version else None
        if self.top:  # the loss delta again (the forward recorded the loss)
            label = self.kept_labels.pop(sample)
            h = self._on(copy, lambda: self.layer.forward_loss(x, label)[0])
        else:
            h = self._on(copy, lambda: self.layer.forward(x))
        self.held[sample] = (x, h, version)
        self.sram.alloc(self.out_bytes)
        self.recomputed.add(sample)
        self.recomputes += 1
        if self.stashing and not self.anchored_rule:
            self._release(version)  # the recompute was the copy's last reader
        if not self.sends_on:
            return new_record(Op, ("C", sample, self.cycles_C, _nothing))

        def finish():
            if self.channel_r is None:
                self.channel_r = self.chip.channel(self.coord, self.next, "r", self.out_bytes)
            self.channel_r.send(sample, h)

        return new_record(Op, ("C", sample, self.cycles_C, finish))

    def backward(self) -> Op:
        sample = self.deltas[0][0]
        version = self.held[sample][2]
        self.recomputed.discard(sample)
        if not self.anchored_rule:
            return super().backward()
        op = self._on(self.copies.copies.get(version) if version != self.version else None, super().backward)
        self._release(version)
        return op

    def update(self) -> Op:
        if self.stashing and self.copies.needed(self.version):
            self.copies.keep(self.version, self.layer.read() if self.schedule.recompute_stashed
                             else self.layer.stash())
            self.sram.alloc(self.copy_bytes)
        return super().update()

    # -- weight copies ---------------------------------------------------------
    def _on(self, copy, op):
        """Run op() on a kept weight version ((W, b), or W alone), or on the current weights (copy None)."""
        if copy is None:
            return op()
        with weights_of(self.layer, *(copy if isinstance(copy, tuple) else (copy,))):
            return op()

    def _release(self, version: int) -> None:
        if self.copies.release(version):
            self.sram.free(self.copy_bytes)

    def stats(self) -> dict:
        stats = super().stats()
        stats["op_cycles"]["C"] = self.cycles_C
        plain = layer_memory(self.schedule.plain(), self.k, self.shape, self.layer.optimizer)
        stats["reverse_checkpoint"] = {
            "checkpoint": self.checkpoint, "recomputes": self.recomputes,
            "recompute_cycles": self.recomputes * self.cycles_C,
            "sram_bound_without_bytes": plain.total,
            "sram_bound_saved_bytes": plain.total - self.sram_bound}
        return stats

