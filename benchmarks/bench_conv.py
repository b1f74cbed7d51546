"""Per-sample (batch 1) CNN training arithmetic: the conv/pool kernels against an im2col-NumPy baseline.

    python benchmarks/bench_conv.py [--samples 400] [--repeats 5] [--blas-threads 1] [--json PATH]

The stack is a small NiN-like network on one 28x28x1 input (channels first):

    conv 5x5 1->32 pad 2 (28x28), conv 1x1 32->32, maxpool 3/2 (13x13),
    conv 5x5 32->64 pad 2, conv 1x1 64->64, avgpool 3/2 (6x6),
    conv 3x3 64->64 pad 1, conv 1x1 64->10, global avgpool (10,)

about 12.1 M multiply-adds forward. No activations (the kernels have none; the layers add
theirs), so the work timed is exactly the kernels'. One sample is the forward through every
layer, then, from a fixed dL/dout, each layer's weight gradient (accumulated over the samples
timed) and input gradient, top down; the first conv's input gradient is skipped, as training
would (nothing below it needs it). Rows, all in this process:

    kernels    wafersim_kernels.conv, one Python call per kernel (as a layer op would call it);
    blas       the same im2col kernels but with the products done by np.dot (OpenBLAS sgemm)
               inside Numba instead of conv's own tiled Numba product: faster per product,
               but OpenBLAS gives other bits with one thread than with two, which conv's
               product does not (that is why conv does not use it);
    baseline   im2col in NumPy (sliding_window_view, one matmul per conv, col2im as K*K
               strided slice adds, pools through window views), the same float32 arithmetic;
    torch      per-sample eager PyTorch (conv2d/max_pool2d/avg_pool2d, autograd), one thread,
               only if torch is importable (it is not installed for this).

BLAS runs on --blas-threads threads (default 1, as the simulator's products do). Each row is
warmed up (Numba compilation or cache load not timed), then timed --repeats times over
--samples samples; the best counts. Printed: samples/s, ratio to the baseline, the largest
relative difference of every gradient from the baseline's, and the time an epoch of 8,000
samples would take at that speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bench_cp import load_torch  # this folder's scripts share it (run as python benchmarks/bench_conv.py)
from wafersim_kernels._jit import fast_njit
from wafersim_kernels.conv import (
    _col2im,
    _im2col,
    avgpool_backward,
    avgpool_forward,
    conv2d_forward,
    conv2d_input_gradient,
    conv2d_weight_gradient,
    global_avgpool_backward,
    global_avgpool_forward,
    maxpool_backward,
    maxpool_forward,
)

# (kind, parameters): conv (C, O, K, pad) with stride 1; pools (size, stride).
STACK = [
    ("conv", (1, 32, 5, 2)),
    ("conv", (32, 32, 1, 0)),
    ("maxpool", (3, 2)),
    ("conv", (32, 64, 5, 2)),
    ("conv", (64, 64, 1, 0)),
    ("avgpool", (3, 2)),
    ("conv", (64, 64, 3, 1)),
    ("conv", (64, 10, 1, 0)),
    ("gap", ()),
]
INPUT = (1, 28, 28)
EPOCH = 8000


def shapes():
    """The input shape of every layer and the output shape of the last."""
    out = [INPUT]
    C, H, W = INPUT
    for kind, p in STACK:
        if kind == "conv":
            C, H, W = p[1], H + 2 * p[3] - p[2] + 1, W + 2 * p[3] - p[2] + 1
        elif kind in ("maxpool", "avgpool"):
            H, W = (H - p[0]) // p[1] + 1, (W - p[0]) // p[1] + 1
        else:
            H = W = None
        out.append((C,) if H is None else (C, H, W))
    return out


def macs():
    total = 0
    for (kind, p), s_out in zip(STACK, shapes()[1:]):
        if kind == "conv":
            total += p[0] * p[1] * p[2] * p[2] * s_out[1] * s_out[2]
    return total


def make_params(rng):
    params = []
    for kind, p in STACK:
        if kind == "conv":
            C, O, K, _ = p
            params.append(((rng.standard_normal((O, C, K, K)) / np.sqrt(C * K * K)).astype(np.float32),
                           (0.1 * rng.standard_normal(O)).astype(np.float32)))
        else:
            params.append(None)
    return params


# --- kernels: wafersim_kernels.conv, preallocated activations --------------------------------

class KernelNet:
    def __init__(self, params, conv_fns=(conv2d_forward, conv2d_input_gradient, conv2d_weight_gradient)):
        self.params = params
        self.fwd, self.dgrad, self.wgrad = conv_fns
        sh = shapes()
        self.acts = [np.empty(s, np.float32) for s in sh]
        self.deltas = [np.empty(s, np.float32) for s in sh]
        self.argmax = {}
        for i, ((kind, _), s) in enumerate(zip(STACK, sh[1:])):
            if kind == "maxpool":
                self.argmax[i] = np.empty(s, np.int32)
        self.grads = [None if p is None else (np.zeros_like(p[0]), np.zeros_like(p[1])) for p in params]

    def sample(self, x, dtop):
        a = self.acts
        a[0][...] = x
        for i, (kind, p) in enumerate(STACK):
            if kind == "conv":
                W, b = self.params[i]
                self.fwd(a[i], W, b, 1, p[3], a[i + 1])
            elif kind == "maxpool":
                maxpool_forward(a[i], p[0], p[1], a[i + 1], self.argmax[i])
            elif kind == "avgpool":
                avgpool_forward(a[i], p[0], p[1], a[i + 1])
            else:
                global_avgpool_forward(a[i], a[i + 1])
        d = self.deltas
        d[-1][...] = dtop
        for i in range(len(STACK) - 1, -1, -1):
            kind, p = STACK[i]
            if kind == "conv":
                W, _ = self.params[i]
                gW, gb = self.grads[i]
                self.wgrad(a[i], d[i + 1], 1, p[3], gW, gb)
                if i > 0:
                    self.dgrad(W, d[i + 1], 1, p[3], d[i])
            elif kind == "maxpool":
                maxpool_backward(d[i + 1], self.argmax[i], d[i])
            elif kind == "avgpool":
                avgpool_backward(d[i + 1], p[0], p[1], d[i])
            else:
                global_avgpool_backward(d[i + 1], d[i])


# --- blas: the same im2col kernels with np.dot (OpenBLAS) for the products ----------------------

@fast_njit
def blas_forward(x, W, b, stride, pad, out):
    O, C, K, _ = W.shape
    Ho, Wo = out.shape[1], out.shape[2]
    cols = np.empty((C * K * K, Ho * Wo), dtype=x.dtype)
    _im2col(x, K, stride, pad, Ho, Wo, cols)
    out2 = out.reshape(O, Ho * Wo)
    np.dot(W.reshape(O, C * K * K), cols, out2)
    for o in range(O):
        for j in range(Ho * Wo):
            out2[o, j] += b[o]


@fast_njit
def blas_input_gradient(W, dz, stride, pad, dx):
    O, C, K, _ = W.shape
    Ho, Wo = dz.shape[1], dz.shape[2]
    dcols = np.empty((C * K * K, Ho * Wo), dtype=dz.dtype)
    np.dot(W.reshape(O, C * K * K).T, dz.reshape(O, Ho * Wo), dcols)
    _col2im(dcols, K, stride, pad, Ho, Wo, dx)


@fast_njit
def blas_weight_gradient(x, dz, stride, pad, gW, gb):
    O, C, K, _ = gW.shape
    Ho, Wo = dz.shape[1], dz.shape[2]
    cols = np.empty((C * K * K, Ho * Wo), dtype=x.dtype)
    _im2col(x, K, stride, pad, Ho, Wo, cols)
    dz2 = dz.reshape(O, Ho * Wo)
    g = np.dot(dz2, cols.T)
    gW2 = gW.reshape(O, C * K * K)
    for o in range(O):
        for j in range(C * K * K):
            gW2[o, j] += g[o, j]
        acc = dz2[o, 0]
        for j in range(1, Ho * Wo):
            acc += dz2[o, j]
        gb[o] += acc


# --- baseline: im2col in NumPy ---------------------------------------------------------------

def _np_windows(x, K, stride, pad):
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad))) if pad else x
    return np.lib.stride_tricks.sliding_window_view(xp, (K, K), axis=(1, 2))[:, ::stride, ::stride]


def np_cols(x, K, pad):
    win = _np_windows(x, K, 1, pad)  # (C, Ho, Wo, K, K)
    C, Ho, Wo = win.shape[:3]
    return win.transpose(0, 3, 4, 1, 2).reshape(C * K * K, Ho * Wo), Ho, Wo


class NumpyNet:
    def __init__(self, params):
        self.params = params
        self.grads = [None if p is None else (np.zeros_like(p[0]), np.zeros_like(p[1])) for p in params]

    def sample(self, x, dtop):
        acts, cache = [x], {}
        h = x
        for i, (kind, p) in enumerate(STACK):
            if kind == "conv":
                W, b = self.params[i]
                cols, Ho, Wo = np_cols(h, p[2], p[3])
                cache[i] = cols
                h = (W.reshape(W.shape[0], -1) @ cols + b[:, None]).reshape(W.shape[0], Ho, Wo)
            elif kind == "maxpool":
                win = _np_windows(h, p[0], p[1], 0)
                C, Ho, Wo = win.shape[:3]
                flat = win.reshape(C, Ho, Wo, -1)
                k = flat.argmax(axis=3)
                cache[i] = (k, h.shape)
                h = np.take_along_axis(flat, k[..., None], axis=3)[..., 0]
            elif kind == "avgpool":
                cache[i] = h.shape
                h = _np_windows(h, p[0], p[1], 0).mean(axis=(3, 4), dtype=np.float32)
            else:
                cache[i] = h.shape
                h = h.mean(axis=(1, 2), dtype=np.float32)
            acts.append(h)
        d = dtop
        for i in range(len(STACK) - 1, -1, -1):
            kind, p = STACK[i]
            if kind == "conv":
                W, _ = self.params[i]
                O, C, K, _ = W.shape
                gW, gb = self.grads[i]
                d2 = d.reshape(O, -1)
                gW += (d2 @ cache[i].T).reshape(W.shape)
                gb += d2.sum(axis=1)
                if i > 0:
                    _, H, Wd = acts[i].shape
                    pad, Ho, Wo = p[3], d.shape[1], d.shape[2]
                    dcols = (W.reshape(O, -1).T @ d2).reshape(C, K, K, Ho, Wo)
                    dxp = np.zeros((C, H + 2 * pad, Wd + 2 * pad), np.float32)
                    for kh in range(K):
                        for kw in range(K):
                            dxp[:, kh:kh + Ho, kw:kw + Wo] += dcols[:, kh, kw]
                    d = dxp[:, pad:pad + H, pad:pad + Wd]
            elif kind == "maxpool":
                k, shape = cache[i]
                size, stride = p
                C, Ho, Wo = k.shape
                kh, kw = np.divmod(k, size)
                rows = np.arange(Ho)[None, :, None] * stride + kh
                cols = np.arange(Wo)[None, None, :] * stride + kw
                dx = np.zeros(shape, np.float32)
                np.add.at(dx, (np.arange(C)[:, None, None], rows, cols), d)
                d = dx
            elif kind == "avgpool":
                size, stride = p
                dx = np.zeros(cache[i], np.float32)
                g = d / np.float32(size * size)
                Ho, Wo = d.shape[1], d.shape[2]
                for kh in range(size):
                    for kw in range(size):
                        dx[:, kh:kh + stride * (Ho - 1) + 1:stride, kw:kw + stride * (Wo - 1) + 1:stride] += g
                d = dx
            else:
                C, H, Wd = cache[i]
                d = np.broadcast_to((d / np.float32(H * Wd))[:, None, None], (C, H, Wd)).copy()


# --- torch (optional) ------------------------------------------------------------------------

class TorchNet:
    def __init__(self, torch, params):
        self.torch = torch
        self.params = [None if p is None else tuple(torch.tensor(a, requires_grad=True) for a in p) for p in params]

    def sample(self, x, dtop):
        torch, F = self.torch, self.torch.nn.functional
        h = torch.from_numpy(x)[None]
        for (kind, p), prm in zip(STACK, self.params):
            if kind == "conv":
                h = F.conv2d(h, prm[0], prm[1], padding=p[3])
            elif kind == "maxpool":
                h = F.max_pool2d(h, p[0], p[1])
            elif kind == "avgpool":
                h = F.avg_pool2d(h, p[0], p[1])
            else:
                h = h.mean(dim=(2, 3))
        h.backward(torch.from_numpy(dtop)[None])  # grads accumulate in .grad, as the others' do

    @property
    def grads(self):
        return [None if p is None else (p[0].grad.numpy(), p[1].grad.numpy()) for p in self.params]


# --- timing ----------------------------------------------------------------------------------

def time_net(net, X, dtop, samples, repeats):
    """Best seconds per sample over `repeats` passes of `samples` samples (after a warm-up)."""
    for s in range(min(5, len(X))):
        net.sample(X[s], dtop)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for s in range(samples):
            net.sample(X[s % len(X)], dtop)
        best = min(best, time.perf_counter() - start)
    return best / samples


def gradient_gap(net, ref):
    """Largest |g - g_ref| / max|g_ref| over every conv's weight and bias gradients."""
    gap = 0.0
    for g, r in zip(net.grads, ref.grads):
        if g is None:
            continue
        for a, b in zip(g, r):
            gap = max(gap, float(np.max(np.abs(a.astype(np.float64) - b)) / max(np.max(np.abs(b)), 1e-30)))
    return gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    params = make_params(rng)
    X = rng.standard_normal((64,) + INPUT).astype(np.float32)
    dtop = rng.standard_normal(shapes()[-1]).astype(np.float32)
    torch = load_torch()

    nets = {"kernels": KernelNet(params),
            "blas": KernelNet(params, (blas_forward, blas_input_gradient, blas_weight_gradient)),
            "baseline": NumpyNet(params)}
    if torch is not None:
        nets["torch"] = TorchNet(torch, params)

    results = {}
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        # Agreement first, on fresh gradients: the same 16 samples through every row.
        check = {name: type(net)(params) if not isinstance(net, TorchNet) else TorchNet(torch, params)
                 for name, net in nets.items()}
        if "blas" in check:
            check["blas"] = KernelNet(params, (blas_forward, blas_input_gradient, blas_weight_gradient))
        for net in check.values():
            for s in range(16):
                net.sample(X[s], dtop)
        for name, net in nets.items():
            results[name] = {"seconds_per_sample": time_net(net, X, dtop, args.samples, args.repeats),
                             "gradient_gap": gradient_gap(check[name], check["baseline"])}

    base = results["baseline"]["seconds_per_sample"]
    mmacs = macs() / 1e6
    print(f"NiN-like stack on 28x28x1, {mmacs:.1f} M MACs forward (x3 with both gradients), "
          f"{args.samples} samples, best of {args.repeats}, BLAS threads {args.blas_threads}, "
          f"{platform.processor() or platform.machine()}")
    if torch is None:
        print("torch: not importable, row skipped")
    print(f"{'row':<10} {'samples/s':>10} {'ms/sample':>10} {'x baseline':>11} {'GFLOP/s':>8} "
          f"{'grad gap':>9} {'epoch of ' + format(EPOCH, ',') + ' s':>16}")
    for name, r in results.items():
        t = r["seconds_per_sample"]
        print(f"{name:<10} {1 / t:>10.0f} {t * 1e3:>10.3f} {base / t:>11.2f} {6 * mmacs / 1e3 / t:>8.1f} "
              f"{r['gradient_gap']:>9.1e} {EPOCH * t:>16.1f}")
    t = results["kernels"]["seconds_per_sample"]
    verdict = "fits well under a minute" if EPOCH * t < 30 else ("fits under a minute" if EPOCH * t < 60 else
                                                                   "does NOT fit in a minute")
    print(f"epoch of {EPOCH:,} samples with the kernels (forward + input and weight gradients, no activations, "
          f"no optimizer step): {EPOCH * t:.1f} s, {verdict}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"samples": args.samples, "repeats": args.repeats, "blas_threads": args.blas_threads,
                       "macs_forward": macs(), "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
