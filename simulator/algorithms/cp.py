"""Continuous propagation (paper Alg. 1, Fig. 1c): every layer forwards, back-propagates and updates every step.

With `reverse_checkpoint` (Fig. 1d) some layers recompute their activations instead of
keeping them: `reverse_checkpoint.py` defines when and with which weights.

Kosson et al. 2021 ("Pipelined Backpropagation at Scale") correct the staleness of such a
pipeline, whose layer k applies gradients D_k = 2(D-k) updates old (CP's staleness once the
pipeline is full), in two ways, both options here:

- `spike_compensation`: momentum's step becomes a v + b g, a = mu^D_k, b = (1 - mu^D_k) /
  (1 - mu) (`optimizers.spike_compensation`): each late gradient takes at once the steps it
  missed, so its total weight is what it would have been without delay.
- `weight_prediction` (linear weight prediction, weight-difference form): the forward runs on
  W + D_k (W - W_prev), the weights extrapolated D_k updates ahead along the last step, to
  approach the weights its backward and update will meet (`prediction_program.py`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..layers import FLOAT_BYTES, param_bytes
from ..optimizers import average, chain, learning_rate, spike_compensation
from ..schema import Strict
from .base import Schedule, TimingRules
from .pipeline import LayerProgram
from .prediction_program import PredictingProgram
from .recompute_program import RecomputeProgram
from .registry import PIPELINE, Algorithm
from .reverse_checkpoint import ReverseCheckpoint, check


class CPOptions(Strict):
    """The keys of `training` that continuous propagation reads."""

    delta_rule: Literal["immediate", "anchored"] = Field(
        default="immediate", description="cp: the backward uses the current weights (immediate) or its forward's (anchored)")
    in_flight_slack: int = Field(default=0, ge=0, description="cp: samples a layer may hold beyond 2(D-k)+1")
    reverse_checkpoint: ReverseCheckpoint | None = Field(
        default=None, description="cp: keep the inputs of some layers only and recompute the other activations "
                                  "before the backward (paper Fig. 1d); none: keep every activation")
    spike_compensation: bool = Field(
        default=False, description="cp: momentum steps a v + b g for gradients 2(D-k) updates stale (Kosson et al. "
                                   "2021); needs optimizer momentum")
    weight_prediction: bool = Field(
        default=False, description="cp: the forward runs on W + 2(D-k) (W - W_prev), the weights predicted 2(D-k) "
                                   "updates ahead (Kosson et al. 2021); needs the immediate delta rule")


class ContinuousPropagation(Schedule):
    """CP: samples stream in back to back and each layer applies each sample's gradient at once.

    Layer k may hold 2(D-k)+1 samples between their forward and their backward (plus
    `slack`): exactly what a full pipeline needs when ops take equal time, so the window
    bounds SRAM without slowing the steady state. With the immediate delta rule the
    backward uses the layer's current weights; with the anchored rule it uses the
    weights its forward used, stashed while they are still needed.
    """

    name = "cp"

    def __init__(self, n_layers: int, n_samples: int, delta_rule: str = "immediate", slack: int = 0):
        super().__init__(n_layers, n_samples)
        if delta_rule not in ("immediate", "anchored"):
            raise ValueError(f"delta_rule must be 'immediate' or 'anchored', got {delta_rule!r}")
        self.anchored = delta_rule == "anchored"
        self.slack = slack

    def window(self, layer: int) -> int:
        return 2 * (self.n_layers - layer) + 1 + self.slack

    def may_forward(self, sample: int, version: int) -> bool:
        return True

    def ends_group(self, sample: int) -> bool:
        return True

    def timing_rules(self) -> TimingRules:
        return TimingRules(gate_batch=0, group_batch=0)


class CheckpointedCP(ContinuousPropagation):
    """CP with reverse checkpointing: CP's windows and updates, plus each segment's recompute wave (op C)."""

    priority = ("U", "C", "F", "B")  # a recompute first: the deltas coming down wait for it
    gates_backward = True  # a backward waits for its sample's recomputed activations

    def __init__(self, n_layers: int, n_samples: int, delta_rule: str, slack: int, config: ReverseCheckpoint):
        super().__init__(n_layers, n_samples, delta_rule, slack)
        self.config = config
        self.checkpoints = config.checkpoints(n_layers)
        self.recompute_stashed = config.weights == "stashed"
        ends = [c - 1 for c in self.checkpoints[1:]] + [n_layers]
        self.segments = dict(zip(self.checkpoints, ends))  # checkpoint c -> the segment's last layer e

    def plain(self) -> ContinuousPropagation:
        """The same CP without checkpointing, for the SRAM it would need."""
        return ContinuousPropagation(self.n_layers, self.n_samples, "anchored" if self.anchored else "immediate",
                                     self.slack)

    def checkpoint_of(self, layer: int) -> int:
        """The checkpoint of layer k's segment."""
        return max(c for c in self.checkpoints if c <= layer)

    def segment_end(self, layer: int) -> int:
        """The last layer of layer k's segment."""
        return self.segments[self.checkpoint_of(layer)]

    def lag(self, checkpoint: int) -> int:
        """How many samples after s the checkpoint forwards before it recomputes s."""
        return max(0, 2 * (self.n_layers - self.segments[checkpoint]) - 1)

    def cap(self, checkpoint: int) -> int:
        """The most recomputed, not yet back-propagated samples any layer of the checkpoint's segment holds."""
        return max(1, self.window(checkpoint) - self.lag(checkpoint))

    def keeps_output(self, layer: int) -> bool:
        return False

    def timing_rules(self):
        return None

    def why_uncompiled(self) -> str:
        return "cp with training.reverse_checkpoint: the compiled engine has no recompute wave"

    def activation_bytes(self, layer: int, shape, inputs: int) -> int:
        """Inputs: up to `inputs` waiting for F or kept by a checkpoint, and above a checkpoint up to cap
        recomputed ones (r), which may land before the forward has used its own input. Outputs: the
        recomputed samples' (at most cap) and the forward's in progress, dropped once it is sent."""
        checkpoint = self.checkpoint_of(layer)
        cap = self.cap(checkpoint)
        received = 0 if layer == checkpoint else cap
        outputs = min(self.window(layer), cap + 1)
        return ((inputs + received) * shape.input_floats + outputs * shape.output_floats) * FLOAT_BYTES

    def copy_bytes(self, shape) -> int:
        """One kept weight version: W and b for a stashed recompute, else W for the anchored backward."""
        return param_bytes(shape) if self.recompute_stashed else shape.stash_bytes

    def stashes(self, layer: int) -> bool:
        """Does layer k keep old weight versions (for its recompute, or its anchored backward)?"""
        return self.recompute_stashed or (self.anchored and layer > 1)

    def stash_bytes(self, layer: int, shape) -> int:
        return self.window(layer) * self.copy_bytes(shape) if self.stashes(layer) else 0

    def side_traffic(self) -> tuple[int, int]:
        """Per sample: a C op on every layer, and an r message inside each segment."""
        return self.n_layers, sum(e - c for c, e in self.segments.items())


