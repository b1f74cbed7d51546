"""Plain-NumPy reference of CP with reverse checkpointing, given the weight version every op read.

Layer k (0-based here) applies one update per sample, in sample order, so its weights
after v updates are a history that a loop over the samples can build as it goes. Sample
s: the forward runs every layer on its version `versions["F"][s, k]` (the loss and the
checkpoints' inputs come from it); each segment [c, next checkpoint) then recomputes from
the kept input of c, layer j on version `versions["C"][s, j]`; the backward uses the
recomputed inputs and outputs, W^T dz on version `versions["B"][s, k]`, and applies the
gradient to the current weights (after s updates). Computes in float32, as the other
reference loops.
"""

from __future__ import annotations

import numpy as np

from wafersim_kernels.reference import _activate_ref, _derivative_ref, softmax_cross_entropy_ref


def checkpoint_reference(weights, biases, X, y, order, lr, act, checkpoints, versions):
    """Returns (weights, biases, losses). `checkpoints`: 1-based checkpoint layers, 1 first;
    `versions`: "F", "C", "B" -> int arrays (samples, layers) of the version each op read."""
    history = [[(np.array(W, copy=True), np.array(b, copy=True))] for W, b in zip(weights, biases)]
    D = len(weights)
    starts = [c - 1 for c in checkpoints]
    segments = list(zip(starts, starts[1:] + [D]))  # [c, end) 0-based
    losses = np.full(len(order), np.nan)
    for s, row in enumerate(order):
        label = int(y[row])
        x, inputs = X[row], []
        for k in range(D):
            W, b = history[k][versions["F"][s, k]]
            inputs.append(x)
            z = W @ x + b
            x = z if k == D - 1 else _activate_ref(z, act)
        losses[s], _ = softmax_cross_entropy_ref(z, label)

        rx, rh = [None] * D, [None] * D  # each layer's recomputed input and output (the top: dL/dz)
        for c, end in segments:
            x = inputs[c]
            for j in range(c, end):
                W, b = history[j][versions["C"][s, j]]
                rx[j] = x
                z = W @ x + b
                x = softmax_cross_entropy_ref(z, label)[1] if j == D - 1 else _activate_ref(z, act)
                rh[j] = x

        dz = rh[D - 1]
        for k in range(D - 1, -1, -1):
            W_now, b_now = history[k][s]
            delta = history[k][versions["B"][s, k]][0].T @ dz
            history[k].append((W_now - lr * np.outer(dz, rx[k]), b_now - lr * dz))
            if k > 0:
                dz = delta * _derivative_ref(rh[k - 1], act)
    return [h[-1][0] for h in history], [h[-1][1] for h in history], losses
