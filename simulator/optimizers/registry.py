"""The YAML side of optimizers and learning-rate schedules: one strict section per kind, and the table.

A scenario names an optimizer and a schedule by `name`; the discriminated unions
`OptimizerConfig` and `ScheduleConfig` pick the section, `make_schedule` and
`make_optimizer` build the callables, and `facts` reports the state and update cost the
simulator charges, so the README table is generated from the same code.

Every optimizer is the chain average() -> core transforms -> learning_rate(schedule);
sgd's core is empty and momentum's is momentum(mu) alone, so their results are bitwise
those of the old optimizer module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import Field

from wafersim.schema import Strict

from .base import Transform, chain
from .schedules import Schedule, constant, cosine, half_life, step_decay, warmup
from .transforms import (adadelta, adagrad, adam, average, conjugate_gradient, learning_rate, momentum, nesterov,
                         rmsprop)

BYTES_PER_FLOAT = 4  # optimizer state is float32

# Optimizer sections.


class SGDConfig(Strict):
    """Plain stochastic gradient descent: the step is -lr times the minibatch-mean gradient."""

    name: Literal["sgd"] = Field("sgd", description="plain SGD")


class MomentumConfig(Strict):
    """Heavy-ball momentum: v = mu v + g, step -lr v."""

    name: Literal["momentum"] = Field("momentum", description="heavy-ball momentum")
    mu: float = Field(0.9, ge=0, lt=1, description="momentum coefficient: v = mu v + g")


class NesterovConfig(Strict):
    """Nesterov momentum: b = mu b + g, step -lr (g + mu b)."""

    name: Literal["nesterov"] = Field("nesterov", description="Nesterov momentum")
    mu: float = Field(0.9, ge=0, lt=1, description="momentum coefficient: b = mu b + g")


class AdagradConfig(Strict):
    """Adagrad: s = s + g^2, step -lr g / (sqrt(s) + eps)."""

    name: Literal["adagrad"] = Field("adagrad", description="Adagrad")
    eps: float = Field(1e-8, gt=0, description="added to sqrt(s) so the division is defined")


class RMSPropConfig(Strict):
    """RMSProp: s = decay s + (1 - decay) g^2, step -lr g / (sqrt(s) + eps)."""

    name: Literal["rmsprop"] = Field("rmsprop", description="RMSProp")
    decay: float = Field(0.9, ge=0, lt=1, description="decay of the running mean of g^2")
    eps: float = Field(1e-8, gt=0, description="added to sqrt(s) so the division is defined")


class AdadeltaConfig(Strict):
    """Adadelta: the step RMS[dx] / RMS[g] * g, times the learning rate (1.0 is the paper)."""

    name: Literal["adadelta"] = Field("adadelta", description="Adadelta")
    decay: float = Field(0.95, ge=0, lt=1, description="decay rho of the running means of g^2 and dx^2")
    eps: float = Field(1e-6, gt=0, description="added to both running means inside their square roots")


class AdamConfig(Strict):
    """Adam: bias-corrected running means of g and g^2, step -lr mhat / (sqrt(vhat) + eps)."""

    name: Literal["adam"] = Field("adam", description="Adam")
    beta1: float = Field(0.9, ge=0, lt=1, description="decay of the running mean of g")
    beta2: float = Field(0.999, ge=0, lt=1, description="decay of the running mean of g^2")
    eps: float = Field(1e-8, gt=0, description="added to sqrt(vhat) so the division is defined")


class ConjugateGradientConfig(Strict):
    """Nonlinear conjugate gradients with a fixed step: p = beta p - g, W += lr p."""

    name: Literal["conjugate_gradient"] = Field("conjugate_gradient", description="nonlinear conjugate gradients")
    method: Literal["fletcher_reeves", "hestenes_stiefel"] = Field(
        "fletcher_reeves", description="formula for beta: Fletcher-Reeves or Hestenes-Stiefel")
    restart_every: int = Field(0, ge=0, description="restart as steepest descent every this many updates (0: never)")


OptimizerConfig = Annotated[Union[SGDConfig, MomentumConfig, NesterovConfig, AdagradConfig, RMSPropConfig,
                                  AdadeltaConfig, AdamConfig, ConjugateGradientConfig], Field(discriminator="name")]


@dataclass(frozen=True)
class OptimizerKind:
    """One optimizer of the table: its section, its core transforms, and what the README says of it."""

    name: str
    config: type[Strict]
    core: Callable[[Any], list[Transform]]  # the transforms between average() and learning_rate
    minibatch_only: bool  # needs the whole minibatch gradient before stepping (no per-sample update)
    summary: str  # one line for the README
    source: str  # citation


OPTIMIZERS: dict[str, OptimizerKind] = {kind.name: kind for kind in [
    OptimizerKind("sgd", SGDConfig, lambda c: [], False,
                  "the minibatch-mean gradient times -lr",
                  "Robbins & Monro 1951, A stochastic approximation method"),
    OptimizerKind("momentum", MomentumConfig, lambda c: [momentum(c.mu)], False,
                  "heavy ball: v = mu v + g, step -lr v",
                  "Polyak 1964, Some methods of speeding up the convergence of iteration methods"),
    OptimizerKind("nesterov", NesterovConfig, lambda c: [nesterov(c.mu)], False,
                  "look-ahead momentum: b = mu b + g, step -lr (g + mu b)",
                  "Sutskever, Martens, Dahl & Hinton 2013, On the importance of initialization and momentum "
                  "in deep learning (after Nesterov 1983)"),
    OptimizerKind("adagrad", AdagradConfig, lambda c: [adagrad(c.eps)], False,
                  "per-parameter rate from the sum of squared gradients: step -lr g / (sqrt(s) + eps)",
                  "Duchi, Hazan & Singer 2011, Adaptive subgradient methods, JMLR 12:2121-2159"),
    OptimizerKind("rmsprop", RMSPropConfig, lambda c: [rmsprop(c.decay, c.eps)], False,
                  "per-parameter rate from a running mean of squared gradients: step -lr g / (sqrt(s) + eps)",
                  "Tieleman & Hinton 2012, Neural Networks for Machine Learning, lecture 6.5"),
    OptimizerKind("adadelta", AdadeltaConfig, lambda c: [adadelta(c.decay, c.eps)], False,
                  "ratio of running RMS of steps and gradients: step -lr g RMS[dx] / RMS[g] (lr 1.0 is the paper)",
                  "Zeiler 2012, ADADELTA: an adaptive learning rate method, arXiv:1212.5701"),
    OptimizerKind("adam", AdamConfig, lambda c: [adam(c.beta1, c.beta2, c.eps)], False,
                  "bias-corrected running means of g and g^2: step -lr mhat / (sqrt(vhat) + eps)",
                  "Kingma & Ba 2015, Adam: a method for stochastic optimization, ICLR, arXiv:1412.6980"),
    OptimizerKind("conjugate_gradient", ConjugateGradientConfig, lambda c: [conjugate_gradient(c.method, c.restart_every)], True,
                  "nonlinear conjugate gradients per layer with a fixed step: p = beta p - g, W += lr p",
                  "Fletcher & Reeves 1964; Hestenes & Stiefel 1952; Nocedal & Wright 2006, Numerical "
                  "Optimization, ch. 5"),
]}

OPTIMIZER_NAMES = tuple(OPTIMIZERS)


def named_section(value: Any) -> Any:
    """A section given by its name alone, `adam`, is short for `{name: adam}` (a field validator's `before` step)."""
    return {"name": value} if isinstance(value, str) else value


def make_optimizer(config: Any, schedule: Schedule, scaling: tuple[Transform, ...] = ()) -> Transform:
    """The full chain of an optimizer section: average(), its core transforms, `scaling` (transforms
    of the coefficient alone, such as PipeMare's rescheduling), learning_rate(schedule)."""
    kind = OPTIMIZERS[config.name]
    return chain(average(), *kind.core(config), *scaling, learning_rate(schedule), name=config.name)


def facts(name: str, config: Any = None) -> tuple[int, int]:
    """(state bytes per parameter, update MACs per parameter) of the full chain of optimizer
    `name`, with its default section unless `config` is given."""
    kind = OPTIMIZERS[name]
    optimizer = make_optimizer(config if config is not None else kind.config(), constant(1.0))
    return BYTES_PER_FLOAT * optimizer.state_per_param, optimizer.macs_per_param


# Learning-rate schedule sections; lengths are in epochs and become samples in make_schedule.


class _Warmup(Strict):
    """The warm-up every schedule section accepts."""

    warmup_epochs: float = Field(0.0, ge=0, description="linear warm-up from 0 over this many epochs (0: none)")


class ConstantSchedule(_Warmup):
    """The same learning rate for every update."""

    name: Literal["constant"] = Field("constant", description="constant learning rate")


class HalfLifeSchedule(_Warmup):
    """The learning rate halves continuously every `half_life_epochs` epochs."""

    name: Literal["half_life"] = Field("half_life", description="exponential decay by half-life")
    half_life_epochs: float = Field(gt=0, description="the learning rate halves every this many epochs")


class StepSchedule(_Warmup):
    """The learning rate is multiplied by `factor` once every `every_epochs` epochs."""

    name: Literal["step"] = Field("step", description="step decay")
    every_epochs: float = Field(gt=0, description="epochs between two drops")
    factor: float = Field(0.1, gt=0, le=1, description="the learning rate is multiplied by this at each drop")


class CosineSchedule(_Warmup):
    """Cosine annealing from the learning rate down to `final_fraction` of it at the end of training."""

    name: Literal["cosine"] = Field("cosine", description="cosine annealing")
    final_fraction: float = Field(0.0, ge=0, lt=1, description="the final learning rate as a fraction of the first")


_SCHEDULE_SECTIONS = (ConstantSchedule, HalfLifeSchedule, StepSchedule, CosineSchedule)
SCHEDULE_CONFIGS: dict[str, type[Strict]] = {c.model_fields["name"].default: c for c in _SCHEDULE_SECTIONS}
ScheduleConfig = Annotated[Union[_SCHEDULE_SECTIONS], Field(discriminator="name")]

_SCHEDULES: dict[str, Callable[[Any, float, float, int], Schedule]] = {
    "constant": lambda c, rate, per_epoch, total: constant(rate),
    "half_life": lambda c, rate, per_epoch, total: half_life(rate, c.half_life_epochs * per_epoch),
    "step": lambda c, rate, per_epoch, total: step_decay(rate, c.every_epochs * per_epoch, c.factor),
    "cosine": lambda c, rate, per_epoch, total: cosine(rate, total, c.final_fraction),
}

SCHEDULE_NAMES = tuple(_SCHEDULES)


def make_schedule(config: Any, rate: float, samples_per_epoch: float, total_samples: int) -> Schedule:
    """The schedule of a section with base learning rate `rate`: epochs become samples by
    multiplying by `samples_per_epoch`; `total_samples` is the length of training (cosine)."""
    schedule = _SCHEDULES[config.name](config, rate, samples_per_epoch, total_samples)
    return warmup(schedule, config.warmup_epochs * samples_per_epoch)
