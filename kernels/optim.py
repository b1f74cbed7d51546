"""Element-wise optimiser kernels, and the dot products of conjugate gradients, for C-contiguous arrays."""

import numpy as np

from wafersim_kernels._jit import fast_njit

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


# Fused direction kernels of the adaptive optimisers. Each one updates its state buffers
# and overwrites the gradient g with the step direction d in one pass, so that the caller
# applies W += coef * d afterwards (coef carries the learning rate and the sign). Every
# scalar is cast once to the array dtype; 1 - decay is formed in float64 first so that
# it is the correctly rounded complement, not the difference of two rounded numbers.


@fast_njit
def nesterov_direction(b, g, mu):
    """b = mu * b + g, then g = g + mu * b, in place: g becomes the Nesterov direction."""
    bf = b.reshape(-1)
    gf = g.reshape(-1)
    m = bf.dtype.type(mu)
    for k in range(bf.shape[0]):
        bk = m * bf[k] + gf[k]
        bf[k] = bk
        gf[k] = gf[k] + m * bk


@fast_njit
def spike_direction(v, g, mu, a, b):
    """v = mu * v + g, then g = a * v + b * g, in place: g becomes the spike-compensated direction."""
    vf = v.reshape(-1)
    gf = g.reshape(-1)
    m, af, bf = vf.dtype.type(mu), vf.dtype.type(a), vf.dtype.type(b)
    for k in range(vf.shape[0]):
        vk = m * vf[k] + gf[k]
        vf[k] = vk
        gf[k] = af * vk + bf * gf[k]


@fast_njit
def adagrad_direction(s, g, eps):
    """s = s + g^2, then g = g / (sqrt(s) + eps), in place (Duchi et al. 2011)."""
    sf = s.reshape(-1)
    gf = g.reshape(-1)
    e = sf.dtype.type(eps)
    for k in range(sf.shape[0]):
        gk = gf[k]
        sk = sf[k] + gk * gk
        sf[k] = sk
        gf[k] = gk / (np.sqrt(sk) + e)


@fast_njit
def rmsprop_direction(s, g, decay, eps):
    """s = decay * s + (1 - decay) * g^2, then g = g / (sqrt(s) + eps), in place."""
    sf = s.reshape(-1)
    gf = g.reshape(-1)
    d = sf.dtype.type(decay)
    c = sf.dtype.type(1.0 - decay)
    e = sf.dtype.type(eps)
    for k in range(sf.shape[0]):
        gk = gf[k]
        sk = d * sf[k] + c * (gk * gk)
        sf[k] = sk
        gf[k] = gk / (np.sqrt(sk) + e)


@fast_njit
def adadelta_direction(g2, dx2, g, decay, eps):
    """Zeiler's Adadelta in place: g2 = r g2 + (1-r) g^2; d = g sqrt((dx2 + eps) / (g2 + eps));
    dx2 = r dx2 + (1-r) d^2; g = d. The parameter step is -d (times the learning rate)."""
    g2f = g2.reshape(-1)
    dx2f = dx2.reshape(-1)
    gf = g.reshape(-1)
    r = gf.dtype.type(decay)
    c = gf.dtype.type(1.0 - decay)
    e = gf.dtype.type(eps)
    for k in range(gf.shape[0]):
        gk = gf[k]
        ak = r * g2f[k] + c * (gk * gk)
        g2f[k] = ak
        # RMS[dx]_{t-1} / RMS[g]_t as one square root of the quotient.
        dk = gk * np.sqrt((dx2f[k] + e) / (ak + e))
        dx2f[k] = r * dx2f[k] + c * (dk * dk)
        gf[k] = dk


@fast_njit
def adam_direction(m, v, g, beta1, beta2, eps_hat):
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; g = m / (sqrt(v) + eps_hat), in place.

    The bias corrections are scalars the caller folds into the step size and eps_hat
    (Kingma & Ba 2015, section 2, the reordered form of Algorithm 1).
    """
    mf = m.reshape(-1)
    vf = v.reshape(-1)
    gf = g.reshape(-1)
    b1 = gf.dtype.type(beta1)
    c1 = gf.dtype.type(1.0 - beta1)
    b2 = gf.dtype.type(beta2)
    c2 = gf.dtype.type(1.0 - beta2)
    e = gf.dtype.type(eps_hat)
    for k in range(gf.shape[0]):
        gk = gf[k]
        mk = b1 * mf[k] + c1 * gk
        vk = b2 * vf[k] + c2 * (gk * gk)
        mf[k] = mk
        vf[k] = vk
        gf[k] = mk / (np.sqrt(vk) + e)


@fast_njit
def dot(a, b):
    """sum(a * b) over all elements, accumulated in float64; a and b have the same shape."""
    af = a.reshape(-1)
    bf = b.reshape(-1)
    acc = 0.0
    for k in range(af.shape[0]):
        # A product of two float32 numbers is exact in float64.
        acc += np.float64(af[k]) * np.float64(bf[k])
    return acc


@fast_njit
def hestenes_stiefel_dots(g, g_prev, p):
    """(g . y, y . p) with y = g - g_prev, both accumulated in float64 in one pass."""
    gf = g.reshape(-1)
    qf = g_prev.reshape(-1)
    pf = p.reshape(-1)
    num = 0.0
    den = 0.0
    for k in range(gf.shape[0]):
        # y is formed in float64 so that g - g_prev loses nothing to float32 cancellation.
        yk = np.float64(gf[k]) - np.float64(qf[k])
        num += np.float64(gf[k]) * yk
        den += yk * np.float64(pf[k])
    return num, den


@fast_njit
def cg_direction(p, g, beta):
    """p = beta * p - g, then g = -p, in place: g becomes the direction whose negative
    (times the learning rate) is the conjugate-gradient step +lr * p."""
    pf = p.reshape(-1)
    gf = g.reshape(-1)
    bt = pf.dtype.type(beta)
    for k in range(pf.shape[0]):
        pk = bt * pf[k] - gf[k]
        pf[k] = pk
        gf[k] = -pk
