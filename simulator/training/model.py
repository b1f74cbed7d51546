"""A network's parameters: seeded initialisation and batched evaluation, layer by layer through the layers' shapes."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

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
    """Class predictions for the rows of X (shape (n, n_in)), with the weights as they stand.

    The matrix products run on one BLAS thread: OpenBLAS threads spin for a while after each
    call, and on a small machine they would take the core the simulation runs on (that made
    the compiled engine's replay a third slower on 2 cores). Splitting a product over threads
    divides rows and columns, not the sums, so the values are the same either way.
    """
    H = X
    with threadpool_limits(limits=1, user_api="blas"):
        for shape, W, b in zip(network_shapes(model), weights, biases):
            H = shape.forward_batch(W, b, H)
    return np.argmax(H, axis=1)


def accuracy(model: ModelConfig, weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray,
             y: np.ndarray) -> float:
    """Fraction of rows of X classified as y."""
    return float(np.mean(predict(model, weights, biases, X) == y))
