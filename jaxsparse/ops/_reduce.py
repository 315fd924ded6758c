"""Reductions: sum, mean, diagonal, trace, max, min, count_nonzero — every format.

All of them read the matrix through ``A.tocoo()`` and mask padding explicitly, so a
padding slot never contributes (its value is 0 anyway, but ``max``/``min`` and
``count_nonzero`` must not see it as an entry). ``max``/``min``/``count_nonzero`` sum
duplicates first, exactly as SciPy does. Results are dense (``jax.Array`` scalars or
1-D arrays), except ``max``/``min`` along an axis, which return a 1-D COO like SciPy
1.17's ``coo_array``.
"""

from __future__ import annotations

import builtins
import operator

import jax
import jax.numpy as jnp
import numpy as np

from ..formats._base import AbstractSparse
from ..formats._coo import COO
from ._pattern import as_coo, sum_duplicates_coo


def _check(A, name: str) -> None:
    if not isinstance(A, AbstractSparse):
        raise TypeError(f"{name} needs a jaxsparse array, got {type(A).__name__}")


def _canon(dtype) -> np.dtype:
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def _sum_dtype(dtype) -> np.dtype:
    """NumPy's ``sum`` dtype: small ints/bool -> int64 (uint -> uint64)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_ or dtype.kind == "i":
        return _canon(np.int64)
    if dtype.kind == "u":
        return _canon(np.uint64)
    return dtype


def _axis(A, axis, name: str):
    if axis is None:
        return None
    if isinstance(axis, tuple):
        if sorted(operator.index(a) % A.ndim for a in axis) == list(range(A.ndim)):
            return None
        if len(axis) == 1:
            axis = axis[0]
        else:
            raise ValueError(f"{name}: axis {axis} is not supported")
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name}: axis must be None or an int, got {axis!r}") from None
    if not -A.ndim <= axis < A.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for a {A.ndim}-D array")
    return axis % A.ndim


def _entries(A, dedupe: bool = False):
    """``(data, coords, valid)`` of A's slots; padding slots have ``valid == False``."""
    coo = as_coo(A)
    if dedupe:
        coo = sum_duplicates_coo(coo)
    valid = jnp.ones(coo.capacity, bool)
    for c, n in zip(coo.coords, coo.shape, strict=True):
        valid &= (c >= 0) & (c < n)
    return coo.data, coo.coords, valid


def _sum(A, axis=None, dtype=None):
    """Sum of all entries (``axis=None``) or along an axis (a dense 1-D array).

    Integer and bool matrices sum in int64 (as NumPy/SciPy; int32 without x64).

    SciPy equivalent: ``A.sum(axis)``.
    """
    _check(A, "sum")
    axis = _axis(A, axis, "sum")
    out_dtype = _sum_dtype(A.dtype) if dtype is None else _canon(dtype)
    data, coords, valid = _entries(A)
    data = jnp.where(valid, data.astype(out_dtype), 0)
    if axis is None:
        return jnp.sum(data, dtype=out_dtype)
    if A.ndim == 1:
        return jnp.sum(data, dtype=out_dtype)
    keep = 1 - axis
    seg = jnp.where(valid, coords[keep], A.shape[keep])
    return jax.ops.segment_sum(data, seg, num_segments=A.shape[keep], mode="drop")


def mean(A, axis=None, dtype=None):
    """Mean over all entries or along an axis, implicit zeros included.

    Integer and bool input gives float64 (as SciPy); floats keep their dtype.

    SciPy equivalent: ``A.mean(axis)``.
    """
    _check(A, "mean")
    ax = _axis(A, axis, "mean")
    if dtype is None:
        kind = np.dtype(A.dtype).kind
        dtype = A.dtype if kind in "fc" else np.float64
    dtype = _canon(dtype)
    count = int(np.prod(A.shape)) if ax is None else A.shape[ax]
    total = _sum_jit(A, axis=ax, dtype=dtype)
    return (total / jnp.asarray(count, dtype)).astype(dtype)


def _diagonal(A, k: int = 0):
    """The ``k``-th diagonal as a dense 1-D array (duplicates summed).

    SciPy equivalent: ``A.diagonal(k)``.
    """
    _check(A, "diagonal")
    if A.ndim != 2:
        raise ValueError(f"diagonal needs a 2-D array, got shape {A.shape}")
    k = operator.index(k)
    n, m = A.shape
    length = builtins.max(0, builtins.min(n + builtins.min(k, 0), m - builtins.max(k, 0)))
    data, (row, col), valid = _entries(A)
    on = valid & (col - row == k)
    pos = jnp.where(on, row if k >= 0 else col, length)
    return jax.ops.segment_sum(jnp.where(on, data, 0), pos, num_segments=length,
                               mode="drop")


def trace(A, offset: int = 0):
    """Sum of the ``offset``-th diagonal (int64 for integer input, as SciPy).

    SciPy equivalent: ``A.trace(offset)``.
    """
    _check(A, "trace")
    d = _diagonal_jit(A, k=operator.index(offset))
    return jnp.sum(d, dtype=_sum_dtype(A.dtype))


