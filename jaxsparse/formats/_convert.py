"""Conversions between formats, without densifying.

COO <-> CSR/CSC conversions are jit-able: they sort (stable) and keep the capacity, so
padding stays padding. Conversions whose *pattern* depends on values (``fromdense``)
run a host symbolic phase when the input is concrete, or take a static ``nse=``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..ops._scan import prefix_sum
from . import _host, _validate
from ._base import mask_values
from ._index import index_dtype


@functools.partial(jax.jit, static_argnames="row_major")
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
    indptr = jnp.concatenate([jnp.zeros(1, idx), prefix_sum(counts, idx)])
    indices = jnp.where(valid, minor, n_minor).astype(idx)
    data = mask_values(valid.reshape(valid.shape + (1,) * (data.ndim - 1)), data)
    cls = CSR if row_major else CSC
    return cls(data, indices, indptr, shape=coo.shape, has_sorted_indices=True,
               has_canonical_format=coo.has_canonical_format)


def dense_to_coo(dense, *, nse: int | None, row_major: bool = True):
    """The nonzeros of ``dense`` as a row-major COO with capacity ``nse`` (or exact)."""
    from ._coo import COO

    _validate.check_nse(nse)
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
        nse = _validate.capacity(nse, int(np.count_nonzero(host)))
        if not isinstance(dense, jax.Array):
            return _host_dense_to_coo(host, nse)
        dense_j = jnp.asarray(dense)
    _validate.check_shape(dense_j.shape, (1, 2), "fromdense input")
    _validate.check_data_dtype(dense_j.dtype, "dense")
    shape = tuple(dense_j.shape)
    idx = index_dtype(*shape, nse)
    coords = jnp.nonzero(dense_j, size=nse, fill_value=shape)
    coords = tuple(c.astype(idx) for c in coords)
    data = dense_j.at[coords].get(mode="fill", fill_value=0)
    return COO(data, coords, shape=shape, has_canonical_format=True)


def _host_dense_to_coo(host: np.ndarray, nse: int):
    """:func:`dense_to_coo` of a host array at its exact count, found by NumPy: the
    values are already on the host, and a device ``nonzero`` would compile anew for
    every distinct count."""
    from ._coo import COO

    _validate.check_shape(host.shape, (1, 2), "fromdense input")
    idx = index_dtype(*host.shape, nse)
    where = np.nonzero(host)
    count = where[0].size
    data = np.zeros(nse, host.dtype)  # capacity past the entries: value 0 at the
    data[:count] = host[where]  # out-of-range coordinate (the shape), as on the device
    coords = []
    for c, n in zip(where, host.shape, strict=True):
        padded = np.full(nse, n, idx)
        padded[:count] = c
        coords.append(padded)
    placed = _host.to_device(data, *coords)
    return COO(placed[0], tuple(placed[1:]), shape=tuple(host.shape),
               has_canonical_format=True)


# -- pattern-dependent conversions (host symbolic phase, jit-able numeric phase) ---------


def _concrete_coo(coo, op: str):
    """The real entries' ``(row, col)`` on the host, or a clear error under ``jit``."""
    if coo.ndim != 2:
        raise ValueError(f"{op} needs a 2-D matrix, got a {coo.ndim}-D COO")
    row, col = coo.coords
    if not _validate.is_concrete(row, col):
        raise ValueError(
            f"{op} needs concrete indices: the output pattern (which "
            f"{'diagonals' if op == 'todia' else 'blocks'} are stored) depends on them, so "
            "it cannot be computed under jit; convert outside jit"
        )
    row, col = np.asarray(row), np.asarray(col)
    valid = row < coo.shape[0]
    return row, col, valid


def coo_to_dia(coo):
    """COO -> DIA. Host: the set of diagonals; device: one scatter-add of the values.

    Duplicates are summed; explicit zeros are stored. Differentiable in ``coo.data``.
    Like SciPy, warns (``SparseEfficiencyWarning``) past 100 diagonals.
    """
    from ._dia import DIA

    row, col, valid = _concrete_coo(coo, "todia")
    n, m = coo.shape
    offsets = np.unique(col[valid].astype(np.int64) - row[valid])
    if offsets.size > 100:
        import warnings

        from .._warnings import SparseEfficiencyWarning

        warnings.warn(
            f"Constructing a DIA matrix with {offsets.size} diagonals is inefficient",
            SparseEfficiencyWarning, stacklevel=3,
        )
    idx = index_dtype(n, m, offsets.size * m)
    k = np.searchsorted(offsets, col.astype(np.int64) - row)
    k = np.where(valid, k, offsets.size)  # padding: an out-of-range diagonal, dropped
    j = np.where(valid, col, m)
    data = jnp.zeros((offsets.size, m), coo.dtype)
    data = data.at[jnp.asarray(k, idx), jnp.asarray(j, idx)].add(coo.data, mode="drop")
    # SciPy stores columns up to the last one used; keep its nnz count.
    width = int(col[valid].max()) + 1 if valid.any() else 0
    return DIA(data, jnp.asarray(offsets, idx), shape=coo.shape,
               width=None if width >= m else width)


