"""Tests for activation codes and the scalar activation helpers."""

import math

import numpy as np
import pytest

from wafersim_kernels import (
    ACTIVATIONS,
    IDENTITY,
    RELU,
    TANH,
    activate,
    activation_code,
    derivative_from_output,
)

VALUES = [-3.5, -1.0, -1e-3, 0.0, 1e-3, 0.5, 2.0, 7.25]


def test_codes():
    assert (RELU, TANH, IDENTITY) == (0, 1, 2)
    assert ACTIVATIONS == {"relu": RELU, "tanh": TANH, "identity": IDENTITY}


@pytest.mark.parametrize("name", ["relu", "tanh", "identity"])
def test_activation_code_accepts_names_and_codes(name):
    assert activation_code(name) == ACTIVATIONS[name]
    assert activation_code(name.upper()) == ACTIVATIONS[name]
    assert activation_code(ACTIVATIONS[name]) == ACTIVATIONS[name]


@pytest.mark.parametrize("bad", ["sigmoid", 3, -1])
def test_activation_code_rejects_unknown(bad):
    with pytest.raises(ValueError):
        activation_code(bad)


@pytest.mark.parametrize("z", VALUES)
def test_activate(z):
    z32 = np.float32(z)
    assert activate(z32, RELU) == max(z32, 0)
    assert activate(z32, IDENTITY) == z32
    # np.tanh on float32 may round differently from the compiled tanh by an ulp.
    assert activate(z32, TANH) == pytest.approx(math.tanh(z32), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("z", VALUES)
def test_derivative_from_output(z):
    h = np.float32(z)
    assert derivative_from_output(h, RELU) == (1.0 if h > 0 else 0.0)
    assert derivative_from_output(h, IDENTITY) == 1.0
    t = np.float32(math.tanh(z))
    expected = 1.0 - float(t) * float(t)
    assert derivative_from_output(t, TANH) == pytest.approx(expected, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("act", [RELU, TANH, IDENTITY])
def test_nan_propagates_through_activate(act):
    assert math.isnan(activate(np.float32(np.nan), act))


def test_relu_of_negative_infinity_is_zero():
    assert activate(np.float32(-np.inf), RELU) == 0.0


@pytest.mark.parametrize("act", ["relu", "tanh", "identity"])
def test_activate_in_place_is_the_oracle_on_every_element(act):
    from wafersim_kernels.activations import activate_in_place
    from wafersim_kernels.reference import _activate_ref

    z = np.random.default_rng(3).standard_normal(257).astype(np.float32)
    h = z.copy()
    activate_in_place(h, ACTIVATIONS[act])
    np.testing.assert_allclose(h, _activate_ref(z, act), rtol=1e-6, atol=1e-7)
