"""Index dtypes: int32 while every index fits, int64 beyond (which needs x64)."""

from __future__ import annotations

import jax
import numpy as np

_INT32_MAX = int(np.iinfo(np.int32).max)


def index_dtype(*extents: int) -> np.dtype:
    """The narrowest index dtype that holds every value in ``[0, max(extents)]``.

    Indices stay int32 while they fit: int64 indices add a third to the memory traffic
    of an f64 matrix. Past int32 we need int64, which JAX silently truncates to int32
    unless ``jax_enable_x64`` is on, so we refuse instead of wrapping.
    """
    biggest = max((int(e) for e in extents), default=0)
    if biggest <= _INT32_MAX:
        return np.dtype(np.int32)
    if not jax.config.jax_enable_x64:
        raise ValueError(
            f"this matrix needs int64 indices (an extent of {biggest} exceeds int32), "
            "but jax_enable_x64 is off and JAX would silently wrap them to int32; "
            "enable it with jax.config.update('jax_enable_x64', True) before building"
        )
    return np.dtype(np.int64)