def default_blocksize(coo) -> tuple[int, int]:
    """SciPy's choice for ``tobsr(blocksize=None)`` (``estimate_blocksize`` on the CSR)."""
    try:
        from scipy.sparse._spfuncs import estimate_blocksize
    except ImportError:  # pragma: no cover - private SciPy helper moved
        return (1, 1)
    row, col, valid = _concrete_coo(coo, "tobsr")
    import scipy.sparse as sps

    pattern = sps.csr_array((np.ones(int(valid.sum())), (row[valid], col[valid])),
                            shape=coo.shape)
    return tuple(int(b) for b in estimate_blocksize(pattern))


def coo_to_bsr(coo, blocksize=None):
    """COO -> BSR. Host: the sorted set of nonzero blocks; device: one scatter-add.

    Duplicates are summed; a block is stored when it holds any stored entry (explicit
    zeros included, as SciPy does). Differentiable in ``coo.data``.
    """
    from ._bsr import BSR

    row, col, valid = _concrete_coo(coo, "tobsr")
    if blocksize is None:
        blocksize = default_blocksize(coo)
    r, c = _validate.check_blocksize(blocksize, coo.shape)
    n, m = coo.shape
    nbr, nbc = n // r, m // c
    key = (row[valid].astype(np.int64) // r) * nbc + col[valid] // c
    blocks = np.unique(key)
    nb = blocks.size
    idx = index_dtype(n, m, nb * r * c)
    slot = np.full(row.shape, nb, np.int64)
    slot[valid] = np.searchsorted(blocks, key)
    rr = np.where(valid, row % max(r, 1), 0)
    cc = np.where(valid, col % max(c, 1), 0)
    data = jnp.zeros((nb, r, c), coo.dtype)
    data = data.at[jnp.asarray(slot, idx), jnp.asarray(rr, idx), jnp.asarray(cc, idx)].add(
        coo.data, mode="drop")
    brow = (blocks // nbc) if nbc else blocks
    indptr = np.concatenate([[0], np.cumsum(np.bincount(brow, minlength=nbr))])
    return BSR(data, jnp.asarray(blocks % nbc if nbc else blocks, idx),
               jnp.asarray(indptr, idx), shape=coo.shape, blocksize=(r, c),
               has_sorted_indices=True, has_canonical_format=True)


# -- jax.experimental.sparse.BCOO interop ------------------------------------------------


def from_bcoo(bcoo):
    """A 2-D, unbatched ``BCOO`` as a :class:`COO` (jit-able, same capacity).

    BCOO marks padding with out-of-range indices; any slot with an out-of-range
    coordinate becomes our padding (every coordinate a sentinel, value 0).
    """
    from jax.experimental import sparse as jsparse

    from ._coo import COO

    if not isinstance(bcoo, jsparse.BCOO):
        raise TypeError(f"bcoo must be a jax.experimental.sparse.BCOO, got {type(bcoo).__name__}")
    if bcoo.n_batch or bcoo.n_dense or bcoo.ndim != 2:
        raise ValueError(
            "from_bcoo supports 2-D BCOO without batch or dense dimensions, got "
            f"shape={bcoo.shape}, n_batch={bcoo.n_batch}, n_dense={bcoo.n_dense}"
        )
    n, m = bcoo.shape
    idx = index_dtype(n, m, bcoo.nse)
    row, col = bcoo.indices[:, 0], bcoo.indices[:, 1]
    valid = (row >= 0) & (row < n) & (col >= 0) & (col < m)
    row = jnp.where(valid, row, n).astype(idx)
    col = jnp.where(valid, col, m).astype(idx)
    data = mask_values(valid, bcoo.data)
    canonical = bool(bcoo.indices_sorted and bcoo.unique_indices)
    return COO(data, (row, col), shape=(n, m), has_canonical_format=canonical)


def to_bcoo(coo):
    """A 2-D :class:`COO` as ``BCOO`` (jit-able); padding keeps out-of-range indices."""
    from jax.experimental import sparse as jsparse

    if coo.ndim != 2:
        raise ValueError(f"to_bcoo needs a 2-D matrix, got a {coo.ndim}-D COO")
    indices = jnp.stack(coo.coords, axis=1)
    canonical = bool(coo.has_canonical_format)
    return jsparse.BCOO((coo.data, indices), shape=coo.shape, indices_sorted=canonical,
                        unique_indices=canonical)
