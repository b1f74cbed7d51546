"""Fused batch-size-1 SGD training loop: the arithmetic floor for benchmarks."""

import numpy as np
from numba.typed import List

from wafersim_kernels._jit import cached_njit
from wafersim_kernels.activations import IDENTITY, activation_code
from wafersim_kernels.dense import accumulate_gradient, activation_backward, delta_to_input, dense_forward
from wafersim_kernels.loss import softmax_cross_entropy


@cached_njit
def train_sgd_fused(weights, biases, X, y, order, lr, act):
    """Run batch-size-1 SGD over `order`, updating weights and biases in place.

    weights: typed List of C-contiguous (n_out, n_in) arrays, layer by layer;
    biases: typed List of (n_out,) arrays; X (N, n_in0); y (N,) int labels;
    order (S,) int sample indices; lr float; act: hidden activation code (the
    last layer is identity followed by softmax cross-entropy). Returns the
    (S,) float64 array of per-sample losses, each computed before its update.
    """
    n_layers = len(weights)
    # Buffers allocated once: outs[l] is the output of layer l, deltas[l] the
    # loss gradient w.r.t. its pre-activation, errs[l] w.r.t. its output.
    outs = List()
    deltas = List()
    errs = List()
    for layer in range(n_layers):
        n_out = weights[layer].shape[0]
        outs.append(np.empty(n_out, dtype=X.dtype))
        deltas.append(np.empty(n_out, dtype=X.dtype))
        errs.append(np.empty(n_out, dtype=X.dtype))
    neg_lr = -lr
    losses = np.empty(order.shape[0], dtype=np.float64)
    for step in range(order.shape[0]):
        idx = order[step]
        x = X[idx]
        for layer in range(n_layers):
            inp = x if layer == 0 else outs[layer - 1]
            layer_act = act if layer < n_layers - 1 else IDENTITY
            dense_forward(weights[layer], biases[layer], inp, outs[layer], layer_act)
        losses[step] = softmax_cross_entropy(outs[n_layers - 1], y[idx], deltas[n_layers - 1])
        for layer in range(n_layers - 1, -1, -1):
            W = weights[layer]
            dz = deltas[layer]
            # Propagate with the weights as they were before this step's update.
            if layer > 0:
                delta_to_input(W, dz, errs[layer - 1])
            # Scale dz by -lr so accumulate_gradient applies the SGD update
            # W -= lr * outer(dz, inp), b -= lr * dz in a single pass over W.
            for i in range(dz.shape[0]):
                dz[i] = dz[i] * neg_lr
            inp = x if layer == 0 else outs[layer - 1]
            accumulate_gradient(W, biases[layer], dz, inp)
            if layer > 0:
                activation_backward(outs[layer - 1], errs[layer - 1], deltas[layer - 1], act)
    return losses


def train_sgd(weights, biases, X, y, order, lr, act):
    """Python entry point for train_sgd_fused taking plain lists of arrays.

    The arrays in `weights` and `biases` are updated in place (the typed lists
    hold references to the same buffers). `act` is a name or code. Returns the
    float64 array of per-sample losses.
    """
    if len(weights) != len(biases) or not weights:
        raise ValueError("weights and biases must be non-empty lists of equal length")
    dtype = np.dtype(X.dtype)
    typed_w = List()
    typed_b = List()
    n_in = X.shape[1]
    for W, b in zip(weights, biases):
        if W.dtype != dtype or b.dtype != dtype:
            raise TypeError("weights, biases and X must share one dtype")
        if not (W.flags.c_contiguous and b.flags.c_contiguous):
            raise ValueError("weights and biases must be C-contiguous")
        if W.ndim != 2 or W.shape[1] != n_in or b.shape != (W.shape[0],):
            raise ValueError("layer shapes do not chain")
        n_in = W.shape[0]
        typed_w.append(W)
        typed_b.append(b)
    X = np.ascontiguousarray(X)
    y = np.ascontiguousarray(y, dtype=np.int64)
    order = np.ascontiguousarray(order, dtype=np.int64)
    n_classes = weights[-1].shape[0]
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError("labels out of range")
    if order.size and (order.min() < 0 or order.max() >= X.shape[0]):
        raise ValueError("sample indices out of range")
    return train_sgd_fused(typed_w, typed_b, X, y, order, float(lr), activation_code(act))
