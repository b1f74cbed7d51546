"""Per-sample (batch size one) convolution and pooling kernels, channels-first, writing into caller buffers.

Layout: an input x is (C, H, W), conv weights (O, C, K, K), bias (O,), the conv output
(O, Ho, Wo) with Ho = (H + 2 pad - K) // stride + 1 (Wo likewise). Every array must be
C-contiguous (the kernels reshape their arguments to 2-D views; Numba refuses a
non-contiguous array at compile time). float32 is the dtype they are tuned and tested for
(accumulators take the arrays' dtype). Conv output sizes: conv2d_output_size.

The convolutions are im2col + one matrix product: the patch matrix (C K K by Ho Wo, or its
transpose) is built in a scratch array the kernel allocates itself (from a zero-padded copy
of x, so the gather loops have no bounds tests), then out = W (O, C K K) @ cols,
dcols = W.T @ dz (scattered back, col2im) and gW += dz @ cols.T. A 1x1 conv with stride 1
and no padding skips the patch matrix (x itself is cols). The products are _gemm_nt, a
tiled Numba loop in which every output element is one contiguous dot product, rather than
np.dot (OpenBLAS sgemm): OpenBLAS was up to 2x faster on a single product but no faster
over the whole benchmark stack, and its bits change with its thread count (1 vs 2 threads
differ), which would make results depend on threadpool settings. A direct six-deep loop
nest (no im2col) measured 2-5x slower. benchmarks/bench_conv.py times the stack.

Deterministic: every loop runs in a fixed order on one thread, so the same inputs give the
same bits on every call, whatever BLAS or Numba threading is configured. The scratch
arrays (patch matrix, padded copies, transposes) are allocated per call; at these sizes
that costs ~1 us, far below the arithmetic.
"""

import numpy as np

from wafersim_kernels._jit import fast_njit


@fast_njit
def conv2d_output_size(n, k, stride, pad):
    """(n + 2 pad - k) // stride + 1: the output size along one axis."""
    return (n + 2 * pad - k) // stride + 1


