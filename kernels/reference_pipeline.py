"""Plain-NumPy references of asynchronous pipelined SGD: fixed per-layer delays (PipeDream, CP), and 2BW.

The synchronous step model of an asynchronous pipeline with one sample per update: layer k
(1..D) forwards sample s with its weights after max(0, s - delays[k-1]) updates, then
updates once per sample, in sample order. Its backward reads the weights its forward used
(`anchored`: weight stashing, as PipeDream and CP's anchored rule do) or the current ones,
the weights after s updates (immediate). PipeDream's delays are K-k, CP's 2(D-k). Computes
in the arrays' dtype (float32), as the other reference loops.
"""

from __future__ import annotations

import numpy as np

from wafersim_kernels.reference import _activate_ref, _derivative_ref, _sample_gradients, softmax_cross_entropy_ref


def stale_reference(weights, biases, X, y, order, lr, act, delays, anchored):
    """Returns (weights, biases, losses); `delays[k]` is layer k+1's staleness in updates once the pipeline is full."""
    history = [[(np.array(W, copy=True), np.array(b, copy=True))] for W, b in zip(weights, biases)]
    D = len(weights)
    losses = np.full(len(order), np.nan)
    for s, row in enumerate(order):
        x, used, inputs, outputs = X[row], [], [], []
        for k in range(D):
            W, b = history[k][max(0, s - delays[k])]
            used.append(W)
            inputs.append(x)
            z = W @ x + b
            x = z if k == D - 1 else _activate_ref(z, act)
            outputs.append(x)
        losses[s], dz = softmax_cross_entropy_ref(z, int(y[row]))
        for k in range(D - 1, -1, -1):
            W_now, b_now = history[k][s]
            delta = (used[k] if anchored else W_now).T @ dz
            history[k].append((W_now - lr * np.outer(dz, inputs[k]), b_now - lr * dz))
            if k > 0:
                dz = delta * _derivative_ref(outputs[k - 1], act)
    return [h[-1][0] for h in history], [h[-1][1] for h in history], losses


def two_bw_reference(weights, biases, X, y, order, micro_batches, lr, act):
    """PipeDream-2BW's update rule: W(t+1) = W(t) - lr * mean over mini-batch t of grad(W(t-1))
    (W(-1) = W(0)), every layer alike. Returns (weights, biases, losses)."""
    current = ([np.array(W, copy=True) for W in weights], [np.array(b, copy=True) for b in biases])
    previous = current
    losses = np.full(len(order), np.nan)
    for start in range(0, len(order), micro_batches):
        rows = order[start:start + micro_batches]
        sums_w = [np.zeros_like(W) for W in current[0]]
        sums_b = [np.zeros_like(b) for b in current[1]]
        for i, row in enumerate(rows):
            loss, gw, gb = _sample_gradients(previous[0], previous[1], X[row], int(y[row]), act)
            losses[start + i] = loss
            for k in range(len(sums_w)):
                sums_w[k] += gw[k]
                sums_b[k] += gb[k]
        n = np.float32(len(rows))
        updated = ([W - lr * (g / n) for W, g in zip(current[0], sums_w)],
                   [b - lr * (g / n) for b, g in zip(current[1], sums_b)])
        previous, current = current, updated
    return current[0], current[1], losses
