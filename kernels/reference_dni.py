"""Plain-NumPy reference of decoupled neural interfaces (Jaderberg et al. 2017), sample by sample.

The update rule, written from the paper without the simulator's programs: the network is
cut after the `interfaces` layers into modules, each trained by plain SGD backprop on one
sample at a time. For sample s, module by module from the input: forward through the
module with its current weights; at the module's top interface k predict g = M_k(u)
(u = h_k, or [h_k; onehot(y)] conditioned) and back-propagate g through the module
(the top module back-propagates the true softmax cross-entropy gradient); every layer then
steps W -= lr outer(dz, x), b -= lr dz. The delta the module's bottom layer computes for
its input (with its weights before the step) is the target of the interface below.

M_k takes plain SGD steps on 1/2 ||M_k(u) - target||^2, one per target, in sample order.
When it predicts for sample s it has taken s - ages[k][s] steps: `ages` (the age of each
target, in M_k steps, when it trains M_k) is the one thing the hardware's timing decides,
and the simulator reports it (metrics.json layers[k-1].synthetic.age_runs). Every target
not yet used trains M_k at the end. Computes in the arrays' dtype (float32), as the
other reference loops.
"""

from __future__ import annotations

import numpy as np

from wafersim_kernels.reference import _activate_ref, _derivative_ref, softmax_cross_entropy_ref


def _sg_input(h, label, classes):
    if not classes:
        return h
    onehot = np.zeros(classes, dtype=h.dtype)
    onehot[label] = 1
    return np.concatenate([h, onehot])


def sg_forward(params, u):
    """M's layer outputs for input u: ReLU hidden layers, then the linear prediction (last)."""
    outs = []
    for i, (W, b) in enumerate(params):
        z = W @ u + b
        u = z if i == len(params) - 1 else np.maximum(z, 0)
        outs.append(u)
    return outs


def sg_step(params, u, target, lr):
    """One SGD step of M (list of [W, b], changed in place) on 1/2 ||M(u) - target||^2; returns that loss."""
    outs = sg_forward(params, u)
    residual = outs[-1] - target
    loss = 0.5 * float(np.dot(residual.astype(np.float64), residual.astype(np.float64)))
    dz = residual
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        below = u if i == 0 else outs[i - 1]
        grads.append((i, np.outer(dz, below), dz))
        if i > 0:
            dz = (W.T @ dz) * (outs[i - 1] > 0).astype(dz.dtype)
    for i, gW, gb in grads:
        params[i][0] -= lr * gW
        params[i][1] -= lr * gb
    return loss


def dni_reference(weights, biases, X, y, order, lr, act, interfaces, sg_params, sg_lr, ages, classes=0):
    """DNI over `order`; returns (weights, biases, sg_params, losses, sg_losses), all new objects.

    interfaces: layers k (1-based, ascending) with a module M_k after them; sg_params[k]: M_k's
    initial [[W, b], ...]; ages[k][s]: the age of sample s's target when it trained M_k;
    classes > 0: M_k's input also holds the one-hot label (cDNI). sg_losses[k] lists M_k's
    regression loss at each of its steps, in sample order.
    """
    weights = [np.array(W, copy=True) for W in weights]
    biases = [np.array(b, copy=True) for b in biases]
    sg = {k: [[np.array(W, copy=True), np.array(b, copy=True)] for W, b in sg_params[k]] for k in interfaces}
    D, N = len(weights), len(order)
    bounds = [0, *interfaces, D]  # module m holds layers bounds[m]+1 .. bounds[m+1]
    pending = {k: [] for k in interfaces}  # (u, target) not yet trained on, in sample order
    trained = {k: 0 for k in interfaces}
    sg_losses = {k: [] for k in interfaces}
    losses = np.full(N, np.nan)

    def train_until(k, steps):
        while trained[k] < steps:
            u, target = pending[k].pop(0)
            sg_losses[k].append(sg_step(sg[k], u, target, sg_lr))
            trained[k] += 1

    for s, row in enumerate(order):
        x, label = X[row], int(y[row])
        for m in range(len(bounds) - 1):
            lo, hi = bounds[m], bounds[m + 1]  # 0-based layers lo .. hi-1
            inputs, outputs = [], []
            for k in range(lo, hi):
                inputs.append(x)
                z = weights[k] @ x + biases[k]
                x = z if k == D - 1 else _activate_ref(z, act)
                outputs.append(x)
            if hi == D:
                loss, dz = softmax_cross_entropy_ref(z, label)
                losses[s] = loss
                e = None
            else:
                interface = hi  # the interface after layer hi (1-based)
                u = _sg_input(x, label, classes)
                train_until(interface, s - ages[interface][s])
                e = sg_forward(sg[interface], u)[-1]
                pending[interface].append((u, None))
            if m > 0:
                pending_below = pending[lo]
            for k in range(hi - 1, lo - 1, -1):
                if e is not None or k < hi - 1:
                    dz = e * _derivative_ref(outputs[k - lo], act)
                e = weights[k].T @ dz
                weights[k] -= lr * np.outer(dz, inputs[k - lo])
                biases[k] -= lr * dz
            if m > 0:  # the bottom layer's input delta: the target of the interface below, for this sample
                u_below, _ = pending_below[-1]
                pending_below[-1] = (u_below, e)
    for k in interfaces:
        train_until(k, N)
    return weights, biases, sg, losses, sg_losses
