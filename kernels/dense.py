"""Dense-layer forward and backward kernels writing into caller buffers.

The last two kernels chain others in one call, for callers that pay per call (the event
simulator calls one per op): they run the very same compiled kernels, so their results
are bit for bit those of calling the parts one after the other.
"""

from wafersim_kernels._jit import cached_njit, fast_njit
from wafersim_kernels.activations import IDENTITY, activate, derivative_from_output
from wafersim_kernels.loss import softmax_cross_entropy


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


@cached_njit
def dense_backward(W, h, e, dz, delta, act):
    """activation_backward(h, e, dz, act), then delta_to_input(W, dz, delta): the backward of a
    hidden layer with a layer below. h, e, dz (n_out,); W (n_out, n_in); delta (n_in,)."""
    activation_backward(h, e, dz, act)
    delta_to_input(W, dz, delta)


@cached_njit
def dense_forward_loss(W, b, x, z, label, dz):
    """dense_forward(W, b, x, z, IDENTITY), then softmax_cross_entropy(z, label, dz): the top
    layer's forward and loss; returns the loss. z and dz (n_out,)."""
    dense_forward(W, b, x, z, IDENTITY)
    return softmax_cross_entropy(z, label, dz)
