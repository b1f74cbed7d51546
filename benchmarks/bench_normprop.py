"""Normalization propagation per sample: the Numba kernels against NumPy around the plain convolution kernels.

    python benchmarks/bench_normprop.py [--samples 300] [--repeats 5]

The layers are scenarios/nin-mnist.yaml's six convolutions (28x28 MNIST input, 16-32
filters). One sample is every layer's F, then its B top down: dL/du through the recentred
ReLU, dL/dx (not on layer 1) and the weight gradient summed into buffers. Rows, both in
this process:

    kernels    wafersim_kernels.normprop, as Conv2D calls it (one call per op);
    baseline   the same mathematics in NumPy around wafersim_kernels.conv's kernels, as
               the layer computed it before the normalization had kernels of its own:
               unit filters with einsum, a convolution for the forward, and in B the
               gain's gradient from a second convolution of x by the unit filters.

Each row is warmed up, then timed --repeats times over --samples samples; the best counts.
Printed: samples/s, the ratio to the baseline, and the largest relative difference of the
summed weight gradients from the baseline's.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from wafersim_kernels.conv import conv2d_forward, conv2d_input_gradient, conv2d_output_size, conv2d_weight_gradient
from wafersim_kernels.normprop import (RELU_MEAN, RELU_STD, normprop_forward, normprop_input_gradient,
                                       normprop_relu_backward, normprop_weight_gradient)

# (C, H, O, K, pad) of each convolution (stride 1), square inputs
LAYERS = [(1, 28, 16, 5, 2), (16, 28, 16, 1, 0), (16, 13, 32, 5, 2), (32, 13, 32, 1, 0), (32, 6, 32, 3, 1),
          (32, 6, 10, 1, 0)]


def make_layers(rng):
    layers = []
    for C, H, O, K, pad in LAYERS:
        Ho = conv2d_output_size(H, K, 1, pad)
        W = rng.standard_normal((O, C, K, K)).astype(np.float32)
        b = np.stack([0.1 * rng.standard_normal(O), 1 + 0.1 * rng.standard_normal(O)]).astype(np.float32)
        layers.append({"x": rng.standard_normal((C, H, H)).astype(np.float32), "W": W, "b": b, "pad": pad,
                       "out": (O, Ho, Ho), "e": rng.standard_normal((O, Ho, Ho)).astype(np.float32),
                       "gW": np.zeros_like(W), "gb": np.zeros_like(b)})
    return layers


def kernels_sample(layers):
    for layer in layers:
        layer["h"] = np.empty(layer["out"], np.float32)
        normprop_forward(layer["x"], layer["W"], layer["b"], 1, layer["pad"], False, layer["h"])
    for k, layer in enumerate(reversed(layers)):
        du = np.empty(layer["out"], np.float32)
        normprop_relu_backward(layer["h"].reshape(-1), layer["e"].reshape(-1), du.reshape(-1))
        if k < len(layers) - 1:
            normprop_input_gradient(layer["W"], layer["b"], du, 1, layer["pad"], np.empty_like(layer["x"]))
        normprop_weight_gradient(layer["x"], layer["W"], layer["b"], du, 1, layer["pad"], layer["gW"], layer["gb"])


def _unit(W):
    norms = np.sqrt(np.einsum("ocij,ocij->o", W, W))
    return np.ascontiguousarray(W / norms[:, None, None, None], dtype=np.float32), norms


def _conv(x, V, pad, out_shape):
    z = np.empty(out_shape, np.float32)
    conv2d_forward(x, V, np.zeros(V.shape[0], np.float32), 1, pad, z)
    return z


def baseline_sample(layers):
    mean, std = np.float32(RELU_MEAN), np.float32(RELU_STD)
    for layer in layers:
        beta, gain = layer["b"]
        u = gain[:, None, None] * _conv(layer["x"], _unit(layer["W"])[0], layer["pad"], layer["out"]) + beta[:, None, None]
        layer["h"] = (np.maximum(u, 0) - mean) / std
    for k, layer in enumerate(reversed(layers)):
        W, gain, pad = layer["W"], layer["b"][1], layer["pad"]
        du = (layer["e"] * (layer["h"] > -mean / std) / std).astype(np.float32)
        V, norms = _unit(W)
        if k < len(layers) - 1:
            dx = np.empty_like(layer["x"])
            conv2d_input_gradient(V, np.ascontiguousarray(gain[:, None, None] * du, np.float32), 1, pad, dx)
        z = _conv(layer["x"], V, pad, layer["out"])
        grad_V = np.zeros_like(W)
        conv2d_weight_gradient(layer["x"], np.ascontiguousarray(gain[:, None, None] * du, np.float32), 1, pad,
                               grad_V, np.zeros(W.shape[0], np.float32))
        radial = np.einsum("ocij,ocij->o", grad_V, V)
        layer["gW"] += (grad_V - radial[:, None, None, None] * V) / norms[:, None, None, None]
        layer["gb"][0] += du.sum(axis=(1, 2))
        layer["gb"][1] += (du * z).sum(axis=(1, 2))


def timed(sample, samples: int, repeats: int, seed: int = 0):
    """(best samples/s, the layers after the last repeat)."""
    layers = make_layers(np.random.default_rng(seed))
    sample(layers)  # warm-up: compilation or cache load
    best = math.inf
    for _ in range(repeats):
        layers = make_layers(np.random.default_rng(seed))
        start = time.perf_counter()
        for _ in range(samples):
            sample(layers)
        best = min(best, time.perf_counter() - start)
    return samples / best, layers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    base_rate, base_layers = timed(baseline_sample, args.samples, args.repeats)
    rate, layers = timed(kernels_sample, args.samples, args.repeats)
    diff = max(float(np.max(np.abs(a[key] - b[key])) / max(float(np.max(np.abs(b[key]))), 1e-30))
               for a, b in zip(layers, base_layers) for key in ("gW", "gb"))
    print(f"normalization propagation, {len(LAYERS)} conv layers of scenarios/nin-mnist.yaml, {args.samples} "
          f"samples x {args.repeats} repeats (best)")
    print(f"  {'row':10} {'samples/s':>10} {'ratio':>7}")
    print(f"  {'baseline':10} {base_rate:10.0f} {1.0:7.2f}")
    print(f"  {'kernels':10} {rate:10.0f} {rate / base_rate:7.2f}")
    print(f"  largest relative difference of the summed weight gradients from the baseline's: {diff:.1e}")


if __name__ == "__main__":
    main()
