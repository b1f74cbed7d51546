"""ZB-H1 (Qi, Wan, Huang, Lin, "Zero Bubble Pipeline Parallelism", ICLR 2024): 1F1B with the backward split in two.

A stage's backward becomes B, the input gradient (dz = e * phi'(h), the top layer's dz from
its forward, and W^T dz sent down; layer 1 sends nothing), and W, the weight gradient (dz x^T
and dz summed into the gradient buffer). Only B lies on the path between stages, so a stage
may defer its W's into the bubbles. Otherwise as 1F1B: mini-batches of M one-sample
micro-batches, stages = layers k = 1..K, the flush (no stage forwards mini-batch t+1 before its
update t), one update per mini-batch summing the M gradients in micro-batch order, so the
weights equal 1F1B's, GPipe's and MBGD's (batch M) bit for bit.

Each stage runs the authors' handcrafted script (`get_hand_schedule(..., warmup_c=1)`,
branch `arxiv` of sail-sg/zero-bubble-pipeline-parallelism,
megatron/core/pipeline_parallel/efficiency.py), with rank r = k-1, p = K, n = M: p-r-1
forwards; then for i = 0..n-1: F if p-r-1+i < n, B, and W if i >= r; then r trailing W's;
then U. An op runs when its data is there (F: its input and the flush gate; B: its delta;
W: its B, done), else the stage idles. The script exists for M >= K-1 (stage 1's K-1 warm-up
forwards, the top's K-1 deferred W's; `check`); a short last mini-batch of n < K-1 runs it
with both capped at n. Every stage peaks at min(M, K) micro-batches forwarded but not yet
through their W, all on one weight version (staleness 0).

Closed forms, on uniform ops of C cycles and messages of d cycles, M >= K+1 and 2d <= C
(`tests/simulator/algorithms/test_zero_bubble.py` checks them exactly): a mini-batch takes

    T = (3M + 1) C + (K-1)(C + 4d),  so each stage idles (K-1)(C + 4d) of it.

Stage 1 ends last (stage k ends (k-1)d before it). Its critical path is its own ops up to F
of micro-batch M-1, KC + 3C(M-K) and one wait, for the first delta, of (K-1)(C+2d); then that
micro-batch's round trip 2(K-1)(C+d) + C; then its W and U. It never waits in the steady
state: the loop between neighbours (B_i at k, then at k-1, its W and its next F back up to k)
takes 3C + 2d while k has 4C of its own ops to run meanwhile, a slack of C - 2d >= 0. 1F1B has
no W to fill that loop and loses about 2d(1 - 1/K) per micro-batch: it idles
2(K-1)(C+d) + 2d(M-1 - ceil((M-1)/K)) (measured, test_pipeline_schedules.py), so ZB-H1 idles
27/46 of 1F1B's at K = 4, M = 8, d = 1. With d = 0 (the paper's model, F = B = W) ZB-H1 idles
(p-1)(F+B-W) and 1F1B (p-1)(F+B+W), 1F1B's backward being B+W; here a fused backward is one
op of C, so ZB-H1's ops take MC more per mini-batch than 1F1B's. Measured, not derived: M = K
idles (K-1)(C+4d) - 2d; M = K-1 (K >= 3) idles (K-1)(C+4d) + C - 4d; with 2d > C the steady
state stalls as well (at C = 5, d = 3: floor((K-1)(M-K-1)/K) cycles more).

SRAM: a sample's input and dz stay until its W, so for M >= K+1 every stage's bound holds
K+1 inputs and K outputs, 1F1B's stage 1 (`ZeroBubbleH1.held_inputs`).
"""

from __future__ import annotations

from collections import deque

from ..layers import FLOAT_BYTES
from ..memory import builds_gradient
from ..records import Op, new_record
from .gpipe import GPipe, MicroBatched
from .pipeline import LayerProgram, _nothing
from .registry import PIPELINE, Algorithm


def hand_script(rank: int, p: int, n: int) -> list[str]:
    """The op kinds (F, B, W) stage `rank` (0: the input stage) of p runs for a mini-batch of n,
    in order: the authors' ZB-H1, its warm-up and its deferred W's capped at n for a short one."""
    warmup, lag = min(p - rank - 1, n), min(rank, n)
    kinds = ["F"] * warmup
    for i in range(n):
        if warmup + i < n:
            kinds.append("F")
        kinds.append("B")
        if i >= lag:
            kinds.append("W")
    return kinds + ["W"] * lag


