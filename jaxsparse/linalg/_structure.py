"""``is_sptriangular`` and ``spbandwidth``: structure of the stored entries, in JAX.

Only the sparsity structure is used (stored zeros count), as in SciPy. The results are
Python values for concrete input and ``jax.Array``\\ s under ``jit``. Padding slots
(out-of-range coordinates) are ignored.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._direct import as_core


def _gaps(A: Any):
    """``(col - row, real)`` over the stored slots (``real`` masks out padding)."""
    core = as_core(A)
    if core is None:
        raise TypeError(f"A must be a sparse matrix, got {type(A).__name__}")
    if core.ndim != 2:
        raise ValueError(f"A must be 2-D, got shape {core.shape}")
    if core.format == "dia":
        off = core.offsets
        return off, jnp.ones(off.shape, bool)
    coo = core.tocoo()
    r, c = coo.coords
    real = (r < core.shape[0]) & (c < core.shape[1])
    return c.astype(jnp.int64 if jax.config.jax_enable_x64 else jnp.int32) - r, real


def _py(x, kind):
    return x if isinstance(x, jax.core.Tracer) else kind(x)


def is_sptriangular(A: Any) -> tuple[Any, Any]:
    """``(lower, upper)``: whether the stored entries of ``A`` are all on or below /
    on or above the diagonal (a diagonal matrix gives ``(True, True)``).

    SciPy equivalent: ``scipy.sparse.linalg.is_sptriangular``.
    """
    gap, real = _gaps(A)
    lower = jnp.all(jnp.where(real, gap <= 0, True))
    upper = jnp.all(jnp.where(real, gap >= 0, True))
    return _py(lower, bool), _py(upper, bool)


def spbandwidth(A: Any) -> tuple[Any, Any]:
    """``(below, above)``: the distance of the farthest stored diagonal below / above the
    main diagonal (0 when there is none).

    SciPy equivalent: ``scipy.sparse.linalg.spbandwidth``.
    """
    gap, real = _gaps(A)
    below = jnp.max(jnp.where(real, -gap, 0), initial=0)
    above = jnp.max(jnp.where(real, gap, 0), initial=0)
    return _py(below, int), _py(above, int)
