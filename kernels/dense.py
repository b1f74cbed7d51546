"""Dense-layer forward and backward kernels writing into caller buffers."""

from wafersim_kernels._jit import fast_njit
from wafersim_kernels.activations import activate, derivative_from_output


@fast_njit
def dense_forward(W, b, x, out, act):
    """out[i] = act(sum_j W[i, j] * x[j] + b[i]); W (n_out, n_in), x (n_in,), out (n_out,)."""
    n_out, n_in = W.shape
    for i in range(n_out):
        # Accumulator starts at the bias so it keeps the array dtype; the inner
        # loop is a contiguous dot product over row i.
        acc = b[i]
        for j in range(n_in):
            acc += W[i, j] * x[j]
        out[i] = activate(acc, act)


@fast_njit
def delta_to_input(W, dz, out):
    """out = W.T @ dz; W (n_out, n_in), dz (n_out,), out (n_in,)."""
    n_out, n_in = W.shape
    for j in range(n_in):
        out[j] = 0.0
    # Row-major sweep: the inner loop is a contiguous axpy over row i of W.
    for i in range(n_out):
        d = dz[i]
        for j in range(n_in):
            out[j] += W[i, j] * d


@fast_njit
def activation_backward(h, e, out, act):
    """out[i] = e[i] * act'(.) evaluated from the layer output h; all shape (n,)."""
    for i in range(h.shape[0]):
        out[i] = e[i] * derivative_from_output(h[i], act)


@fast_njit
def accumulate_gradient(gW, gb, dz, x):
    """gW += outer(dz, x), gb += dz; gW (n_out, n_in), dz (n_out,), x (n_in,)."""
    n_out, n_in = gW.shape
    for i in range(n_out):
        d = dz[i]
        for j in range(n_in):
            gW[i, j] += d * x[j]
        gb[i] += d


@fast_njit
def rank_one_update(W, b, dz, x, alpha, update_bias):
    """W += alpha * outer(dz, x) and, if update_bias, b += alpha * dz: a per-sample update
    streamed in one pass over W, with no gradient buffer. alpha is cast to W's dtype."""
    n_out, n_in = W.shape
    a = W.dtype.type(alpha)
    for i in range(n_out):
        d = a * dz[i]
        for j in range(n_in):
            W[i, j] += d * x[j]
        if update_bias:
            b[i] += d