def _extreme(dtype, largest: bool):
    """The identity of max (``largest=False`` gives the smallest value) for ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.bool_(largest)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.max if largest else info.min
    inf = np.inf if largest else -np.inf
    if dtype.kind == "c":
        return complex(inf, inf)
    return inf


def _min_or_max(A, axis, explicit: bool, is_max: bool):
    name = "max" if is_max else "min"
    _check(A, name)
    axis = _axis(A, axis, name)
    size = int(np.prod(A.shape))
    out_len = 1 if axis is None or A.ndim == 1 else A.shape[1 - axis]
    if (size == 0 and axis is None) or (out_len and A.shape[axis or 0] == 0):
        raise ValueError(f"{name}: zero-size array to reduction operation {name}imum "
                         "which has no identity")
    data, coords, valid = _entries(A, dedupe=True)
    fn = jnp.maximum if is_max else jnp.minimum
    fill = jnp.asarray(_extreme(A.dtype, largest=not is_max), A.dtype)
    masked = jnp.where(valid, data, fill)
    zero = jnp.zeros((), A.dtype)
    if axis is None or A.ndim == 1:
        if data.shape[0] == 0:
            return zero
        nnz = jnp.sum(valid, dtype=jnp.int32)
        best = jnp.max(masked) if is_max else jnp.min(masked)
        if not explicit:
            best = jnp.where(nnz < size, fn(best, zero), best)
        return jnp.where(nnz == 0, zero, best)
    keep = 1 - axis
    length, other = A.shape[keep], A.shape[axis]
    seg = jnp.where(valid, coords[keep], length)
    seg_fn = jax.ops.segment_max if is_max else jax.ops.segment_min
    best = seg_fn(masked, seg, num_segments=length, mode="drop")
    count = jax.ops.segment_sum(valid.astype(jnp.int32), seg, num_segments=length,
                                mode="drop")
    if not explicit:
        best = jnp.where(count < other, fn(best, zero), best)
    best = jnp.where(count == 0, zero, best)
    return _as_1d_coo(best, length)


def _as_1d_coo(values, length: int) -> COO:
    """A 1-D COO of capacity ``length`` storing the nonzeros of ``values`` (jit-able)."""
    from ..formats._index import index_dtype

    idx = index_dtype(length)
    nonzero = values != 0
    coords = jnp.where(nonzero, jnp.arange(length, dtype=idx), length).astype(idx)
    return COO(jnp.where(nonzero, values, 0), (coords,), shape=(length,),
               has_canonical_format=True)


def max(A, axis=None, *, explicit: bool = False):  # noqa: A001 - SciPy's name
    """Largest entry, implicit zeros included unless ``explicit=True``.

    ``axis=None`` gives a scalar; ``axis=0/1`` a 1-D COO (SciPy 1.17 returns a 1-D
    ``coo_array``), whose stored entries are the nonzero maxima. Zero-size input raises.

    SciPy equivalent: ``A.max(axis, explicit=explicit)``.
    """
    return _min_or_max_jit(A, axis, explicit, True)


def min(A, axis=None, *, explicit: bool = False):  # noqa: A001 - SciPy's name
    """Smallest entry (see :func:`max`). SciPy equivalent: ``A.min(axis)``."""
    return _min_or_max_jit(A, axis, explicit, False)


def _count_nonzero(A, axis=None):
    """Number of stored entries that are nonzero after summing duplicates.

    SciPy equivalent: ``A.count_nonzero(axis)``.
    """
    _check(A, "count_nonzero")
    axis = _axis(A, axis, "count_nonzero")
    data, coords, valid = _entries(A, dedupe=True)
    nz = (valid & (data != 0)).astype(_canon(np.int64))
    if axis is None or A.ndim == 1:
        return jnp.sum(nz)
    keep = 1 - axis
    seg = jnp.where(valid, coords[keep], A.shape[keep])
    return jax.ops.segment_sum(nz, seg, num_segments=A.shape[keep], mode="drop")


# Eager calls run op by op: each small jnp op is cached by shape, which compiles far less
# than one whole program per (format, axis, dtype) combination. Under jit they inline.
_sum_jit = _sum
_diagonal_jit = _diagonal
_count_nonzero_jit = _count_nonzero
_min_or_max_jit = _min_or_max


def _static_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def sum(A, axis=None, dtype=None):  # noqa: A001 - SciPy's name
    """Sum of all entries (``axis=None``) or along an axis (a dense 1-D array).

    Integer and bool matrices sum in int64 (as NumPy/SciPy; int32 without x64).

    SciPy equivalent: ``A.sum(axis)``.
    """
    _check(A, "sum")
    return _sum_jit(A, axis=_static_axis(axis), dtype=None if dtype is None else np.dtype(dtype))


def diagonal(A, k: int = 0):
    """The ``k``-th diagonal as a dense 1-D array (duplicates summed).

    SciPy equivalent: ``A.diagonal(k)``.
    """
    _check(A, "diagonal")
    return _diagonal_jit(A, k=operator.index(k))


def count_nonzero(A, axis=None):
    """Number of stored entries that are nonzero after summing duplicates.

    SciPy equivalent: ``A.count_nonzero(axis)``.
    """
    _check(A, "count_nonzero")
    return _count_nonzero_jit(A, axis=_static_axis(axis))
