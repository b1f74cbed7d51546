"""Plain-NumPy oracles for the kernels and reference training loops."""

import numpy as np

from wafersim_kernels.activations import IDENTITY, RELU, TANH, activation_code

# The single-op oracles compute in float64 and cast back to the input dtype,
# so they are more accurate than the float32 kernels they check. The training
# loops run in the input dtype to mirror the precision of the fused loop.


def _activate_ref(z, act):
    code = activation_code(act)
    if code == RELU:
        return np.maximum(z, 0)
    if code == TANH:
        return np.tanh(z)
    return z


def _derivative_ref(h, act):
    code = activation_code(act)
    if code == RELU:
        return (h > 0).astype(h.dtype)
    if code == TANH:
        return 1 - h * h
    return np.ones_like(h)


def dense_forward_ref(W, b, x, act):
    """act(W @ x + b) for W (n_out, n_in), b (n_out,), x (n_in,)."""
    z = W.astype(np.float64) @ x.astype(np.float64) + b.astype(np.float64)
    return _activate_ref(z, act).astype(W.dtype)


def delta_to_input_ref(W, dz):
    """W.T @ dz, shape (n_in,)."""
    return (W.astype(np.float64).T @ dz.astype(np.float64)).astype(W.dtype)


def activation_backward_ref(h, e, act):
    """e * act'(.) evaluated from the layer output h."""
    h64 = h.astype(np.float64)
    return (e.astype(np.float64) * _derivative_ref(h64, act)).astype(h.dtype)


def gradient_ref(dz, x):
    """Per-sample gradients (outer(dz, x), dz) for W and b."""
    outer = np.outer(dz.astype(np.float64), x.astype(np.float64))
    return outer.astype(dz.dtype), dz.copy()


def softmax_cross_entropy_ref(z, label):
    """(loss, dz) with loss = -log softmax(z)[label], dz = softmax(z) - onehot."""
    z64 = z.astype(np.float64)
    shifted = z64 - np.max(z64)
    lse = np.log(np.sum(np.exp(shifted)))
    p = np.exp(shifted - lse)
    p[label] -= 1.0
    loss = float(lse - shifted[label])
    if not np.all(np.isfinite(z64)):
        # Same contract as the kernel: any non-finite logit poisons the loss.
        loss = float("nan")
    return loss, p.astype(z.dtype)


def _sample_gradients(weights, biases, x, label, act):
    """Loss and per-layer (gW, gb) of one sample, in the weights' dtype."""
    n_layers = len(weights)
    inputs = []
    h = x
    for layer in range(n_layers):
        inputs.append(h)
        z = weights[layer] @ h + biases[layer]
        h = _activate_ref(z, act if layer < n_layers - 1 else IDENTITY)
    loss, dz = softmax_cross_entropy_ref(h, label)
    grads_w = [None] * n_layers
    grads_b = [None] * n_layers
    for layer in range(n_layers - 1, -1, -1):
        grads_w[layer] = np.outer(dz, inputs[layer])
        grads_b[layer] = dz
        if layer > 0:
            e = weights[layer].T @ dz
            dz = e * _derivative_ref(inputs[layer], act)
    return loss, grads_w, grads_b


def _apply_update(params, velocities, grads, lr, momentum):
    """params[k] -= lr * step in place, with step = grad or the momentum buffer (updated in place)."""
    for k, grad in enumerate(grads):
        if momentum:
            velocities[k] *= momentum
            velocities[k] += grad
            step = velocities[k]
        else:
            step = grad
        params[k] -= lr * step


def _layer_step(opt, W, b, gW, gb, use_bias):
    """One update of one layer by an optimizer oracle (wafersim_kernels.reference_optimizers), W and b together."""
    opt.step([W, b] if use_bias else [W], [gW, gb] if use_bias else [gW])


def sgd_reference(weights, biases, X, y, order, lr, act, momentum=0.0, use_bias=True, optimizer=None):
    """Batch-size-1 SGD over `order`; returns (weights, biases, losses) as new objects.

    `optimizer`, if given, makes one optimizer oracle per layer (e.g. `lambda: AdamRef(0.01)`)
    that replaces the plain (momentum) step; `lr` and `momentum` are then unused."""
    weights = [np.array(W, copy=True) for W in weights]
    biases = [np.array(b, copy=True) for b in biases]
    vel_w = [np.zeros_like(W) for W in weights]
    vel_b = [np.zeros_like(b) for b in biases]
    losses = np.empty(len(order), dtype=np.float64)
    opts = [optimizer() for _ in weights] if optimizer is not None else None
    for step, idx in enumerate(order):
        loss, gw, gb = _sample_gradients(weights, biases, X[idx], int(y[idx]), act)
        losses[step] = loss
        if optimizer is not None:
            for k in range(len(weights)):
                _layer_step(opts[k], weights[k], biases[k], gw[k], gb[k], use_bias)
            continue
        _apply_update(weights, vel_w, gw, lr, momentum)
        if use_bias:
            _apply_update(biases, vel_b, gb, lr, momentum)
    return weights, biases, losses


