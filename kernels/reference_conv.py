"""Plain-NumPy oracles for the convolution and pooling kernels (wafersim_kernels.conv).

Each computes in float64 and casts back to the input dtype, written the obvious way (a
padded input and an einsum over its windows, or explicit loops over the windows), and
returns new arrays. Shapes as in the kernels: x (C, H, W), W (O, C, K, K), b (O,),
out / dz (O, Ho, Wo).
"""

import numpy as np


def _windows(x64, K, stride, pad):
    """(C, Ho, Wo, K, K) view of the zero-padded x: element [c, i, j, p, q] = xpad[c, i s + p, j s + q]."""
    xp = np.pad(x64, ((0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (K, K), axis=(1, 2))
    return win[:, ::stride, ::stride]


def conv2d_forward_ref(x, W, b, stride, pad):
    """conv(x, W) + b with zero padding, shape (O, Ho, Wo)."""
    win = _windows(x.astype(np.float64), W.shape[2], stride, pad)
    out = np.einsum("cijpq,ocpq->oij", win, W.astype(np.float64)) + b.astype(np.float64)[:, None, None]
    return out.astype(x.dtype)


def conv2d_input_gradient_ref(W, dz, stride, pad, x_shape):
    """dL/dx of shape x_shape = (C, H, W) for dz = dL/dout: every window scatters W * dz back."""
    O, C, K, _ = W.shape
    _, H, Wd = x_shape
    W64, dz64 = W.astype(np.float64), dz.astype(np.float64)
    dxp = np.zeros((C, H + 2 * pad, Wd + 2 * pad))
    for i in range(dz.shape[1]):
        for j in range(dz.shape[2]):
            dxp[:, i * stride:i * stride + K, j * stride:j * stride + K] += np.einsum("ocpq,o->cpq", W64, dz64[:, i, j])
    return dxp[:, pad:pad + H, pad:pad + Wd].astype(dz.dtype)


def conv2d_weight_gradient_ref(x, dz, stride, pad, K):
    """(dL/dW, dL/db) for one sample: shapes (O, C, K, K) and (O,)."""
    win = _windows(x.astype(np.float64), K, stride, pad)
    dz64 = dz.astype(np.float64)
    gW = np.einsum("cijpq,oij->ocpq", win, dz64)
    return gW.astype(x.dtype), dz64.sum(axis=(1, 2)).astype(dz.dtype)


def maxpool_forward_ref(x, size, stride):
    """(out, argmax): window maxima (no padding) and the flat index into x of each, first max on ties (np.argmax)."""
    C, H, W = x.shape
    Ho, Wo = (H - size) // stride + 1, (W - size) // stride + 1
    out = np.empty((C, Ho, Wo), dtype=x.dtype)
    argmax = np.empty((C, Ho, Wo), dtype=np.int64)
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                window = x[c, i * stride:i * stride + size, j * stride:j * stride + size]
                k = int(np.argmax(window))
                p, q = divmod(k, size)
                out[c, i, j] = window[p, q]
                argmax[c, i, j] = (c * H + i * stride + p) * W + j * stride + q
    return out, argmax


def maxpool_backward_ref(dout, argmax, x_shape):
    """dL/dx: zeros, then dout added at the argmax of each window (repeated indices add up)."""
    dx = np.zeros(int(np.prod(x_shape)))
    np.add.at(dx, argmax.reshape(-1), dout.astype(np.float64).reshape(-1))
    return dx.reshape(x_shape).astype(dout.dtype)


def avgpool_forward_ref(x, size, stride):
    """Window means (no padding), shape (C, (H - size)//stride + 1, (W - size)//stride + 1)."""
    return _windows(x.astype(np.float64), size, stride, 0).mean(axis=(3, 4)).astype(x.dtype)


def avgpool_backward_ref(dout, size, stride, x_shape):
    """dL/dx: every window of x gets its dout / size^2 (overlapping windows add up)."""
    C, H, W = x_shape
    dx = np.zeros(x_shape)
    d = dout.astype(np.float64) / (size * size)
    for i in range(dout.shape[1]):
        for j in range(dout.shape[2]):
            dx[:, i * stride:i * stride + size, j * stride:j * stride + size] += d[:, i, j][:, None, None]
    return dx.astype(dout.dtype)


def global_avgpool_forward_ref(x):
    """Mean of each channel, shape (C,)."""
    return x.astype(np.float64).mean(axis=(1, 2)).astype(x.dtype)


def global_avgpool_backward_ref(dout, x_shape):
    """dL/dx: dout[c] / (H W) everywhere in channel c."""
    C, H, W = x_shape
    dx = np.broadcast_to(dout.astype(np.float64)[:, None, None] / (H * W), x_shape)
    return np.array(dx, dtype=dout.dtype)


def normprop_conv_forward_ref(x, W, b, stride, pad, top=False):
    """Normalization propagation over a convolution (Arpit et al. 2016), in float64: u = g conv(x, W / ||W_f||)
    + beta with b = [beta; g] (shape (2, O)); the output is u on the top layer, else
    (ReLU(u) - 1/sqrt(2 pi)) / sqrt((1 - 1/pi) / 2)."""
    W64 = W.astype(np.float64)
    V = W64 / np.sqrt((W64 ** 2).sum(axis=(1, 2, 3)))[:, None, None, None]
    win = _windows(x.astype(np.float64), W.shape[2], stride, pad)
    z = np.einsum("cijpq,ocpq->oij", win, V)
    beta, gain = b.astype(np.float64)
    u = gain[:, None, None] * z + beta[:, None, None]
    if top:
        return u
    return (np.maximum(u, 0) - 1 / np.sqrt(2 * np.pi)) / np.sqrt(0.5 * (1 - 1 / np.pi))


def normprop_backward_ref(x, W, b, du, stride, pad):
    """(dL/dx, dL/dW, dL/db) of normalization propagation given du = dL/du, in float64, written from
    the chain rule: dL/dV = g * (the weight gradient of du), dL/dW_f = (I - V_f V_f^T) dL/dV_f / ||W_f||,
    dL/dbeta = sum du, dL/dg = sum du * conv(x, V), dL/dx = the input gradient of g du through V."""
    W64, du64 = W.astype(np.float64), du.astype(np.float64)
    norms = np.sqrt((W64 ** 2).sum(axis=(1, 2, 3)))
    V = W64 / norms[:, None, None, None]
    beta, gain = b.astype(np.float64)
    win = _windows(x.astype(np.float64), W.shape[2], stride, pad)
    z = np.einsum("cijpq,ocpq->oij", win, V)
    gV = gain[:, None, None, None] * np.einsum("cijpq,oij->ocpq", win, du64)
    radial = np.einsum("ocpq,ocpq->o", gV, V)
    gW = (gV - radial[:, None, None, None] * V) / norms[:, None, None, None]
    gb = np.stack([du64.sum(axis=(1, 2)), (du64 * z).sum(axis=(1, 2))])
    dx = conv2d_input_gradient_ref(V, gain[:, None, None] * du64, stride, pad, x.shape)
    return dx.astype(x.dtype), gW.astype(W.dtype), gb.astype(b.dtype)
