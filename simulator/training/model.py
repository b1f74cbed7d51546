"""A fully connected network's parameters: shapes, seeded initialisation and batched evaluation."""

from __future__ import annotations

import numpy as np

from ..config import ModelConfig


def init_params(model: ModelConfig, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights W_k of shape (n_out, n_in) and biases b_k (zeros), float32, for k = 1..D.

    glorot: uniform in +-sqrt(6 / (n_in + n_out)); he: normal with std sqrt(2 / n_in).
    One generator seeded with `seed` draws the layers in order, so a seed fixes every weight.
    """
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for n_in, n_out in zip(model.layers[:-1], model.layers[1:]):
        if model.init == "glorot":
            limit = np.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, size=(n_out, n_in))
        else:
            W = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))
        weights.append(np.ascontiguousarray(W, dtype=np.float32))
        biases.append(np.zeros(n_out, dtype=np.float32))
    return weights, biases


def predict(weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray, activation: str) -> np.ndarray:
    """Class predictions for the rows of X (shape (n, n_in)), with the weights as they stand."""
    H = X
    for k, (W, b) in enumerate(zip(weights, biases)):
        with np.errstate(invalid="ignore", over="ignore"):  # a diverged run has inf/NaN weights
            Z = H @ W.T + b
        if k == len(weights) - 1:
            return np.argmax(Z, axis=1)
        H = np.maximum(Z, 0) if activation == "relu" else np.tanh(Z)
    raise ValueError("a network needs at least one layer")


def accuracy(weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray, y: np.ndarray, activation: str) -> float:
    """Fraction of rows of X classified as y."""
    return float(np.mean(predict(weights, biases, X, activation) == y))
