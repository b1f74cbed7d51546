"""The parameter store's arithmetic: versions, staleness, staleness-aware steps, lock-free partial reads."""

from __future__ import annotations

import numpy as np
import pytest

from wafersim.algorithms.store import ParameterStore, rows_written
from wafersim.layers import Dense
from tests.builders import dense_layer


def _store(staleness_aware: bool, rate: float = 1.0, arithmetic: bool = True) -> ParameterStore:
    return ParameterStore(dense_layer(rate=rate, arithmetic=arithmetic), staleness_aware)


# Scripted arrivals: (base version the worker pulled, gradient value). The store is at version i
# when the i-th arrives, so the staleness is i - base: 0, 1, 1, 3, 0 (the last counts as 1).
ARRIVALS = [(0, 1.0), (0, 2.0), (1, 4.0), (0, 8.0), (4, 16.0)]


@pytest.mark.parametrize("aware, scales", [(False, [1, 1, 1, 1, 1]), (True, [1, 1, 1, 1 / 3, 1])])
def test_scripted_arrivals(aware, scales):
    store = _store(aware, rate=0.5)
    staleness = []
    for base, g in ARRIVALS:
        grads = [np.full((2, 3), g, np.float32), np.full(2, g, np.float32)]
        staleness.append(store.apply(grads, mean_over=2, samples=2, base_version=base))
    assert staleness == [0, 1, 1, 3, 0]
    assert store.version == 5 and store.applied == 10
    # Each step adds -rate * scale * g / mean_over, rounded to float32 as the kernels do.
    expected = np.float32(0)
    for (_, g), scale in zip(ARRIVALS, scales):
        expected += np.float32(-0.5 * scale) * np.float32(g / 2)
    np.testing.assert_array_equal(store.layer.W, np.full((2, 3), expected, np.float32))
    np.testing.assert_array_equal(store.layer.b, np.full(2, expected, np.float32))


def test_scale_is_one_over_staleness_with_zero_counting_as_one():
    aware, plain = _store(True), _store(False)
    assert [aware.scale(s) for s in (0, 1, 2, 5)] == [1.0, 1.0, 0.5, 0.2]
    assert [plain.scale(s) for s in (0, 1, 2, 5)] == [1.0] * 4


def test_timing_only_apply_counts_versions_without_arithmetic():
    store = _store(False, arithmetic=False)
    assert store.apply(None, 1, 4, 0) == 0 and store.apply(None, 1, 4, 0) == 1
    assert store.version == 2 and store.applied == 8 and store.read() is None


def test_read_is_a_copy():
    store = _store(False)
    W, b = store.read()
    W += 1
    assert not store.layer.W.any()


@pytest.mark.parametrize("now, rows", [(10, 0), (11, 0), (12, 1), (14, 2), (17, 3), (18, 4), (30, 4)])
def test_rows_written_at_an_even_rate(now, rows):
    """4 rows over cycles [10, 18): one row every 2 cycles."""
    assert rows_written(4, 10, 18, now) == rows


def test_partial_read_takes_written_rows_from_after():
    before = (np.zeros((3, 2), np.float32), np.zeros(3, np.float32))
    after = (np.ones((3, 2), np.float32), np.ones(3, np.float32))
    W, b = Dense.partial_read(before, after, 2)
    np.testing.assert_array_equal(W, [[1, 1], [1, 1], [0, 0]])
    np.testing.assert_array_equal(b, [1, 1, 0])
