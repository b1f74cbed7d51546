"""Tests for the softmax cross-entropy kernel."""

import math

import numpy as np
import pytest

from wafersim_kernels import softmax_cross_entropy, softmax_cross_entropy_ref


@pytest.mark.parametrize("n", [1, 2, 10, 257])
def test_matches_oracle(n):
    rng = np.random.default_rng(n)
    for trial in range(5):
        z = (rng.standard_normal(n) * 3).astype(np.float32)
        label = int(rng.integers(n))
        dz = np.empty(n, dtype=np.float32)
        loss = softmax_cross_entropy(z, label, dz)
        ref_loss, ref_dz = softmax_cross_entropy_ref(z, label)
        assert isinstance(loss, float)
        # Both accumulate the log-sum-exp in float64; only the summation
        # order and exp/log implementations differ.
        assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)
        # dz is rounded to float32 once from float64 values.
        np.testing.assert_allclose(dz, ref_dz, rtol=1e-6, atol=1e-7)
        assert abs(float(dz.astype(np.float64).sum())) < 1e-6


def test_stable_for_large_logits():
    z = np.array([1000.0, 0.0, -1000.0], dtype=np.float32)
    dz = np.empty(3, dtype=np.float32)
    assert softmax_cross_entropy(z, 0, dz) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(dz, [0.0, 0.0, 0.0])
    assert softmax_cross_entropy(z, 1, dz) == pytest.approx(1000.0)
    assert softmax_cross_entropy(z, 2, dz) == pytest.approx(2000.0)
    np.testing.assert_array_equal(dz, [1.0, 0.0, -1.0])
    same = np.full(4, 1000.0, dtype=np.float32)
    dz4 = np.empty(4, dtype=np.float32)
    assert softmax_cross_entropy(same, 3, dz4) == pytest.approx(math.log(4))
    np.testing.assert_allclose(dz4, [0.25, 0.25, 0.25, -0.75])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("pos", [0, 2])
def test_non_finite_logits_give_non_finite_loss(bad, pos):
    z = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    z[pos] = bad
    dz = np.empty(3, dtype=np.float32)
    assert not math.isfinite(softmax_cross_entropy(z, 1, dz))
