"""What distinguishes one layer-pipelined algorithm from another: windows, gates, update groups and op priority."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import Field

from ..layers import FLOAT_BYTES
from ..schema import Strict

DEFAULT_PRIORITY = ("U", "F", "B")


class TimingRules(NamedTuple):
    """A schedule's gate and gradient groups as two numbers, for the compiled engine (`wafersim.engine`)."""

    gate_batch: int  # 0: any F may go; B > 0: sample s may go once the layer has applied s // B updates
    group_batch: int  # 0: every backward ends a gradient; B > 0: every B-th sample's (and the last one's)


class Schedule:
    """The rules of a layer-pipelined training algorithm, as the questions a layer asks.

    Layers are numbered k = 1..D from the input and samples s = 0, 1, ... in the order
    they enter. The arithmetic, messages and SRAM ledger are shared by all algorithms and
    live in `pipeline.py`.
    """

    name = "schedule"
    anchored = False  # does the backward use the weights of its own forward (weight stashing)?
    sums_gradients = False  # are gradients summed in a buffer over several samples before an update?
    gates_backward = False  # does a backward wait for more than its delta (`may_backward`)?
    # The order in which a free PE looks for work: a pending update (U) first, so it lands
    # before anything else reads the weights; then a forward (F); then a backward (B).
    priority: tuple[str, ...] = DEFAULT_PRIORITY

    def __init__(self, n_layers: int, n_samples: int):
        self.n_layers = n_layers
        self.n_samples = n_samples

    def window(self, layer: int) -> int:
        """The most samples layer k may hold forwarded but not yet back-propagated."""
        raise NotImplementedError

    def may_forward(self, sample: int, version: int) -> bool:
        """May a layer that has applied `version` updates run the forward of `sample`?"""
        raise NotImplementedError

    def ends_group(self, sample: int) -> bool:
        """Does the backward of `sample` complete a gradient that the layer must now apply?"""
        raise NotImplementedError

    def updates(self) -> int:
        """How many updates each layer applies over the run: one per sample unless gradients are summed."""
        return self.n_samples

    def may_backward(self, sample: int, held: dict) -> bool:
        """With `gates_backward`: may a layer holding the samples `held` (forwarded, not yet
        back-propagated) run the backward of `sample`, whose delta has arrived?"""
        return True

    def divergence_hint(self) -> str:
        """Other rates a diverged run may lower, as text after the learning rate's (", training.x (now v)")."""
        return ""

    def side_traffic(self) -> tuple[int, int]:
        """(ops, messages) per sample beyond every layer's F, B and U and the activations, deltas and
        labels (dni's modules), for the host-cost estimate."""
        return 0, 0

    def keeps_output(self, layer: int) -> bool:
        """Does layer k keep each held sample's output from its forward to its backward (else it recomputes it)?"""
        return True

    def activation_bytes(self, layer: int, shape, inputs: int) -> int:
        """SRAM bytes of the activations layer k may hold, given that it holds at most `inputs`
        inputs (waiting or held): an output per sample in its window, or, if it recomputes
        them (`keeps_output` false), only the one the backward in progress recomputed."""
        outputs = self.window(layer) if self.keeps_output(layer) else 1
        return (inputs * shape.input_floats + outputs * shape.output_floats) * FLOAT_BYTES

    def layer_optimizer(self, layer: int, config, lr_schedule):
        """An optimizer of layer k's own (a Transform) from the scenario's optimizer section and
        learning-rate schedule, or None: the scenario's optimizer (cp's spike compensation)."""
        return None

    def stash_bytes(self, layer: int, shape) -> int:
        """SRAM bytes of the old weight versions layer k may keep: one stashed copy per sample in
        flight under the anchored rule, none otherwise."""
        return self.window(layer) * shape.stash_bytes if self.anchored else 0

    def side_memory(self, layer: int, shape, classes: int) -> tuple[int, int]:
        """(static, per-sample bound) SRAM bytes layer k keeps beside its own arrays (a synthetic-gradient module)."""
        return 0, 0

    def side_pes(self, coords: list, rows: int, cols: int) -> dict:
        """Layer k -> a PE of its own for part of layer k's work, next to it (dni's modules with
        placement: neighbour); none by default."""
        return {}

    def side_pe_memory(self, layer: int, shape, classes: int):
        """The SRAM bound (a LayerMemory) of layer k's side PE."""
        raise NotImplementedError

    def timing_rules(self) -> TimingRules | None:
        """`may_forward` and `ends_group` as the compiled engine's two numbers, or None if they are not of that form."""
        return None

    def why_uncompiled(self) -> str | None:
        """Why the compiled engine cannot run this schedule, where that is more particular than
        having no `timing_rules` (a cp option the compiled engine lacks), or None."""
        return None


class NoOptions(Strict):
    """An algorithm with no keys of its own."""


class Batched(Strict):
    """Algorithms that train on minibatches."""

    batch_size: int = Field(default=1, ge=1, description="samples per minibatch (per worker for data parallelism)")
