"""BSR: block sparse rows, SciPy's ``bsr_array`` layout."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._pytree import register_pytree_dataclass
from . import _canonical, _host, _validate
from ._base import AbstractSparseMatrix, concrete_int, host_array, mask_values
from ._compressed import _host_order
from ._index import index_dtype

_static = dict(static=True)


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class BSR(AbstractSparseMatrix):
    """Block sparse rows: block row ``I`` holds the dense ``(R, C)`` blocks
    ``data[indptr[I]:indptr[I+1]]`` at block columns ``indices[indptr[I]:indptr[I+1]]``.

    ``data`` has shape ``(block_capacity, R, C)``. Block slots past ``indptr[-1]`` are
    padding: zero blocks at the sentinel block column ``n_cols // C``. ``nnz`` counts
    ``n_blocks * R * C`` (explicit zeros inside stored blocks included), as SciPy does;
    the capacity is ``data.size``.

    SciPy equivalent: ``scipy.sparse.bsr_array``.
    """

    data: jax.Array
    indices: jax.Array
    indptr: jax.Array
    shape: tuple[int, int] = dataclasses.field(metadata=_static)
    blocksize: tuple[int, int] = dataclasses.field(default=(1, 1), metadata=_static)
    has_sorted_indices: bool = dataclasses.field(default=False, metadata=_static)
    has_canonical_format: bool = dataclasses.field(default=False, metadata=_static)

    format_name = "bsr"
    kernel_layout = "bsr"

    # -- basic properties ---------------------------------------------------------------
    @property
    def _block_shape(self) -> tuple[int, int]:
        r, c = self.blocksize
        return self.shape[0] // r, self.shape[1] // c

    @property
    def capacity(self) -> int:
        return int(self.data.size)

    @property
    def nnz(self) -> Any:
        r, c = self.blocksize
        return concrete_int(self.indptr[-1] * (r * c))

    @property
    def nblocks(self) -> Any:
        return concrete_int(self.indptr[-1])

    def _block_rows(self) -> jax.Array:
        from ..ops._reference import csr_row_ids

        return csr_row_ids(self.indptr, self.data.shape[0])

    def _keys(self):
        return (self._block_rows(), self.indices), self._block_shape

    def _rebuild(self, keys, data, **flags) -> BSR:
        indptr = _canonical.indptr_from_major(keys[0], self._block_shape[0])
        return BSR(data, keys[1], indptr, shape=self.shape, blocksize=self.blocksize,
                   **flags)

    def with_data(self, data: jax.Array) -> BSR:
        if data.shape[:1] != self.data.shape[:1]:
            raise ValueError(
                f"data must have {self.data.shape[0]} blocks (the block capacity), "
                f"got shape {data.shape}"
            )
        return dataclasses.replace(self, data=data)

    def astype(self, dtype) -> BSR:
        return self.with_data(self.data.astype(_validate.check_data_dtype(dtype, "dtype")))

    # -- kernel --------------------------------------------------------------------------
    def _matmul(self, b: jax.Array, *, transpose: bool, backend: str) -> jax.Array:
        from ..ops._primitives import BSR_MATMUL

        return BSR_MATMUL.bind(self.data, self.indices, self.indptr, b, shape=self.shape,
                               transpose=transpose, backend=backend)

    # -- canonical forms (new objects; SciPy mutates in place) ---------------------------
    def sort_indices(self) -> BSR:
        """Sort block columns within each block row (jit-able)."""
        keys, bounds = self._keys()
        keys, data = _canonical.sort_entries(keys, bounds, self.data)
        return self._rebuild(keys, data, has_sorted_indices=True,
                             has_canonical_format=self.has_canonical_format)

    def sum_duplicates(self) -> BSR:
        """Sum blocks at the same block position; sorted after (jit-able, same capacity)."""
        keys, bounds = self._keys()
        keys, data, _ = _canonical.sum_duplicates(keys, bounds, self.data)
        return self._rebuild(keys, data, has_sorted_indices=True, has_canonical_format=True)

    def eliminate_zeros(self, nse: int | None = None) -> BSR:
        """Drop all-zero blocks. Concrete input: exact block capacity (or ``nse``);
        under ``jit``: the capacity is kept (or ``nse``) and zero blocks become padding.
        """
        keys, bounds = self._keys()
        keys, data = _canonical.eliminate_zeros(keys, bounds, self.data, nse)
        return self._rebuild(keys, data, has_sorted_indices=self.has_sorted_indices,
                             has_canonical_format=self.has_canonical_format)

    # -- conversions ---------------------------------------------------------------------
    @jax.jit
    def tocoo(self):
        """Jit-able: every slot of every stored block, block by block, row-major inside."""
        from ._coo import COO

        n, m = self.shape
        r, c = self.blocksize
        cap = self.data.shape[0]
        idx = index_dtype(n, m, self.data.size)
        brow = self._block_rows().astype(idx)
        valid = brow < self._block_shape[0]
        rr = jnp.arange(r, dtype=idx)[None, :, None]
        cc = jnp.arange(c, dtype=idx)[None, None, :]
        v = valid[:, None, None]
        row = jnp.where(v, brow[:, None, None] * r + rr, n)
        col = jnp.where(v, self.indices.astype(idx)[:, None, None] * c + cc, m)
        full = (cap, r, c)
        row = jnp.broadcast_to(row, full).astype(idx).ravel()
        col = jnp.broadcast_to(col, full).astype(idx).ravel()
        data = mask_values(v, self.data).ravel()
        return COO(data, (row, col), shape=self.shape,
                   has_canonical_format=self.has_canonical_format and r == 1)

    def tocsr(self):
        return self.tocoo().tocsr()

    def tocsc(self):
        return self.tocoo().tocsc()

    def tobsr(self, blocksize=None) -> BSR:
        if blocksize is None or tuple(blocksize) == self.blocksize:
            return self
        return self.tocoo().tobsr(blocksize=blocksize)

    @jax.jit
    def todense(self) -> jax.Array:
        return self.tocoo().todense()

    def transpose(self) -> BSR:
        """A BSR of shape ``(m, n)`` and blocksize ``(C, R)``: blocks are re-sorted by
        block column with a stable sort at the same capacity (jit-able)."""
        brow = self._block_rows()
        nbr, nbc = self._block_shape
        bcol = jnp.where(brow < nbr, self.indices, nbc).astype(self.indices.dtype)
        keys, data = _canonical.sort_entries(
            (bcol, brow.astype(self.indices.dtype)), (nbc, nbr), self.data
        )
        indptr = _canonical.indptr_from_major(keys[0], nbc)
        return BSR(jnp.swapaxes(data, 1, 2), keys[1], indptr, shape=self.shape[::-1],
                   blocksize=self.blocksize[::-1], has_sorted_indices=True,
                   has_canonical_format=self.has_canonical_format)

    def to_scipy(self, *, copy: bool = True):
        import scipy.sparse as sps

        nb = int(self.indptr[-1])
        return sps.bsr_array(
            (host_array(self.data, nb, copy=copy), host_array(self.indices, nb, copy=copy),
             host_array(self.indptr, copy=copy)),
            shape=self.shape, blocksize=self.blocksize,
        )

    # -- public constructors ------------------------------------------------------------
    @classmethod
    def from_arrays(cls, data, indices, indptr, *, shape, blocksize=None, dtype=None) -> BSR:
        """From SciPy's ``(data, indices, indptr)`` triple; ``blocksize`` defaults to
        ``data.shape[1:]``. Block slots past ``indptr[-1]`` become padding."""
        shape = _validate.check_shape(shape, 2, "BSR")
        _validate.check_data(data, dtype)
        if np.ndim(data) != 3:
            raise ValueError(f"data must be 3-D (n_blocks, R, C), got shape {np.shape(data)}")
        if blocksize is None:
            blocksize = np.shape(data)[1:]
        blocksize = _validate.check_blocksize(blocksize, shape)
        if tuple(np.shape(data)[1:]) != blocksize:
            raise ValueError(
                f"data blocks must have shape blocksize={blocksize}, got {np.shape(data)[1:]}"
            )
        nbr, nbc = shape[0] // blocksize[0], shape[1] // blocksize[1]
        _validate.check_compressed(data, indices, indptr, nbr, nbc, "block rows",
                                   "block columns", data_ndim=3)
        xp = _host.namespace(data, indices, indptr)
        data = _host.asarray(xp, data, dtype)
        idx = index_dtype(*shape, np.size(data))
        indices = xp.asarray(indices, dtype=idx)
        indptr = xp.asarray(indptr, dtype=idx)
        real = xp.arange(indices.shape[0], dtype=idx) < indptr[-1]
        indices = xp.where(real, indices, nbc).astype(idx)
        data = mask_values(real[:, None, None], data, xp)
        sorted_ = canonical = False
        if _validate.is_concrete(indices, indptr):
            sorted_, canonical = _host_order(np.asarray(indices), np.asarray(indptr))
        return cls(*_host.to_device(data, indices, indptr), shape=shape, blocksize=blocksize,
                   has_sorted_indices=sorted_, has_canonical_format=canonical)

    @classmethod
    def from_scipy(cls, matrix, blocksize=None) -> BSR:
        import scipy.sparse as sps

        if not sps.issparse(matrix):
            raise TypeError(f"matrix must be a scipy.sparse array, got {type(matrix).__name__}")
        _validate.check_scipy_input(matrix)
        _validate.check_scipy_conversion(matrix, "bsr")
        m = matrix.tobsr(blocksize=blocksize)
        out = cls.from_arrays(m.data, m.indices, m.indptr, shape=m.shape,
                              blocksize=m.blocksize)
        if m.has_canonical_format:
            out = dataclasses.replace(out, has_sorted_indices=True, has_canonical_format=True)
        return out

    @classmethod
    def fromdense(cls, dense, *, blocksize=(1, 1), nse: int | None = None) -> BSR:
        """From a dense 2-D array, storing every block that holds a nonzero.

        Concrete input: exact block count (or ``nse`` blocks of capacity). Under ``jit``
        pass ``nse=`` (a static number of blocks); extra slots become padding.
        """
        _validate.check_nse(nse)
        traced = isinstance(dense, jax.core.Tracer)
        if not traced:
            _validate.check_data(dense, name="dense")
        if not traced and not isinstance(dense, jax.Array):
            return cls._fromdense_host(np.asarray(dense), blocksize, nse)
        dense = jnp.asarray(dense)
        _validate.check_shape(dense.shape, 2, "BSR.fromdense input")
        shape = tuple(dense.shape)
        r, c = _validate.check_blocksize(blocksize, shape)
        nbr, nbc = shape[0] // r, shape[1] // c
        blocks = dense.reshape(nbr, r, nbc, c).transpose(0, 2, 1, 3)  # (nbr, nbc, r, c)
        mask = jnp.any(blocks != 0, axis=(2, 3))
        if traced:
            if nse is None:
                raise ValueError(
                    "BSR.fromdense under jit needs nse= (a static number of blocks): the "
                    "block pattern of a traced array is not known at trace time"
                )
        else:
            nse = _validate.capacity(nse, int(jnp.sum(mask)), "nonzero blocks")
        idx = index_dtype(*shape, nse * r * c)
        bi, bj = jnp.nonzero(mask, size=nse, fill_value=(nbr, nbc))
        bi, bj = bi.astype(idx), bj.astype(idx)
        data = blocks.at[bi, bj].get(mode="fill", fill_value=0)
        indptr = _canonical.indptr_from_major(bi, nbr)
        return cls(data, bj, indptr, shape=shape, blocksize=(r, c),
                   has_sorted_indices=True, has_canonical_format=True)

    @classmethod
    def _fromdense_host(cls, dense: np.ndarray, blocksize, nse) -> BSR:
        """``fromdense`` of a host array: the block pattern found with NumPy and the
        arrays placed once (the jnp route compiled a handful of programs per shape)."""
        _validate.check_shape(dense.shape, 2, "BSR.fromdense input")
        shape = tuple(dense.shape)
        r, c = _validate.check_blocksize(blocksize, shape)
        nbr, nbc = shape[0] // r, shape[1] // c
        blocks = dense.reshape(nbr, r, nbc, c).transpose(0, 2, 1, 3)
        bi, bj = np.nonzero((blocks != 0).any(axis=(2, 3)))
        data, indices, indptr = _host.compressed_pattern(
            bi, bj, blocks[bi, bj], nbr, _validate.capacity(nse, bi.size, "nonzero blocks"))
        out = cls.from_arrays(data, indices, indptr, shape=shape, blocksize=(r, c))
        return dataclasses.replace(out, has_sorted_indices=True, has_canonical_format=True)

