"""Numba kernels for dense-network training arithmetic, with NumPy oracles."""

from kernels._jit import FAST
from kernels.activations import (
    ACTIVATIONS,
    IDENTITY,
    RELU,
    TANH,
    activate,
    activation_code,
    derivative_from_output,
)
from kernels.dense import accumulate_gradient, activation_backward, delta_to_input, dense_forward, rank_one_update
from kernels.fused import train_sgd, train_sgd_fused
from kernels.loss import softmax_cross_entropy
from kernels.optim import axpy, momentum_accumulate, zero
from kernels.reference import (
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
    "axpy",
    "delta_to_input",
    "delta_to_input_ref",
    "dense_forward",
    "dense_forward_ref",
    "derivative_from_output",
    "gradient_ref",
    "mbgd_reference",
    "rank_one_update",
    "momentum_accumulate",
    "sgd_reference",
    "softmax_cross_entropy",
    "softmax_cross_entropy_ref",
    "train_sgd",
    "train_sgd_fused",
    "zero",
]
