"""Element-wise optimiser kernels for C-contiguous arrays of any rank."""

from kernels._jit import fast_njit

# Each kernel works on the flat view a.reshape(-1), which Numba only allows for
# C-contiguous arrays; 1-D and 2-D inputs compile to separate specialisations.


@fast_njit
def axpy(y, x, alpha):
    """y += alpha * x in place; y and x have the same shape."""
    yf = y.reshape(-1)
    xf = x.reshape(-1)
    # Cast the Python float once so the loop runs in the array dtype.
    a = yf.dtype.type(alpha)
    for k in range(yf.shape[0]):
        yf[k] += a * xf[k]


@fast_njit
def momentum_accumulate(v, g, mu):
    """v = mu * v + g in place; v and g have the same shape."""
    vf = v.reshape(-1)
    gf = g.reshape(-1)
    m = vf.dtype.type(mu)
    for k in range(vf.shape[0]):
        vf[k] = m * vf[k] + gf[k]


@fast_njit
def zero(a):
    """Set every element of a to 0 in place."""
    af = a.reshape(-1)
    for k in range(af.shape[0]):
        af[k] = 0.0
