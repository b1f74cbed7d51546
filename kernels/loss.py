"""Softmax cross-entropy loss kernel."""

import math

import numpy as np
from wafersim_kernels._jit import cached_njit


# No fastmath here: the max-subtraction and log-sum-exp must not be
# reassociated, and non-finite logits must yield a non-finite loss.
@cached_njit
def softmax_cross_entropy(z, label, dz):
    """Write dz = softmax(z) - onehot(label) and return -log softmax(z)[label].

    z and dz have shape (n,); label is an int in [0, n) and is not bounds
    checked. The log-sum-exp is accumulated in float64 (np.float64 is used for
    the casts because Numba types float() of a float32 as float32).
    """
    n = z.shape[0]
    m = np.float64(z[0])
    # poison is 0 for finite logits and NaN otherwise. It makes any non-finite
    # logit (even a -inf one, which softmax alone would tolerate) give a
    # non-finite loss, since that is how divergence is detected.
    poison = 0.0
    for k in range(n):
        if z[k] > m:
            m = np.float64(z[k])
        poison += np.float64(z[k]) * 0.0
    # With NaN or +inf in z, z[k] - m is NaN for some k, so dz is NaN too.
    s = 0.0
    for k in range(n):
        s += math.exp(np.float64(z[k]) - m)
    inv_s = 1.0 / s
    for k in range(n):
        dz[k] = math.exp(np.float64(z[k]) - m) * inv_s
    dz[label] -= 1.0
    return m + math.log(s) - np.float64(z[label]) + poison
