"""Network initialisation and batched prediction."""

from __future__ import annotations

import numpy as np

from wafersim.config import ModelConfig
from wafersim.training.model import accuracy, init_params, predict


def test_glorot_and_he_shapes_ranges_and_seed():
    model = ModelConfig(layers=[20, 30, 5], init="glorot")
    weights, biases = init_params(model, seed=1)
    assert [W.shape for W in weights] == [(30, 20), (5, 30)]
    assert all(W.dtype == np.float32 and W.flags.c_contiguous for W in weights)
    assert np.abs(weights[0]).max() <= np.sqrt(6 / 50)
    assert not any(b.any() for b in biases)
    np.testing.assert_array_equal(init_params(model, seed=1)[0][1], weights[1])
    he, _ = init_params(ModelConfig(layers=[400, 300, 5], init="he"), seed=1)
    assert abs(he[0].std() - np.sqrt(2 / 400)) < 0.005


def test_predict_matches_a_hand_computed_network():
    W1 = np.array([[1.0, -1.0], [0.5, 0.5]], dtype=np.float32)
    W2 = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    b = [np.zeros(2, dtype=np.float32), np.array([0.0, 0.1], dtype=np.float32)]
    X = np.array([[2.0, 1.0], [0.0, 2.0]], dtype=np.float32)
    # relu(W1 x): [1, 1.5] -> logits [1, 1.6] -> 1;  [0, 1] -> [0, 1.1] -> 1
    model = ModelConfig(layers=[2, 2, 2], activation="relu")
    np.testing.assert_array_equal(predict(model, [W1, W2], b, X), [1, 1])
    assert accuracy(model, [W1, W2], b, X, np.array([1, 0])) == 0.5
