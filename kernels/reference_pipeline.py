"""Plain-NumPy references of asynchronous pipelined SGD: fixed per-layer delays (PipeDream, CP), 2BW, and CP's corrections.

The synchronous step model of an asynchronous pipeline with one sample per update: layer k
(1..D) forwards sample s with its weights after max(0, s - delays[k-1]) updates, then
updates once per sample, in sample order. Its backward reads the weights its forward used
(`anchored`: weight stashing, as PipeDream and CP's anchored rule do) or the current ones,
the weights after s updates (immediate). PipeDream's delays are K-k, CP's 2(D-k). Computes
in the arrays' dtype (float32), as the other reference loops.

`pipemare_reference` is PipeMare's rule, PipeDream's delays without stashing, with its
learning-rate rescheduling and discrepancy correction.

`corrected_reference` is CP's step model under heavy-ball momentum with Kosson et al.'s
spike compensation and linear weight prediction.

`versioned_kernel_reference` is the same loop with the version each layer reads given per
sample, and computed with the simulator's compiled kernels, call for call as a layer makes
them: a run that follows the step model equals it bit for bit, where the NumPy loop agrees
only to float32 rounding (the kernels' fast-math sums are ordered differently).
"""

from __future__ import annotations

import numpy as np

from wafersim_kernels.activations import ACTIVATIONS
from wafersim_kernels.dense import (activation_backward, delta_to_input, dense_backward, dense_forward,
                                    dense_forward_loss, rank_one_update)
from wafersim_kernels.reference import _activate_ref, _derivative_ref, _sample_gradients, softmax_cross_entropy_ref


def _forward(x, label: int, D: int, act, read):
    """One sample's forward through D layers, layer k on the weights read(k) gives:
    (weights used, inputs, outputs, loss, dL/dz of the top)."""
    used, inputs, outputs = [], [], []
    for k in range(D):
        W, b = read(k)
        used.append(W)
        inputs.append(x)
        z = W @ x + b
        x = z if k == D - 1 else _activate_ref(z, act)
        outputs.append(x)
    loss, dz = softmax_cross_entropy_ref(z, label)
    return used, inputs, outputs, loss, dz


def stale_reference(weights, biases, X, y, order, lr, act, delays, anchored):
    """Returns (weights, biases, losses); `delays[k]` is layer k+1's staleness in updates once the pipeline
    is full. Plain SGD: `corrected_reference` without momentum or corrections."""
    return corrected_reference(weights, biases, X, y, order, lr, act, 0.0, delays, False, False, anchored)


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


def versioned_kernel_reference(weights, biases, X, y, order, lr, act, versions, anchored):
    """`stale_reference` with `versions[k][s]`, the updates applied to layer k+1's weights that
    sample s's forward reads (at most s), in place of the delays, and the simulator's kernels
    (plain SGD, per-sample updates streamed into W and b). Returns (weights, biases, losses)."""
    history = [[(np.array(W, copy=True), np.array(b, copy=True))] for W, b in zip(weights, biases)]
    D = len(weights)
    code = ACTIVATIONS[act]
    losses = np.full(len(order), np.nan)
    for s, row in enumerate(order):
        x, used, inputs, outputs = X[row], [], [], []
        for k in range(D):
            W, b = history[k][versions[k][s]]
            used.append(W)
            inputs.append(x)
            out = np.empty(W.shape[0], W.dtype)
            if k == D - 1:
                losses[s] = dense_forward_loss(W, b, x, np.empty_like(out), int(y[row]), out)
            else:
                dense_forward(W, b, x, out, code)
            outputs.append(out)
            x = out
        e = None
        for k in range(D - 1, -1, -1):
            W_now, b_now = history[k][s]
            W_read = used[k] if anchored else W_now
            if k == D - 1:
                dz = outputs[k]
                delta = None
                if k > 0:
                    delta = np.empty(W_now.shape[1], W_now.dtype)
                    delta_to_input(W_read, dz, delta)
            else:
                dz = np.empty(W_now.shape[0], W_now.dtype)
                delta = None
                if k > 0:
                    delta = np.empty(W_now.shape[1], W_now.dtype)
                    dense_backward(W_read, outputs[k], e, dz, delta, code)
                else:
                    activation_backward(outputs[k], e, dz, code)
            W_new, b_new = W_now.copy(), b_now.copy()
            rank_one_update(W_new, b_new, dz, inputs[k], -lr, True)
            history[k].append((W_new, b_new))
            e = delta
    return [h[-1][0] for h in history], [h[-1][1] for h in history], losses


