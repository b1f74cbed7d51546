"""Numba kernels for dense-network training arithmetic, with NumPy oracles."""

from wafersim_kernels._jit import FAST
from wafersim_kernels.activations import (
    ACTIVATIONS,
    IDENTITY,
    RELU,
    TANH,
    activate,
    activation_code,
    derivative_from_output,
)
from wafersim_kernels.dense import accumulate_gradient, activation_backward, delta_to_input, dense_forward, rank_one_update
from wafersim_kernels.fused import train_sgd, train_sgd_fused
from wafersim_kernels.loss import softmax_cross_entropy
from wafersim_kernels.optim import (
    adadelta_direction,
    adagrad_direction,
    adam_direction,
    axpy,
    cg_direction,
    dot,
    hestenes_stiefel_dots,
    momentum_accumulate,
    nesterov_direction,
    spike_direction,
    rmsprop_direction,
    zero,
)
from wafersim_kernels.reference import (
    activation_backward_ref,
    delta_to_input_ref,
    dense_forward_ref,
    gradient_ref,
    mbgd_reference,
    sgd_reference,
    softmax_cross_entropy_ref,
)

__all__ = [
    "ACTIVATIONS",
    "FAST",
    "IDENTITY",
    "RELU",
    "TANH",
    "accumulate_gradient",
    "activate",
    "activation_backward",
    "activation_backward_ref",
    "activation_code",
    "adadelta_direction",
    "adagrad_direction",
    "adam_direction",
    "axpy",
    "cg_direction",
    "delta_to_input",
    "delta_to_input_ref",
    "dense_forward",
    "dense_forward_ref",
    "derivative_from_output",
    "dot",
    "gradient_ref",
    "hestenes_stiefel_dots",
    "mbgd_reference",
    "rank_one_update",
    "rmsprop_direction",
    "momentum_accumulate",
    "nesterov_direction",
    "sgd_reference",
    "spike_direction",
    "softmax_cross_entropy",
    "softmax_cross_entropy_ref",
    "train_sgd",
    "train_sgd_fused",
    "zero",
]