class CorrectedCP(ContinuousPropagation):
    """CP with Kosson et al.'s corrections: spike-compensated momentum and/or linear weight prediction,
    each layer's for its delay D_k = 2(D-k)."""

    def __init__(self, n_layers: int, n_samples: int, delta_rule: str, slack: int, spike: bool, predict: bool):
        super().__init__(n_layers, n_samples, delta_rule, slack)
        self.spike, self.predict = spike, predict

    def delay(self, layer: int) -> int:
        """D_k: how many updates old layer k's gradients are once the pipeline is full."""
        return 2 * (self.n_layers - layer)

    def layer_optimizer(self, layer: int, config, lr_schedule):
        """Spike compensation: momentum's core replaced by its compensated form for this layer's delay."""
        if not self.spike:
            return None
        return chain(average(), spike_compensation(config.mu, self.delay(layer)), learning_rate(lr_schedule),
                     name=f"{config.name}+spike_compensation")

    def predicts(self, layer: int) -> bool:
        return self.predict and self.delay(layer) > 0

    def stash_bytes(self, layer: int, shape) -> int:
        """Weight prediction: the last step (W and b) and the predicted weights the forward reads."""
        return super().stash_bytes(layer, shape) + (2 * param_bytes(shape) if self.predicts(layer) else 0)

    def timing_rules(self):
        return None

    def why_uncompiled(self) -> str:
        return ("cp with training.spike_compensation or weight_prediction: the compiled engine replays plain "
                "optimizer steps on the current weights")


def fits(options: CPOptions, n_layers: int) -> str | None:
    """Why CP's options do not fit a network of `n_layers` layers or one another, or None."""
    if options.weight_prediction and options.delta_rule == "anchored":
        return ("training.weight_prediction predicts the weights the backward will meet, which the anchored delta "
                "rule replaces by the forward's own: use delta_rule: immediate, or drop weight_prediction")
    if (options.weight_prediction or options.spike_compensation) and options.reverse_checkpoint is not None:
        return ("training.spike_compensation and weight_prediction correct plain CP; drop reverse_checkpoint to use "
                "them")
    return check(options, n_layers)


def fits_optimizer(options: CPOptions, optimizer) -> str | None:
    """Why the optimizer section does not fit CP's options, or None."""
    if options.spike_compensation and optimizer.name != "momentum":
        return (f"training.spike_compensation rescales heavy-ball momentum's steps, and the optimizer is "
                f"{optimizer.name}: set training.optimizer: {{name: momentum, mu: 0.9}} (or training.momentum: 0.9), "
                "or drop spike_compensation")
    return None


def schedule(o: CPOptions, n_layers: int, n_samples: int) -> ContinuousPropagation:
    """CP's schedule from its options: plain, with reverse checkpointing, or with Kosson's corrections."""
    if o.reverse_checkpoint is not None:
        return CheckpointedCP(n_layers, n_samples, o.delta_rule, o.in_flight_slack, o.reverse_checkpoint)
    if o.spike_compensation or o.weight_prediction:
        return CorrectedCP(n_layers, n_samples, o.delta_rule, o.in_flight_slack, o.spike_compensation,
                           o.weight_prediction)
    return ContinuousPropagation(n_layers, n_samples, o.delta_rule, o.in_flight_slack)


def program(*, scenario, **args) -> LayerProgram:
    """A layer's program: the plain one, one that recomputes (reverse checkpointing), or one that predicts."""
    schedule = args["schedule"]
    if isinstance(schedule, CheckpointedCP):
        return RecomputeProgram(scenario=scenario, **args)
    if isinstance(schedule, CorrectedCP) and schedule.predicts(args["k"]):
        return PredictingProgram(scenario=scenario, **args)
    return LayerProgram(**args)


ALGORITHM = Algorithm(
    name="cp", summary="continuous propagation: samples stream back to back, every layer updates per sample",
    options=CPOptions, family=PIPELINE, schedule=schedule, layer_program=program, check=fits,
    optimizer_check=fits_optimizer)