def corrected_reference(weights, biases, X, y, order, lr, act, mu, delays, spike, predict, anchored):
    """CP's step model (`stale_reference` with `delays[k]` = 2(D-k)) under heavy-ball momentum with
    Kosson et al.'s corrections. Layer k forwards sample s on its weights after max(0, s - D_k)
    updates, extrapolated with `predict` to W + D_k (W - W_prev) along the step that made them;
    its update is v = mu v + g with the step -lr v, or with `spike` -lr (a v + b g), a = mu^D_k,
    b = (1 - mu^D_k) / (1 - mu). Returns (weights, biases, losses)."""
    history = [[(np.array(W, copy=True), np.array(b, copy=True))] for W, b in zip(weights, biases)]
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in zip(weights, biases)]
    D = len(weights)
    f32 = np.float32
    losses = np.full(len(order), np.nan)
    for s, row in enumerate(order):
        def read(k):
            v = max(0, s - delays[k])
            W, b = history[k][v]
            if predict and delays[k] > 0 and v > 0:
                W_prev, b_prev = history[k][v - 1]
                W, b = W + f32(delays[k]) * (W - W_prev), b + f32(delays[k]) * (b - b_prev)
            return W, b

        used, inputs, outputs, losses[s], dz = _forward(X[row], int(y[row]), D, act, read)
        for k in range(D - 1, -1, -1):
            W_now, b_now = history[k][s]
            delta = (used[k] if anchored else W_now).T @ dz
            grads = (np.outer(dz, inputs[k]), dz)
            a = mu ** delays[k] if spike else 1.0
            c = (1.0 - a) / (1.0 - mu) if spike else 0.0
            stepped = []
            for p, vel, g in zip((W_now, b_now), velocity[k], grads):
                vel *= f32(mu)
                vel += g
                stepped.append(p - f32(lr) * (f32(a) * vel + f32(c) * g))
            history[k].append(tuple(stepped))
            if k > 0:
                dz = delta * _derivative_ref(outputs[k - 1], act)
    return [h[-1][0] for h in history], [h[-1][1] for h in history], losses


def pipemare_reference(weights, biases, X, y, order, lr, act, rescheduling, correction, decay):
    """PipeMare's update rule on the step model of uniform ops (plain SGD). Stage k (1..K, 0-based
    here) forwards sample s on its weights after max(0, s - (K-k)) updates and back-propagates on
    its current ones, with `correction` (T2, not on the first or top stage) W - (K-k) delta instead,
    delta <- decay delta + (1 - decay) (W_new - W_old) after each update; with `rescheduling` T
    (T1) its step is lr tau^-p, tau = max(K-k, 1), p = 1 - min(s / T, 1). Returns (weights, biases, losses)."""
    history = [[(np.array(W, copy=True), np.array(b, copy=True))] for W, b in zip(weights, biases)]
    deltas = [np.zeros_like(W) for W in weights]
    D = len(weights)
    f32 = np.float32
    losses = np.full(len(order), np.nan)
    for s, row in enumerate(order):
        _, inputs, outputs, losses[s], dz = _forward(X[row], int(y[row]), D, act,
                                                     lambda k: history[k][max(0, s - (D - 1 - k))])
        for k in range(D - 1, -1, -1):
            W_now, b_now = history[k][s]
            tau = D - 1 - k
            W_read = W_now - f32(tau) * deltas[k] if correction and 0 < k < D - 1 else W_now
            delta = W_read.T @ dz
            p = 1.0 - min(s / rescheduling, 1.0) if rescheduling else 0.0
            rate = f32(lr * float(max(tau, 1)) ** -p)
            W_new, b_new = W_now - rate * np.outer(dz, inputs[k]), b_now - rate * dz
            deltas[k] = f32(decay) * deltas[k] + f32(1.0 - decay) * (W_new - W_now)
            history[k].append((W_new, b_new))
            if k > 0:
                dz = delta * _derivative_ref(outputs[k - 1], act)
    return [h[-1][0] for h in history], [h[-1][1] for h in history], losses
