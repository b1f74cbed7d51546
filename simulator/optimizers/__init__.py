"""Optimizers for the simulated training: stateful transforms chained per layer, schedules, YAML sections.

    from wafersim.optimizers import AdamConfig, constant, make_optimizer, step, UpdateInfo
    opt = make_optimizer(AdamConfig(), constant(1e-3))
    state = opt.init([W, b])
    state = step(opt, [W, b], [gW, gb], state, UpdateInfo(samples=0, count=32))
"""

from .base import State, Transform, UpdateInfo, apply, chain, no_state, state_arrays, step, streaming_coefficient
from .registry import (BYTES_PER_FLOAT, OPTIMIZER_NAMES, OPTIMIZERS, SCHEDULE_CONFIGS, SCHEDULE_NAMES,
                       AdadeltaConfig, AdagradConfig, AdamConfig, ConjugateGradientConfig, ConstantSchedule, CosineSchedule, HalfLifeSchedule,
                       MomentumConfig, NesterovConfig, OptimizerConfig, OptimizerKind, RMSPropConfig, ScheduleConfig,
                       SGDConfig, StepSchedule, facts, make_optimizer, make_schedule, named_section)
from .schedules import Schedule, constant, cosine, half_life, step_decay, warmup
from .transforms import (CG_METHODS, adadelta, adagrad, adam, average, conjugate_gradient, delay_rescheduling,
                         learning_rate, momentum, nesterov, rmsprop, spike_compensation)

__all__ = [
    "BYTES_PER_FLOAT",
    "CG_METHODS",
    "OPTIMIZERS",
    "OPTIMIZER_NAMES",
    "SCHEDULE_CONFIGS",
    "SCHEDULE_NAMES",
    "AdadeltaConfig",
    "AdagradConfig",
    "AdamConfig",
    "ConjugateGradientConfig",
    "ConstantSchedule",
    "CosineSchedule",
    "HalfLifeSchedule",
    "MomentumConfig",
    "NesterovConfig",
    "OptimizerConfig",
    "OptimizerKind",
    "RMSPropConfig",
    "SGDConfig",
    "Schedule",
    "ScheduleConfig",
    "State",
    "StepSchedule",
    "Transform",
    "UpdateInfo",
    "adadelta",
    "adagrad",
    "adam",
    "apply",
    "average",
    "chain",
    "conjugate_gradient",
    "constant",
    "cosine",
    "delay_rescheduling",
    "facts",
    "half_life",
    "learning_rate",
    "make_optimizer",
    "named_section",
    "make_schedule",
    "momentum",
    "nesterov",
    "no_state",
    "rmsprop",
    "spike_compensation",
    "state_arrays",
    "step",
    "step_decay",
    "streaming_coefficient",
    "warmup",
]