@fast_njit
def _padded(x, pad):
    """x (C, H, W) inside a border of `pad` zeros: (C, H + 2 pad, W + 2 pad)."""
    C, H, W = x.shape
    xp = np.zeros((C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    for c in range(C):
        for i in range(H):
            for j in range(W):
                xp[c, i + pad, j + pad] = x[c, i, j]
    return xp


@fast_njit
def _im2col(x, K, stride, pad, Ho, Wo, cols):
    """cols[(c K + kh) K + kw, oh Wo + ow] = x[c, oh s - pad + kh, ow s - pad + kw], 0 outside x."""
    C, H, W = x.shape
    # Copying into a zero-padded scratch first leaves the gather loops without bounds
    # tests (measured 3.5x faster than clipping each row's range).
    xp = _padded(x, pad)
    for c in range(C):
        for kh in range(K):
            for kw in range(K):
                r = (c * K + kh) * K + kw
                for oh in range(Ho):
                    ih = oh * stride + kh
                    base = oh * Wo
                    if stride == 1:
                        for ow in range(Wo):
                            cols[r, base + ow] = xp[c, ih, ow + kw]
                    else:
                        for ow in range(Wo):
                            cols[r, base + ow] = xp[c, ih, ow * stride + kw]


@fast_njit
def _col2im(dcols, K, stride, pad, Ho, Wo, dx):
    """dx = the sum over rows (c, kh, kw) of dcols scattered back to x[c, oh s - pad + kh, ow s - pad + kw]
    (the parts that land in the padding are dropped); overwrites dx."""
    C, H, W = dx.shape
    dxp = np.zeros((C, H + 2 * pad, W + 2 * pad), dtype=dx.dtype)
    for c in range(C):
        for kh in range(K):
            for kw in range(K):
                r = (c * K + kh) * K + kw
                for oh in range(Ho):
                    ih = oh * stride + kh
                    base = oh * Wo
                    if stride == 1:
                        for ow in range(Wo):
                            dxp[c, ih, ow + kw] += dcols[r, base + ow]
                    else:
                        for ow in range(Wo):
                            dxp[c, ih, ow * stride + kw] += dcols[r, base + ow]
    for c in range(C):
        for i in range(H):
            for j in range(W):
                dx[c, i, j] = dxp[c, i + pad, j + pad]


@fast_njit
def _im2col_t(x, K, stride, pad, Ho, Wo, cols_t):
    """cols_t[oh Wo + ow, (c K + kh) K + kw] = x[c, oh s - pad + kh, ow s - pad + kw], 0 outside x:
    the transpose of _im2col's matrix, one patch per row."""
    C, H, W = x.shape
    xp = _padded(x, pad)
    for oh in range(Ho):
        for ow in range(Wo):
            p = oh * Wo + ow
            w0 = ow * stride
            for c in range(C):
                for kh in range(K):
                    ih = oh * stride + kh
                    r = (c * K + kh) * K
                    for kw in range(K):
                        cols_t[p, r + kw] = xp[c, ih, w0 + kw]


@fast_njit
def _transpose(A):
    """A new C-contiguous A.T of the 2-D A."""
    n, m = A.shape
    T = np.empty((m, n), dtype=A.dtype)
    for i in range(n):
        for j in range(m):
            T[j, i] = A[i, j]
    return T


@fast_njit
def _gemm_nt(A, B, C, accumulate):
    """C = A @ B.T (or C += A @ B.T if accumulate); A (M, L), B (N, L), C (M, N), all C-contiguous.

    Every C[i, j] is one dot product of two contiguous rows, summed in an order fixed by L
    alone (vectorised under fastmath's reassoc), so the bits depend on neither the tiling
    nor any thread count. 2 x 4 tiles of C share the row loads: eight accumulators and six
    streams fit AVX2's sixteen registers (measured 45-70 GFLOP/s, 0.5-1x OpenBLAS sgemm on
    one thread, at the NiN benchmark's shapes)."""
    M, L = A.shape
    N = B.shape[0]
    z = A.dtype.type(0)
    i = 0
    while i + 2 <= M:
        a0 = A[i]
        a1 = A[i + 1]
        j = 0
        while j + 4 <= N:
            b0 = B[j]
            b1 = B[j + 1]
            b2 = B[j + 2]
            b3 = B[j + 3]
            c00 = z
            c01 = z
            c02 = z
            c03 = z
            c10 = z
            c11 = z
            c12 = z
            c13 = z
            for k in range(L):
                x0 = a0[k]
                x1 = a1[k]
                c00 += x0 * b0[k]
                c01 += x0 * b1[k]
                c02 += x0 * b2[k]
                c03 += x0 * b3[k]
                c10 += x1 * b0[k]
                c11 += x1 * b1[k]
                c12 += x1 * b2[k]
                c13 += x1 * b3[k]
            if accumulate:
                C[i, j] += c00
                C[i, j + 1] += c01
                C[i, j + 2] += c02
                C[i, j + 3] += c03
                C[i + 1, j] += c10
                C[i + 1, j + 1] += c11
                C[i + 1, j + 2] += c12
                C[i + 1, j + 3] += c13
            else:
                C[i, j] = c00
                C[i, j + 1] = c01
                C[i, j + 2] = c02
                C[i, j + 3] = c03
                C[i + 1, j] = c10
                C[i + 1, j + 1] = c11
                C[i + 1, j + 2] = c12
                C[i + 1, j + 3] = c13
            j += 4
        while j < N:
            b0 = B[j]
            c00 = z
            c10 = z
            for k in range(L):
                c00 += a0[k] * b0[k]
                c10 += a1[k] * b0[k]
            if accumulate:
                C[i, j] += c00
                C[i + 1, j] += c10
            else:
                C[i, j] = c00
                C[i + 1, j] = c10
            j += 1
        i += 2
    while i < M:
        a0 = A[i]
        for j in range(N):
            b0 = B[j]
            c = z
            for k in range(L):
                c += a0[k] * b0[k]
            if accumulate:
                C[i, j] += c
            else:
                C[i, j] = c
        i += 1


@fast_njit
def _is_pointwise(K, stride, pad):
    return K == 1 and stride == 1 and pad == 0


@fast_njit
def conv2d_forward(x, W, b, stride, pad, out):
    """out = conv(x, W) + b, zero padding; x (C, H, W), W (O, C, K, K), b (O,), out (O, Ho, Wo)."""
    O, C, K, _ = W.shape
    _, H, Wd = x.shape
    Ho, Wo = out.shape[1], out.shape[2]
    W2 = W.reshape(O, C * K * K)
    out2 = out.reshape(O, Ho * Wo)
    if _is_pointwise(K, stride, pad):
        cols_t = _transpose(x.reshape(C, H * Wd))
    else:
        cols_t = np.empty((Ho * Wo, C * K * K), dtype=x.dtype)
        _im2col_t(x, K, stride, pad, Ho, Wo, cols_t)
    _gemm_nt(W2, cols_t, out2, False)
    n = Ho * Wo
    for o in range(O):
        bo = b[o]
        for j in range(n):
            out2[o, j] += bo


@fast_njit
def conv2d_input_gradient(W, dz, stride, pad, dx):
    """dx = dL/dx (overwritten) from dz = dL/dout; W (O, C, K, K), dz (O, Ho, Wo), dx (C, H, W)."""
    O, C, K, _ = W.shape
    Ho, Wo = dz.shape[1], dz.shape[2]
    _, H, Wd = dx.shape
    W2t = _transpose(W.reshape(O, C * K * K))
    dz_t = _transpose(dz.reshape(O, Ho * Wo))
    if _is_pointwise(K, stride, pad):
        _gemm_nt(W2t, dz_t, dx.reshape(C, H * Wd), False)
        return
    dcols = np.empty((C * K * K, Ho * Wo), dtype=dz.dtype)
    _gemm_nt(W2t, dz_t, dcols, False)
    _col2im(dcols, K, stride, pad, Ho, Wo, dx)


@fast_njit
def conv2d_weight_gradient(x, dz, stride, pad, gW, gb):
    """gW += dL/dW and gb += dL/db (accumulating); x (C, H, W), dz (O, Ho, Wo), gW (O, C, K, K), gb (O,)."""
    O, C, K, _ = gW.shape
    _, H, Wd = x.shape
    Ho, Wo = dz.shape[1], dz.shape[2]
    n = Ho * Wo
    dz2 = dz.reshape(O, n)
    gW2 = gW.reshape(O, C * K * K)
    if _is_pointwise(K, stride, pad):
        _gemm_nt(dz2, x.reshape(C, H * Wd), gW2, True)
    else:
        cols = np.empty((C * K * K, n), dtype=x.dtype)
        _im2col(x, K, stride, pad, Ho, Wo, cols)
        _gemm_nt(dz2, cols, gW2, True)
    for o in range(O):
        acc = dz2[o, 0]  # starts at an element so it keeps the array dtype
        for j in range(1, n):
            acc += dz2[o, j]
        gb[o] += acc


@fast_njit
def maxpool_forward(x, size, stride, out, argmax):
    """out[c, i, j] = max of x[c] over the size x size window at (i stride, j stride), no padding;
    argmax (out's shape, int32 or int64) gets the flat index into x of that max: the first in a
    row-major scan of the window on ties, the first NaN if the window holds one (NaN propagates)."""
    C, H, W = x.shape
    Ho, Wo = out.shape[1], out.shape[2]
    for c in range(C):
        for oh in range(Ho):
            h0 = oh * stride
            for ow in range(Wo):
                w0 = ow * stride
                best = x[c, h0, w0]
                bi = h0
                bj = w0
                for kh in range(size):
                    for kw in range(size):
                        v = x[c, h0 + kh, w0 + kw]
                        # Strict ">" keeps the first max; once best is NaN nothing replaces it.
                        if best == best and (v > best or v != v):
                            best = v
                            bi = h0 + kh
                            bj = w0 + kw
                out[c, oh, ow] = best
                argmax[c, oh, ow] = (c * H + bi) * W + bj


@fast_njit
def maxpool_backward(dout, argmax, dx):
    """dx = 0, then dx.flat[argmax] += dout (overlapping windows accumulate); dout and argmax (C, Ho, Wo)."""
    dxf = dx.reshape(dx.size)
    dxf[:] = 0.0
    d = dout.reshape(dout.size)
    a = argmax.reshape(argmax.size)
    for i in range(d.shape[0]):
        dxf[a[i]] += d[i]


@fast_njit
def avgpool_forward(x, size, stride, out):
    """out[c, i, j] = mean of x[c] over the size x size window at (i stride, j stride), no padding."""
    C = x.shape[0]
    Ho, Wo = out.shape[1], out.shape[2]
    scale = x.dtype.type(1.0) / x.dtype.type(size * size)
    for c in range(C):
        for oh in range(Ho):
            h0 = oh * stride
            for ow in range(Wo):
                w0 = ow * stride
                acc = x[c, h0, w0]  # starts at an element so it keeps the array dtype
                for kw in range(1, size):
                    acc += x[c, h0, w0 + kw]
                for kh in range(1, size):
                    for kw in range(size):
                        acc += x[c, h0 + kh, w0 + kw]
                out[c, oh, ow] = acc * scale


@fast_njit
def avgpool_backward(dout, size, stride, dx):
    """dx = 0, then each window of dx += dout / size^2 (overlapping windows accumulate)."""
    C = dx.shape[0]
    Ho, Wo = dout.shape[1], dout.shape[2]
    scale = dx.dtype.type(1.0) / dx.dtype.type(size * size)
    dx[:] = 0.0
    for c in range(C):
        for oh in range(Ho):
            h0 = oh * stride
            for kh in range(size):
                for ow in range(Wo):
                    g = dout[c, oh, ow] * scale
                    w0 = ow * stride
                    for kw in range(size):
                        dx[c, h0 + kh, w0 + kw] += g


@fast_njit
def global_avgpool_forward(x, out):
    """out[c] = mean of x[c]; x (C, H, W), out (C,)."""
    C, H, W = x.shape
    n = H * W
    x2 = x.reshape(C, n)
    scale = x.dtype.type(1.0) / x.dtype.type(n)
    for c in range(C):
        acc = x2[c, 0]
        for j in range(1, n):
            acc += x2[c, j]
        out[c] = acc * scale


@fast_njit
def global_avgpool_backward(dout, dx):
    """dx[c, :, :] = dout[c] / (H W) (overwritten); dout (C,), dx (C, H, W)."""
    C, H, W = dx.shape
    n = H * W
    dx2 = dx.reshape(C, n)
    scale = dx.dtype.type(1.0) / dx.dtype.type(n)
    for c in range(C):
        g = dout[c] * scale
        for j in range(n):
            dx2[c, j] = g
