"""Result dtypes: NumPy/SciPy promotion, narrowed to what JAX's config allows."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def result_dtype(*dtypes) -> np.dtype:
    """NumPy's promotion (as SciPy uses), canonicalised for the current x64 setting.

    NumPy differs from JAX on mixed kinds (int32 with float32 is float64 in NumPy); we
    follow NumPy so results match SciPy. bf16 mixes that NumPy cannot rank fall back
    to JAX's lattice.
    """
    dtypes = [np.dtype(d) for d in dtypes]
    try:
        out = np.result_type(*dtypes)
    except TypeError:
        out = jnp.result_type(*dtypes)
    return np.dtype(jax.dtypes.canonicalize_dtype(out))


def as_dense(x, name: str) -> jax.Array:
    """A dense operand as a ``jax.Array``; sparse objects are refused, not densified."""
    from ..formats._base import AbstractSparse

    if isinstance(x, AbstractSparse):
        raise TypeError(f"{name} must be a dense array, got sparse {type(x).__name__}")
    if x is None:  # jnp.asarray raises a ValueError that names nothing
        raise TypeError(f"{name} must be an array, got None")
    if isinstance(x, np.ndarray) and x.dtype.kind in "OSU":  # objects, strings, bytes
        raise TypeError(f"{name} must have a numeric dtype, got {x.dtype}")
    try:
        return jnp.asarray(x)
    except TypeError as err:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}: {err}") from None
    except ValueError as err:  # a ragged or None-holding list: JAX's message names nothing
        raise ValueError(f"{name} is not a valid array ({type(x).__name__}): {err}") from None
