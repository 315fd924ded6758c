"""``norm``: matrix and vector norms of a sparse matrix, in JAX (jit-able).

The entries are summed per row/column with scatter-adds over the stored entries
(duplicates summed first, as SciPy does before ``abs``); nothing is densified. ``ord=2``
(and ``-2``, which SciPy does not implement) use :func:`svds` (largest / smallest singular
value), like SciPy's ``ord=2``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ._direct import as_core


def _entries(x):
    """``(row, col, |value|)`` of the canonical (duplicates summed) entries; padding slots
    have value 0 and out-of-range coordinates, which the scatters below drop."""
    coo = x.tocoo().sum_duplicates()
    return coo.coords[0], coo.coords[1], coo.data


def _axis_reduce(x, axis: int, kind: str, p=None):
    """Reduce ``|x|`` along ``axis`` (0: over rows, giving one value per column)."""
    r, c, v = _entries(x)
    n_out = x.shape[1 - axis]
    idx = c if axis == 0 else r
    a = jnp.abs(v)
    real = a.dtype
    if kind == "sum":
        return jnp.zeros(n_out, real).at[idx].add(a, mode="drop")
    if kind == "pow":
        return jnp.zeros(n_out, real).at[idx].add(a**p, mode="drop")
    if kind == "count":
        return jnp.zeros(n_out, jnp.int32).at[idx].add((v != 0).astype(jnp.int32), mode="drop")
    count = jnp.zeros(n_out, jnp.int32).at[idx].add(1, mode="drop")
    full = count == x.shape[axis]  # every entry of the line is stored
    if kind == "max":  # implicit zeros never exceed |values|
        return jnp.zeros(n_out, real).at[idx].max(a, mode="drop")
    # min: an implicit zero (line not full) makes the minimum 0
    m = jnp.full(n_out, jnp.inf, real).at[idx].min(a, mode="drop")
    return jnp.where(full, m, 0).astype(real)


def norm(x: Any, ord: Any = None, axis: Any = None):
    """Norm of a sparse matrix: ``'fro'``, ``1``, ``-1``, ``inf``, ``-inf``, ``2``, ``-2``
    (matrix norms), or a vector norm of each row/column with ``axis=0/1``.

    Args:
        x: a jaxsparse core format, a drop-in matrix or a SciPy sparse matrix.
        ord: as ``numpy.linalg.norm``; for vectors (``axis`` an int) any real ``p``,
            ``0`` (count of nonzeros), ``inf``/``-inf``.
        axis: ``None`` or a pair (matrix norm) or an int (vector norms).

    Returns:
        A scalar ``jax.Array`` (matrix norm) or a 1-D one (vector norms).

    Example:
        >>> import scipy.sparse as sps, jaxsparse as js
        >>> A = js.CSR.from_scipy(sps.csr_array([[1., -2.], [3., 0.]]))
        >>> float(js.linalg.norm(A, 1))
        4.0

    SciPy equivalent: ``scipy.sparse.linalg.norm``.
    """
    core = as_core(x)
    if core is None:
        raise TypeError("input is not sparse. use numpy.linalg.norm")
    x = core
    if axis is None and ord in (None, "fro", "f"):
        return _frobenius(x)
    nd = x.ndim
    if axis is None:
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        msg = "'axis' must be None, an integer or a tuple of integers"
        try:
            int_axis = int(axis)
        except TypeError as e:
            raise TypeError(msg) from e
        if axis != int_axis:
            raise TypeError(msg)
        axis = (int_axis,)
    if len(axis) == 2:
        row_axis, col_axis = axis
        if not (-nd <= row_axis < nd and -nd <= col_axis < nd):
            raise ValueError(f"Invalid axis {axis!r} for an array with shape {x.shape!r}")
        if row_axis % nd == col_axis % nd:
            raise ValueError("Duplicate axes given.")
        row_axis, col_axis = row_axis % nd, col_axis % nd
        if ord in (2, -2):
            from ._svds import svds

            s = svds(x, k=1, which="LM" if ord == 2 else "SM", return_singular_vectors=False)
            return s[0]
        if ord == 1:
            return jnp.max(_axis_reduce(x, row_axis, "sum"))
        if ord == np.inf:
            return jnp.max(_axis_reduce(x, col_axis, "sum"))
        if ord == -1:
            return jnp.min(_axis_reduce(x, row_axis, "sum"))
        if ord == -np.inf:
            return jnp.min(_axis_reduce(x, col_axis, "sum"))
        if ord in (None, "f", "fro"):
            return _frobenius(x)
        raise ValueError("Invalid norm order for matrices.")
    if len(axis) == 1:
        (a,) = axis
        if not (-nd <= a < nd):
            raise ValueError(f"Invalid axis {axis!r} for an array with shape {x.shape!r}")
        a = a % nd
        if ord == np.inf:
            return _axis_reduce(x, a, "max")
        if ord == -np.inf:
            return _axis_reduce(x, a, "min")
        if ord == 0:
            return _axis_reduce(x, a, "count")
        if ord == 1:
            return _axis_reduce(x, a, "sum")
        if ord in (2, None):
            return jnp.sqrt(_axis_reduce(x, a, "pow", 2))
        try:
            ord + 1
        except TypeError as e:
            raise ValueError("Invalid norm order for vectors.") from e
        return jnp.power(_axis_reduce(x, a, "pow", ord), 1 / ord)
    raise ValueError("Improper number of dimensions to norm.")


def _frobenius(x):
    _, _, v = _entries(x)
    return jnp.sqrt(
        jnp.sum(jnp.real(v) ** 2 + jnp.imag(v) ** 2) if jnp.iscomplexobj(v) else jnp.sum(v * v)
    )
