"""Conversions between formats, without densifying.

COO <-> CSR/CSC conversions are jit-able: they sort (stable) and keep the capacity, so
padding stays padding. Conversions whose *pattern* depends on values (``fromdense``)
run a host symbolic phase when the input is concrete, or take a static ``nse=``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate
from ._index import index_dtype


def coo_to_compressed(coo, *, row_major: bool):
    """COO -> CSR (``row_major``) or CSC, sorted by (major, minor), duplicates kept."""
    from ._csc import CSC
    from ._csr import CSR

    row, col = coo.coords
    n, m = coo.shape
    major, minor, n_major, n_minor = (row, col, n, m) if row_major else (col, row, m, n)
    idx = major.dtype
    valid = (row < n) & (col < m)
    major = jnp.where(valid, major, n_major)  # padding sorts last
    order = jnp.lexsort((minor, major))
    major, minor, data = major[order], minor[order], coo.data[order]
    valid = major < n_major
    counts = jnp.zeros(n_major, idx).at[major].add(1, mode="drop")
    indptr = jnp.concatenate([jnp.zeros(1, idx), jnp.cumsum(counts, dtype=idx)])
    indices = jnp.where(valid, minor, n_minor).astype(idx)
    data = jnp.where(valid.reshape(valid.shape + (1,) * (data.ndim - 1)), data, 0)
    cls = CSR if row_major else CSC
    return cls(data, indices, indptr, shape=coo.shape, has_sorted_indices=True,
               has_canonical_format=coo.has_canonical_format)


def dense_to_coo(dense, *, nse: int | None, row_major: bool = True):
    """The nonzeros of ``dense`` as a row-major COO with capacity ``nse`` (or exact)."""
    from ._coo import COO

    if nse is not None and (not isinstance(nse, (int, np.integer)) or nse < 0):
        raise ValueError(f"nse must be a non-negative int (a static capacity), got {nse!r}")
    if isinstance(dense, jax.core.Tracer):
        if nse is None:
            raise ValueError(
                "fromdense under jit needs nse= (a static capacity): the number of "
                "nonzeros of a traced array is not known at trace time"
            )
        dense_j = dense
    else:
        host = np.asarray(dense)
        _validate.check_data_dtype(host.dtype, "dense")
        count = int(np.count_nonzero(host))
        if nse is None:
            nse = count
        elif nse < count:
            raise ValueError(f"nse={nse} is smaller than the number of nonzeros ({count})")
        dense_j = jnp.asarray(dense)
    _validate.check_shape(dense_j.shape, (1, 2), "fromdense input")
    _validate.check_data_dtype(dense_j.dtype, "dense")
    shape = tuple(dense_j.shape)
    idx = index_dtype(*shape, nse)
    coords = jnp.nonzero(dense_j, size=nse, fill_value=shape)
    coords = tuple(c.astype(idx) for c in coords)
    data = dense_j.at[coords].get(mode="fill", fill_value=0)
    return COO(data, coords, shape=shape, has_canonical_format=True)
