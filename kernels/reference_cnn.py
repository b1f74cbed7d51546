"""Plain-NumPy reference of per-sample SGD through a convolutional network, built on the convolution oracles.

A network is a list of layer descriptions, input first, each a dict: {"type": "dense",
"act"}, {"type": "conv", "stride", "pad", "act", "in_shape"}, {"type": "pool", "mode": max |
avg | global, "size", "stride", "in_shape"}; `in_shape` is the layer's (C, H, W) input. The
top layer's outputs are the logits ("act" is ignored there). Samples travel as flat float32
vectors, as on the chip. Sample s forwards on the weights after s updates; its backward
computes each layer's input gradient before that layer's update, as SGD on the chip does.
"""

from __future__ import annotations

import numpy as np

from wafersim_kernels.reference import _activate_ref, _derivative_ref, softmax_cross_entropy_ref
from wafersim_kernels.reference_conv import (avgpool_backward_ref, avgpool_forward_ref, conv2d_forward_ref,
                                             conv2d_input_gradient_ref, conv2d_weight_gradient_ref,
                                             global_avgpool_backward_ref, global_avgpool_forward_ref,
                                             maxpool_backward_ref, maxpool_forward_ref)


def _forward(layer: dict, W, b, x):
    """A layer's output for the flat input x, before its activation, in its own shape ((O, Ho, Wo) or (n,))."""
    if layer["type"] == "dense":
        return W @ x + b
    x3 = x.reshape(layer["in_shape"])
    if layer["type"] == "conv":
        return conv2d_forward_ref(x3, W, b, layer["stride"], layer["pad"])
    if layer["mode"] == "global":
        return global_avgpool_forward_ref(x3)
    if layer["mode"] == "avg":
        return avgpool_forward_ref(x3, layer["size"], layer["stride"])
    return maxpool_forward_ref(x3, layer["size"], layer["stride"])[0]


def _backward(layer: dict, W, x, dz, out_shape):
    """(dL/dW, dL/db, dL/dx) of a layer for dL/d(pre-activation output) dz; None for what it lacks."""
    if layer["type"] == "dense":
        return np.outer(dz, x), dz, W.T @ dz
    in_shape = layer["in_shape"]
    x3, d3 = x.reshape(in_shape), dz.reshape(out_shape)
    if layer["type"] == "conv":
        gW, gb = conv2d_weight_gradient_ref(x3, d3, layer["stride"], layer["pad"], W.shape[2])
        return gW, gb, conv2d_input_gradient_ref(W, d3, layer["stride"], layer["pad"], in_shape).reshape(-1)
    if layer["mode"] == "global":
        return None, None, global_avgpool_backward_ref(dz, in_shape).reshape(-1)
    if layer["mode"] == "avg":
        return None, None, avgpool_backward_ref(d3, layer["size"], layer["stride"], in_shape).reshape(-1)
    argmax = maxpool_forward_ref(x3, layer["size"], layer["stride"])[1]
    return None, None, maxpool_backward_ref(d3, argmax, in_shape).reshape(-1)


def cnn_sgd_reference(layers, weights, biases, X, y, order, lr):
    """Per-sample SGD with softmax cross-entropy; returns (weights, biases, losses)."""
    Ws = [np.array(W, copy=True) for W in weights]
    bs = [np.array(b, copy=True) for b in biases]
    D = len(layers)
    losses = np.full(len(order), np.nan)
    for s, row in enumerate(order):
        x, inputs, outputs, shapes = X[row], [], [], []
        for k, layer in enumerate(layers):
            inputs.append(x)
            z = _forward(layer, Ws[k], bs[k], x).astype(np.float32)
            shapes.append(z.shape)
            z = z.reshape(-1)
            x = z if k == D - 1 or layer["type"] == "pool" else _activate_ref(z, layer["act"])
            outputs.append(x)
        losses[s], dz = softmax_cross_entropy_ref(x, int(y[row]))
        for k in range(D - 1, -1, -1):
            layer = layers[k]
            gW, gb, delta = _backward(layer, Ws[k], inputs[k], dz, shapes[k])
            if gW is not None:
                Ws[k] = (Ws[k] - lr * gW).astype(np.float32)
                bs[k] = (bs[k] - lr * gb).astype(np.float32)
            if k > 0:
                below = layers[k - 1]
                delta = delta.astype(np.float32)
                dz = delta if below["type"] == "pool" else delta * _derivative_ref(outputs[k - 1], below["act"])
    return Ws, bs, losses

