"""What CSR and CSC share: one compressed axis (``indptr``) and one index array.

A CSC matrix of shape ``(n, m)`` is, array for array, the CSR matrix of its transpose
(shape ``(m, n)``). Kernels therefore see every compressed matrix as a row-major triple
plus a ``transposed`` flag: CSC products call the transposed CSR kernel directly, with no
conversion per call, and ``CSR.T`` is a CSC view of the same arrays.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _host, _validate
from ._base import AbstractSparseMatrix, concrete_int, host_array, mask_values
from ._index import index_dtype
from ._offsets import diagonal_offsets


class AbstractCompressed(AbstractSparseMatrix):
    """Shared by CSR (major axis = rows) and CSC (major axis = columns)."""

    data: jax.Array
    indices: jax.Array
    indptr: jax.Array
    has_sorted_indices: bool
    has_canonical_format: bool

    _major_is_row: bool  # class constant

    # -- views onto the row-major kernel layout -----------------------------------------
    @property
    def _major_minor(self) -> tuple[int, int]:
        n, m = self.shape
        return (n, m) if self._major_is_row else (m, n)

    def _kernel_args(self) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, int], bool]:
        """``(data, indices, indptr, row-major shape, transposed)`` for the CSR kernels."""
        return self.data, self.indices, self.indptr, self._major_minor, not self._major_is_row

    def _reads_offsets(self, *, transpose: bool, vector: bool) -> bool:
        """Whether a product (``transpose``: ``A.T @ b``; ``vector``: ``b`` 1-D) runs the
        kernel over the narrow offsets: the gathering product of one vector."""
        return (self.diagonal_offsets is not None and transpose == (not self._major_is_row)
                and vector and self.data.ndim == 1)

    def _matmul(self, b: jax.Array, *, transpose: bool, backend: str,
                b_start: int = 0) -> jax.Array:
        """``b_start``: the operand is ``b[b_start:]``, read by the CSR kernel from ``b``
        itself, as ``DIA._matmul``'s (the narrow offsets' kernel takes no ``b_start``)."""
        from ..ops._primitives import CSR_KERNELS, CSR_OFFSETS_MATVEC

        data, indices, indptr, shape, flipped = self._kernel_args()
        if not b_start and self._reads_offsets(transpose=transpose, vector=b.ndim == 1):
            return CSR_OFFSETS_MATVEC.bind(data, indices, indptr, self.diagonal_offsets, b,
                                           shape=shape, backend=backend)
        start = {"b_start": b_start} if b_start else {}  # plain products: as before
        return CSR_KERNELS.matmul.bind(
            data, indices, indptr, b, shape=shape, transpose=transpose != flipped,
            backend=backend, **start,
        )

    def _sampled(self, p: jax.Array, q: jax.Array, *, backend: str) -> jax.Array:
        from ..ops._primitives import CSR_KERNELS

        _, indices, indptr, shape, flipped = self._kernel_args()
        if flipped:  # (p @ q)[i, j] == (q.T @ p.T)[j, i]
            p, q = q.T, p.T
        return CSR_KERNELS.sampled.bind(indices, indptr, p, q, shape=shape, backend=backend)

    def __repr__(self) -> str:
        base = super().__repr__()
        if self.diagonal_offsets is None:
            return base
        # the products read these instead of the indices (formats/_offsets.py)
        return f"{base[:-1]}, diagonal_offsets={np.dtype(self.diagonal_offsets.dtype)})"

    # -- basic properties ---------------------------------------------------------------
    @property
    def nnz(self) -> Any:
        return concrete_int(self.indptr[-1])

    def _major_ids(self) -> jax.Array:
        """Major-axis index of every slot; ``n_major`` (out of range) for padding."""
        from ..ops._reference import csr_row_ids

        return csr_row_ids(self.indptr, self.capacity)

    def host_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """``tocoo()``'s coordinates (sentinels included), computed with NumPy from
        concrete index arrays: planning code (spgemm's symbolic phase) reads them on the
        host, and the device route compiled a conversion for every new shape."""
        from ._structure import stored_pattern

        stored = stored_pattern(np.asarray(self.indptr), np.asarray(self.indices),
                                csc=not self._major_is_row)
        padding = self.capacity - stored[0].size  # slots past indptr[-1]: sentinels
        return tuple(np.concatenate([c, np.full(padding, n, np.int64)])
                     for c, n in zip(stored, self.shape, strict=True))

    def with_data(self, data: jax.Array):
        """The same pattern with new values (traceable: shapes must match)."""
        if data.shape[:1] != self.data.shape[:1]:
            raise ValueError(
                f"data must have length {self.capacity} (the capacity), got {data.shape}"
            )
        return type(self)(data, self.indices, self.indptr, shape=self.shape,
                          has_sorted_indices=self.has_sorted_indices,
                          has_canonical_format=self.has_canonical_format,
                          diagonal_offsets=self.diagonal_offsets)

    def astype(self, dtype):
        return self.with_data(self.data.astype(_validate.check_data_dtype(dtype, "dtype")))

    # -- canonical forms (new objects; SciPy's methods mutate in place) ----------------
    def _keys(self):
        return (self._major_ids(), self.indices), self._major_minor

    def _rebuild(self, keys, data, **flags):
        from ._canonical import indptr_from_major

        major, minor = keys
        n_major = self._major_minor[0]
        indptr = indptr_from_major(major, n_major)
        offsets = self.diagonal_offsets
        if offsets is not None:
            # The same entries reordered, or some of them: every offset still fits the
            # width, and the matrix keeps its pytree structure (a loop carrying it).
            offsets = jnp.where(major < n_major, minor - major, 0).astype(offsets.dtype)
        return type(self)(data, minor, indptr, shape=self.shape, diagonal_offsets=offsets,
                          **flags)

    def sort_indices(self):
        """Sort the minor indices of every row (CSR) / column (CSC). Jit-able.

        SciPy equivalent: ``A.sort_indices()`` (which mutates ``A``).
        """
        from ._canonical import sort_entries

        keys, bounds = self._keys()
        keys, data = sort_entries(keys, bounds, self.data)
        return self._rebuild(keys, data, has_sorted_indices=True,
                             has_canonical_format=self.has_canonical_format)

    def sum_duplicates(self):
        """Sort indices and sum duplicates into the first slot; the freed slots become
        padding at the tail (same capacity). Jit-able. SciPy: ``A.sum_duplicates()``."""
        from ._canonical import sum_duplicates

        keys, bounds = self._keys()
        keys, data, _ = sum_duplicates(keys, bounds, self.data)
        return self._rebuild(keys, data, has_sorted_indices=True, has_canonical_format=True)

    def eliminate_zeros(self, nse: int | None = None):
        """Drop explicit zeros, keeping the order of the rest. Two phases: on concrete
        input the capacity becomes the exact count (or ``nse``); under ``jit`` the
        capacity is kept (or ``nse``, static) and zeros become padding at the tail.
        SciPy equivalent: ``A.eliminate_zeros()``."""
        from ._canonical import eliminate_zeros

        keys, bounds = self._keys()
        keys, data = eliminate_zeros(keys, bounds, self.data, nse)
        return self._rebuild(keys, data, has_sorted_indices=self.has_sorted_indices,
                             has_canonical_format=self.has_canonical_format)

    @jax.jit
    def tocoo(self):
        from ._coo import COO

        major = self._major_ids()
        n_major, n_minor = self._major_minor
        # COO's padding sentinel is row == n_rows (and col == n_cols).
        minor = jnp.where(major < n_major, self.indices, n_minor).astype(self.indices.dtype)
        row, col = (major, minor) if self._major_is_row else (minor, major)
        return COO(self.data, (row, col), shape=self.shape,
                   has_canonical_format=self.has_canonical_format and self._major_is_row)

    @jax.jit
    def todense(self) -> jax.Array:
        return self.tocoo().todense()

    def to_scipy(self, *, copy: bool = True):
        import scipy.sparse as sps

        nnz = int(self.indptr[-1])
        args = (host_array(self.data, nnz, copy=copy), host_array(self.indices, nnz, copy=copy),
                host_array(self.indptr, copy=copy))
        cls = sps.csr_array if self._major_is_row else sps.csc_array
        return cls(args, shape=self.shape)

    # -- public constructors ------------------------------------------------------------
    @classmethod
    def from_arrays(cls, data, indices, indptr, *, shape, dtype=None):
        """Build from SciPy's ``(data, indices, indptr)`` triple, validating it.

        Entries past ``indptr[-1]`` are capacity: they are reset to padding (value 0,
        the out-of-range index) so they can never contribute.
        """
        shape = _validate.check_shape(shape, 2, cls.__name__)
        n_major, n_minor = shape if cls._major_is_row else shape[::-1]
        major, minor = ("rows", "columns") if cls._major_is_row else ("columns", "rows")
        _validate.check_data(data, dtype)
        _validate.check_compressed(data, indices, indptr, n_major, n_minor, major, minor)
        xp = _host.namespace(data, indices, indptr)
        data = _host.asarray(xp, data, dtype)
        _validate.check_data_dtype(data.dtype)
        idx_dtype = index_dtype(n_major, n_minor, np.shape(indices)[0])
        indices = xp.asarray(indices, dtype=idx_dtype)
        indptr = xp.asarray(indptr, dtype=idx_dtype)
        slot = xp.arange(indices.shape[0], dtype=idx_dtype)
        real = slot < indptr[-1]
        indices = xp.where(real, indices, n_minor).astype(idx_dtype)
        data = mask_values(real.reshape(real.shape + (1,) * (data.ndim - 1)), data, xp)
        sorted_ = canonical = False
        offsets = None
        if _validate.is_concrete(indices, indptr):
            host_indices, host_indptr = np.asarray(indices), np.asarray(indptr)
            sorted_, canonical = _host_order(host_indices, host_indptr)
            offsets = diagonal_offsets(host_indices, host_indptr, sorted_indices=sorted_)
        data, indices, indptr = _host.to_device(data, indices, indptr)
        if offsets is not None:
            (offsets,) = _host.to_device(offsets)
        return cls(data, indices, indptr, shape=shape, has_sorted_indices=sorted_,
                   has_canonical_format=canonical, diagonal_offsets=offsets)

    @classmethod
    def from_scipy(cls, matrix):
        """From any ``scipy.sparse`` array or matrix (converted by SciPy on the host)."""
        import scipy.sparse as sps

        if not sps.issparse(matrix):
            raise TypeError(f"matrix must be a scipy.sparse array, got {type(matrix).__name__}")
        _validate.check_scipy_input(matrix)
        _validate.check_scipy_conversion(matrix, "csr" if cls._major_is_row else "csc")
        m = matrix.tocsr() if cls._major_is_row else matrix.tocsc()
        out = cls.from_arrays(m.data, m.indices, m.indptr, shape=m.shape)
        if m.has_canonical_format:
            out = dataclass_replace(out, has_sorted_indices=True, has_canonical_format=True)
        return out

    @classmethod
    def fromdense(cls, dense, *, nse: int | None = None, index_dtype_=None):
        """From a dense 2-D array, keeping its nonzeros (row-major order for CSR).

        Host input: the pattern is found on the host (exact ``nnz``). Under ``jit``
        pass ``nse=`` (a static capacity); extra slots become padding.
        """
        from ._convert import dense_to_coo

        if not isinstance(dense, jax.Array):
            return cls._fromdense_host(dense, nse)
        coo = dense_to_coo(dense, nse=nse, row_major=cls._major_is_row)
        return coo.tocsr() if cls._major_is_row else coo.tocsc()

    @classmethod
    def _fromdense_host(cls, dense, nse) -> AbstractCompressed:
        """``fromdense`` of a host array: the pattern found with NumPy, the arrays placed
        once (a device conversion compiled anew for every shape and count)."""
        host = np.asarray(dense)
        _validate.check_data_dtype(host.dtype, "dense")
        _validate.check_shape(host.shape, (1, 2), "fromdense input")
        if host.ndim != 2:
            raise ValueError(f"{cls.__name__}.fromdense needs a 2-D dense matrix, got shape "
                             f"{host.shape}")
        by_major = host if cls._major_is_row else host.T
        major, minor = np.nonzero(by_major)
        data, indices, indptr = _host.compressed_pattern(
            major, minor, by_major[major, minor], by_major.shape[0],
            _validate.capacity(nse, major.size))
        out = cls.from_arrays(data, indices, indptr, shape=host.shape)
        return dataclass_replace(out, has_sorted_indices=True, has_canonical_format=True)


def _host_order(indices: np.ndarray, indptr: np.ndarray) -> tuple[bool, bool]:
    """(sorted, canonical): minor indices non-decreasing / strictly increasing per row."""
    nnz = int(indptr[-1])
    if nnz < 2:
        return True, True
    steps = np.diff(indices[:nnz])
    starts = indptr[1:-1]
    new_row = np.zeros(nnz - 1, bool)
    new_row[starts[(starts > 0) & (starts < nnz)] - 1] = True
    return bool(np.all((steps >= 0) | new_row)), bool(np.all((steps > 0) | new_row))


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)
