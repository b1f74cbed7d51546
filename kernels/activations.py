"""Activation codes and scalar activation helpers usable inside njit kernels."""

import numpy as np

from wafersim_kernels._jit import fast_njit

RELU = 0
TANH = 1
IDENTITY = 2

ACTIVATIONS = {"relu": RELU, "tanh": TANH, "identity": IDENTITY}


def activation_code(act):
    """Return the integer code for an activation given by name or code."""
    if isinstance(act, str):
        try:
            return ACTIVATIONS[act.lower()]
        except KeyError:
            raise ValueError(f"unknown activation {act!r}") from None
    code = int(act)
    if code not in ACTIVATIONS.values():
        raise ValueError(f"unknown activation code {act!r}")
    return code


@fast_njit
def activate(z, act):
    """Apply activation `act` to the scalar pre-activation `z`."""
    if act == RELU:
        # Written as "z < 0" rather than "z > 0" so that a NaN input
        # propagates instead of being mapped to zero.
        if z < 0:
            return 0.0
        return z
    if act == TANH:
        return np.tanh(z)
    return z


@fast_njit
def derivative_from_output(h, act):
    """Derivative of activation `act` expressed through its output `h`."""
    if act == RELU:
        if h > 0:
            return 1.0
        return 0.0
    if act == TANH:
        return 1.0 - h * h
    return 1.0


@fast_njit
def activate_in_place(h, act):
    """h[i] = act(h[i]) for a flat array h (a convolution's feature maps after the bias)."""
    for i in range(h.shape[0]):
        h[i] = activate(h[i], act)
