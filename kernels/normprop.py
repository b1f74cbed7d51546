"""Normalization propagation over a convolution (Arpit et al. 2016), per sample, writing into caller buffers.

A layer's parameters are W (O, C, K, K) and b (2, O) = [beta; g]. Each filter f is used
as its unit copy V_f = W_f / ||W_f||, and the pre-activation is u = g conv(x, V) + beta;
a hidden layer outputs the recentred ReLU (max(u, 0) - RELU_MEAN) / RELU_STD, which has
mean 0 and variance 1 when u is standard normal, the top layer u itself (the logits).
Shapes and layout are `conv`'s: x (C, H, W), out and du (O, Ho, Wo), all C-contiguous
float32 (the constants are float32).

The weight gradient needs no second convolution: with G_f = sum over positions of du_f
times x's window (the plain convolution weight gradient of du), dL/dg_f = G_f . V_f,
dL/dbeta_f = sum du_f and dL/dW_f = g_f (G_f - (G_f . V_f) V_f) / ||W_f||, the gradient
projected off the filter's own direction. Checked against the float64 oracles of
`reference_conv` and central differences.
"""

import math

import numpy as np

from wafersim_kernels._jit import fast_njit
from wafersim_kernels.conv import conv2d_forward, conv2d_input_gradient, conv2d_weight_gradient

RELU_MEAN = 1.0 / math.sqrt(2.0 * math.pi)  # E[ReLU(z)] for z ~ N(0, 1)
RELU_STD = math.sqrt(0.5 * (1.0 - 1.0 / math.pi))  # its standard deviation


@fast_njit
def unit_filters(W, V, norms):
    """V_f = W_f / ||W_f|| and norms_f = ||W_f|| for every filter f; W, V (O, C, K, K), norms (O,)."""
    O = W.shape[0]
    W2 = W.reshape(O, W.size // O)
    V2 = V.reshape(O, W.size // O)
    for o in range(O):
        s = W2[o, 0] * W2[o, 0]
        for j in range(1, W2.shape[1]):
            s += W2[o, j] * W2[o, j]
        n = np.sqrt(s)
        norms[o] = n
        for j in range(W2.shape[1]):
            V2[o, j] = W2[o, j] / n


@fast_njit
def normprop_forward(x, W, b, stride, pad, top, out):
    """out = g conv(x, V) + beta on the top layer, else its recentred ReLU; b = [beta; g] (2, O)."""
    O = W.shape[0]
    V = np.empty_like(W)
    norms = np.empty(O, dtype=W.dtype)
    unit_filters(W, V, norms)
    conv2d_forward(x, V, np.zeros(O, dtype=W.dtype), stride, pad, out)
    out2 = out.reshape(O, out.size // O)
    mean, std, zero = np.float32(RELU_MEAN), np.float32(RELU_STD), np.float32(0)
    for o in range(O):
        beta, g = b[0, o], b[1, o]
        for j in range(out2.shape[1]):
            u = g * out2[o, j] + beta
            if not top:
                u = (max(u, zero) - mean) / std
            out2[o, j] = u


@fast_njit
def normprop_relu_backward(h, e, du):
    """du = dL/du from the hidden output h and dL/dh = e: e / RELU_STD where u > 0 (h above the
    recentred zero), else 0; flat arrays of one length."""
    std, zero = np.float32(RELU_STD), np.float32(0)
    zero_at = -np.float32(RELU_MEAN) / std
    for i in range(h.size):
        du[i] = e[i] / std if h[i] > zero_at else zero


@fast_njit
def normprop_input_gradient(W, b, du, stride, pad, dx):
    """dx = dL/dx (overwritten) = the input gradient of g du through the unit filters V."""
    O = W.shape[0]
    V = np.empty_like(W)
    norms = np.empty(O, dtype=W.dtype)
    unit_filters(W, V, norms)
    back = np.empty_like(du)
    back2, du2 = back.reshape(O, du.size // O), du.reshape(O, du.size // O)
    for o in range(O):
        g = b[1, o]
        for j in range(du2.shape[1]):
            back2[o, j] = g * du2[o, j]
    conv2d_input_gradient(V, back, stride, pad, dx)


@fast_njit
def normprop_weight_gradient(x, W, b, du, stride, pad, gW, gb):
    """gW += dL/dW (through the norms) and gb += [dL/dbeta; dL/dg] (accumulating) for one sample."""
    O = W.shape[0]
    G = np.zeros_like(W)
    gbeta = np.zeros(O, dtype=W.dtype)
    conv2d_weight_gradient(x, du, stride, pad, G, gbeta)
    V = np.empty_like(W)
    norms = np.empty(O, dtype=W.dtype)
    unit_filters(W, V, norms)
    n = W.size // O
    G2, V2, gW2 = G.reshape(O, n), V.reshape(O, n), gW.reshape(O, n)
    for o in range(O):
        r = G2[o, 0] * V2[o, 0]
        for j in range(1, n):
            r += G2[o, j] * V2[o, j]
        c = b[1, o] / norms[o]
        for j in range(n):
            gW2[o, j] += c * (G2[o, j] - r * V2[o, j])
        gb[0, o] += gbeta[o]
        gb[1, o] += r
