"""A network's parameters: seeded initialisation and batched evaluation, layer by layer through the layers' shapes."""

from __future__ import annotations

import numpy as np

from ..config import ModelConfig
from ..layers import network_shapes


def init_params(model: ModelConfig, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights W_k and biases b_k, float32, for k = 1..D, as each layer's shape initialises them.

    One generator seeded with `seed` draws the layers in order, so a seed fixes every weight.
    """
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for shape in network_shapes(model):
        W, b = shape.initial(rng, model.init)
        weights.append(W)
        biases.append(b)
    return weights, biases


def predict(model: ModelConfig, weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray) -> np.ndarray:
    """Class predictions for the rows of X (shape (n, n_in)), with the weights as they stand."""
    H = X
    for shape, W, b in zip(network_shapes(model), weights, biases):
        H = shape.forward_batch(W, b, H)
    return np.argmax(H, axis=1)


def accuracy(model: ModelConfig, weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray,
             y: np.ndarray) -> float:
    """Fraction of rows of X classified as y."""
    return float(np.mean(predict(model, weights, biases, X) == y))