def mbgd_reference(weights, biases, X, y, order, batch_size, lr, act, momentum=0.0,
                   use_bias=True, optimizer=None):
    """Mini-batch SGD over consecutive chunks of `order`, gradients averaged per batch.

    Every gradient of a batch uses the weights from the start of that batch;
    the last batch may be smaller. Returns (weights, biases, losses).
    """
    weights = [np.array(W, copy=True) for W in weights]
    biases = [np.array(b, copy=True) for b in biases]
    vel_w = [np.zeros_like(W) for W in weights]
    vel_b = [np.zeros_like(b) for b in biases]
    order = np.asarray(order)
    losses = np.empty(len(order), dtype=np.float64)
    opts = [optimizer() for _ in weights] if optimizer is not None else None  # one oracle per layer
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        sum_w = [np.zeros_like(W) for W in weights]
        sum_b = [np.zeros_like(b) for b in biases]
        for offset, idx in enumerate(batch):
            loss, gw, gb = _sample_gradients(weights, biases, X[idx], int(y[idx]), act)
            losses[start + offset] = loss
            for k in range(len(weights)):
                sum_w[k] += gw[k]
                sum_b[k] += gb[k]
        # Starting from zeros and dividing by 1 are exact, so batch_size=1
        # reproduces sgd_reference bit for bit.
        sum_w = [g / len(batch) for g in sum_w]
        sum_b = [g / len(batch) for g in sum_b]
        if optimizer is not None:
            for k in range(len(weights)):
                _layer_step(opts[k], weights[k], biases[k], sum_w[k], sum_b[k], use_bias)
            continue
        _apply_update(weights, vel_w, sum_w, lr, momentum)
        if use_bias:
            _apply_update(biases, vel_b, sum_b, lr, momentum)
    return weights, biases, losses


def cp_reference(weights, biases, X, y, order, lr, act, anchored=False, momentum=0.0, use_bias=True, optimizer=None):
    """Continuous propagation as the synchronous step model of the paper's Algorithm 1.

    Layers k = 1..D, samples s = 1..N. At step t every layer k forwards sample t-k+1
    (its input was produced by layer k-1 at step t-1), then back-propagates sample
    t-2D+k+1 (its delta was produced by layer k+1 at step t-1; the top layer's own loss
    delta comes from this step's forward), then updates with that sample's gradient.
    The backward's W^T is the current one (immediate) or the one the forward used
    (anchored). Returns (weights, biases, losses, staleness) with staleness[k] the list
    of (version at update - version at forward) for layer k. `optimizer`, if given, makes
    one optimizer oracle per layer that replaces the plain (momentum) step.
    """
    weights = [np.array(W, copy=True) for W in weights]
    biases = [np.array(b, copy=True) for b in biases]
    vel_w = [np.zeros_like(W) for W in weights]
    vel_b = [np.zeros_like(b) for b in biases]
    D, N = len(weights), len(order)
    opts = [optimizer() for _ in weights] if optimizer is not None else None  # one oracle per layer
    losses = np.full(N, np.nan)
    versions = [0] * D
    staleness = [[] for _ in range(D)]
    held = [dict() for _ in range(D)]  # sample -> (input, output or loss delta, W used, version)
    forward_out = {}  # (layer, sample) -> activation sent up, produced last step
    backward_out = {}  # (layer, sample) -> dL/dh sent down, produced last step
    for t in range(1, N + 2 * D):
        new_forward, new_backward = {}, {}
        for k in range(D):  # k is 0-based here: layer k+1 of the docstring
            s = t - k
            if 1 <= s <= N:
                x = X[order[s - 1]] if k == 0 else forward_out.pop((k - 1, s))
                z = weights[k] @ x + biases[k]
                if k == D - 1:
                    loss, out = softmax_cross_entropy_ref(z, int(y[order[s - 1]]))
                    losses[s - 1] = loss
                else:
                    out = _activate_ref(z, act)
                    new_forward[(k, s)] = out
                held[k][s] = (x, out, weights[k].copy() if anchored else None, versions[k])
            s = t - 2 * D + k + 2
            if 1 <= s <= N:
                x, out, W_fwd, version = held[k].pop(s)
                dz = out if k == D - 1 else backward_out.pop((k, s)) * _derivative_ref(out, act)
                if k > 0:
                    new_backward[(k - 1, s)] = (W_fwd if anchored else weights[k]).T @ dz
                if optimizer is not None:
                    _layer_step(opts[k], weights[k], biases[k], np.outer(dz, x), dz, use_bias)
                else:
                    _apply_update([weights[k]], [vel_w[k]], [np.outer(dz, x)], lr, momentum)
                    if use_bias:
                        _apply_update([biases[k]], [vel_b[k]], [dz], lr, momentum)
                staleness[k].append(versions[k] - version)
                versions[k] += 1
        forward_out.update(new_forward)
        backward_out.update(new_backward)
    return weights, biases, losses, staleness