class ZeroBubbleH1(GPipe):
    """ZB-H1: GPipe's mini-batches, flush and update, each stage's F, B and W in the authors' order."""

    name = "zb-h1"
    gates_backward = False  # the script orders the ops; `may_backward` is not asked

    def __init__(self, n_layers: int, n_samples: int, micro_batches: int):
        super().__init__(n_layers, n_samples, micro_batches)  # no rematerialization: outputs wait for their B

    def window(self, layer: int) -> int:
        """Micro-batches forwarded but not yet through their W: the script's peak, the same at every stage."""
        return min(self.micro_batches, self.n_layers)

    def script(self, layer: int, first: int) -> list[tuple[str, int]]:
        """Layer k's ops (kind, sample) for the mini-batch that starts at sample `first`, ending in its U."""
        last = self.last_of(first)
        count = {"F": first, "B": first, "W": first}  # F's, B's and W's each run in sample order
        ops = []
        for kind in hand_script(layer - 1, self.n_layers, last - first + 1):
            ops.append((kind, count[kind]))
            count[kind] += 1
        return ops + [("U", last)]

    def held_inputs(self, layer: int) -> int:
        """Most inputs layer k holds (waiting, or forwarded and not yet through their W), on any timing.

        Layer 1: its window and the one the port sends ahead. Above, with n = M, r = k-1, p = K:
        layer k-1 forwards F_j only after its B_{j-p+r-1}, which needs layer k's. When layer k
        ends its b-th B it starts its next W at once (W waits for nothing), and an op frees what
        it consumes as it starts, so before F_{b+p-r} can arrive k holds at most
        (b+p-r+1) - (b-r) = p+1 of one mini-batch (once b >= r; fewer before). The next mini-batch
        arrives only after every B of this one, when k owes at most r W's, and k-1 sends at most
        p-r+1 of it before it needs k's first B, which follows k's update."""
        n, p, r = self.micro_batches, self.n_layers, layer - 1
        if layer == 1:
            return self.window(1) + 1
        return max(min(n, p + 1), min(n, r) + min(n, p - r + 1))

    def activation_bytes(self, layer: int, shape, inputs: int) -> int:
        """A sample's input stays until its W, and its output (then its dz, as large) from its F to
        its W; `inputs` (bounded by layer k-1's window) does not bound the first here, as a layer
        may owe W's for samples layer k-1 has finished."""
        return (self.held_inputs(layer) * shape.input_floats + self.window(layer) * shape.output_floats) * FLOAT_BYTES

    def side_traffic(self) -> tuple[int, int]:
        """One W per layer and sample, no message."""
        return self.n_layers, 0


class ZeroBubbleProgram(LayerProgram):
    """A ZB-H1 stage: it runs its script of F, B, W and U ops in order, idling while the next one cannot run."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        shape = self.shape
        self.cycles_B = self.chip.op_cycles(shape.input_gradient_macs())
        self.cycles_W = self.chip.op_cycles(shape.weight_gradient_macs(builds_gradient(self.schedule,
                                                                                       self.layer.optimizer, shape)))
        self.script: deque = deque()  # (kind, sample) still to run in the current mini-batch
        self.next_first = 0  # first sample of the next mini-batch
        self.start_next = self.next_in_script  # the script replaces the priority pickers

    def next_in_script(self) -> Op | None:
        """The script's next op if its data is there, else None (the PE waits for a message)."""
        script = self.script
        if not script:
            if self.next_first >= self.schedule.n_samples:
                return None
            script.extend(self.schedule.script(self.k, self.next_first))
            self.next_first = script[-1][1] + 1
        kind, sample = script[0]
        if kind == "F":
            # Inputs arrive in sample order, so the first waiting is `sample`; the gate is the flush.
            if not self.inputs or not self.schedule.may_forward(sample, self.version) or (
                    self.top and sample not in self.labels):
                return None
            script.popleft()
            return self.forward()
        if kind == "B":
            if not self.deltas:  # deltas, too, arrive in sample order
                return None
            script.popleft()
            return self.backward()
        script.popleft()
        return self.weight(sample) if kind == "W" else self.update()

    def backward(self) -> Op:
        """B: dz and the delta sent down; x and dz stay for the sample's W."""
        sample, e = self.deltas.popleft()
        x, h, version = self.held[sample]
        dz, delta = self.layer.backward_input(x, h, e, None)
        self.held[sample] = (x, dz, version)  # dz takes h's place and size in the ledger
        if self.k > 1:
            def finish():
                (self.up or self._open_channels()[1]).send(sample, delta)
        else:
            finish = _nothing
        return new_record(Op, ("B", sample, self.cycles_B, finish))

    def weight(self, sample: int) -> Op:
        """W: the sample's gradient into the buffer; its input and dz are freed."""
        x, dz, version = self.held.pop(sample)
        self.layer.backward_weight(x, dz)
        self.sram.free(self.in_bytes + self.out_bytes)
        self.group.append(version)
        self.group_last = sample
        return new_record(Op, ("W", sample, self.cycles_W, _nothing))

    def stats(self) -> dict:
        stats = super().stats()
        stats["op_cycles"]["W"] = self.cycles_W
        return stats


def check(options: MicroBatched, n_layers: int) -> str | None:
    """The script needs a micro-batch for each of stage 1's K-1 warm-up forwards."""
    if options.micro_batches < n_layers - 1:
        return (f"zb-h1 needs training.micro_batches >= {n_layers - 1} (the layers less one: stage 1's warm-up "
                f"forwards and the top layer's deferred W's), not {options.micro_batches}")
    return None


ALGORITHM = Algorithm(
    name="zb-h1", summary="ZB-H1 (zero bubble): 1F1B with the backward split into B and a deferred W, one update",
    options=MicroBatched, family=PIPELINE, in_order_minibatches=True, layer_program=ZeroBubbleProgram,
    check=check, schedule=lambda o, n_layers, n_samples: ZeroBubbleH1(n_layers, n_samples, o.micro_batches))
