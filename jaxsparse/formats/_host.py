"""Constructors given host input build it with NumPy and copy it to the device once.

In JAX 0.10.2 ``jnp.asarray(ndarray)`` runs a ``stage`` program compiled per shape and
dtype, a ``dtype=`` cast compiles another, and every ``jnp`` op on the result compiles
per shape too: building a matrix of a new size cost 5-11 XLA compiles (~150-300 ms on
this 2-core machine) before any work. ``jax.device_put`` of a NumPy array only copies.
Traced or device input keeps the ``jnp`` path, so the same code runs under ``jit``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _hugepages


def namespace(*arrays: Any) -> ModuleType:
    """``numpy`` when every array is host data, else ``jax.numpy`` (tracers are
    ``jax.Array`` instances)."""
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def asarray(xp: ModuleType, x: Any, dtype: Any = None):
    """``xp.asarray(x, dtype)`` with JAX's dtype rules: on the host the dtype is
    canonicalised as ``jnp.asarray`` would (float64 is float32 without x64)."""
    if xp is jnp:
        return jnp.asarray(x, dtype=dtype)
    x = np.asarray(x)
    return x.astype(jax.dtypes.canonicalize_dtype(x.dtype if dtype is None else dtype),
                    copy=False)


def to_device(*arrays: Any) -> tuple[jax.Array, ...]:
    """Each host array copied to the default device (large ones on huge pages, see
    ``jaxsparse._hugepages``); device arrays and tracers as is."""
    return tuple(a if isinstance(a, jax.Array) else _hugepages.device_put(a) for a in arrays)


def compressed_pattern(major: np.ndarray, minor: np.ndarray, values: np.ndarray,
                       n_major: int, capacity: int):
    """``(data, indices, indptr)`` host arrays of entries listed in major order
    (``values[i]`` at ``(major[i], minor[i])``), with ``capacity`` slots; ``from_arrays``
    turns the slots past ``indptr[-1]`` into padding."""
    count = major.size
    data = np.zeros((capacity,) + values.shape[1:], values.dtype)
    data[:count] = values
    indices = np.zeros(capacity, np.int64)
    indices[:count] = minor
    indptr = np.zeros(n_major + 1, np.int64)
    np.cumsum(np.bincount(major, minlength=n_major), out=indptr[1:])
    return data, indices, indptr
