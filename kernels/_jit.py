"""Shared Numba compilation settings for the kernels."""

from functools import partial

from numba import njit

# Fast-math flags for dot/outer-product loops: allow FMA contraction, reciprocal
# approximation, reassociation (needed to vectorise reductions) and ignoring the
# sign of zero. "nnan"/"ninf" are left out on purpose so NaN and inf propagate
# to the loss, which is how divergence is detected.
FAST = {"contract", "arcp", "reassoc", "nsz"}

# Decorator for the arithmetic kernels; results are cached on disk.
fast_njit = partial(njit, cache=True, fastmath=FAST)
