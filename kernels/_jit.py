"""Shared Numba compilation settings for the kernels, and where their compiled cache lives.

Numba's `cache=True` would write `*.nbi`/`*.nbc` files beside the kernels' source, which
for a regular install is inside site-packages: uninstalling leaves them, and the empty
package folder then shadows a later editable install. So the cache goes to a folder of
the user's instead (checked writable, else one in the temporary folder), unless
NUMBA_CACHE_DIR says otherwise. Every kernel module imports this one first.
"""

import os
import tempfile
from functools import partial
from pathlib import Path

from numba import config, njit


def _cache_dir() -> str:
    """$WAFERSIM_CACHE_DIR, else $XDG_CACHE_HOME/wafersim/numba (~/.cache/...), if writable; else a temporary folder."""
    base = os.environ.get("WAFERSIM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "wafersim", "numba")
    for candidate in (base, os.path.join(tempfile.gettempdir(), f"wafersim-numba-{os.getuid()}")):
        try:
            os.makedirs(candidate, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    return ""  # nowhere writable: numba then compiles without a cache


if not os.environ.get("NUMBA_CACHE_DIR"):
    config.CACHE_DIR = _cache_dir()

# Fast-math flags for dot/outer-product loops: allow FMA contraction, reciprocal
# approximation, reassociation (needed to vectorise reductions) and ignoring the
# sign of zero. "nnan"/"ninf" are left out on purpose so NaN and inf propagate
# to the loss, which is how divergence is detected.
FAST = {"contract", "arcp", "reassoc", "nsz"}

# Decorators for the kernels; results are cached on disk (see above for where).
fast_njit = partial(njit, cache=True, fastmath=FAST)
cached_njit = partial(njit, cache=True)
