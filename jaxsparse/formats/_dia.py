"""DIA: diagonal storage, SciPy's ``dia_array`` layout."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._pytree import register_pytree_dataclass
from . import _host, _validate
from ._base import AbstractSparseMatrix, concrete_int, host_array, mask_values
from ._index import index_dtype

_static = dict(static=True)


def _check_padded_size(data_shape: tuple[int, ...], n_cols: int, dtype: np.dtype) -> None:
    """Refuse, before allocating, a ``data`` that padding to ``n_cols`` columns would make
    larger than the machine's memory (a claimed shape its data cannot back).

    SciPy keeps a narrow ``data`` as it is; we store exactly ``n_cols`` columns, so a
    file or caller claiming ``n_cols = 2**40`` with 3 stored values would otherwise ask
    for terabytes (or, with overcommit, get them lazily and thrash).
    """
    k, width = data_shape
    if width >= n_cols:
        return
    _validate.check_fits_memory(
        k * n_cols * dtype.itemsize,
        f"shape has {n_cols} columns: DIA stores n_cols slots per diagonal (data has only "
        f"{width}; use COO or CSR for a matrix this wide), so {k} diagonals")


@functools.partial(jax.jit, static_argnames=("shape", "width"))
def _transposed_data(data, offsets, *, shape, width):
    """The transpose's data, ``data.T[k, i] = data[k, i + offsets[k]]`` (0 off the band),
    as one compiled program (a gather; XLA:CPU ran shifted slices per diagonal 5x
    slower)."""
    n, m = shape
    if m == 0 or data.shape[0] == 0:
        return jnp.zeros((data.shape[0], n), data.dtype)
    src = jnp.arange(n, dtype=offsets.dtype)[None, :] + offsets[:, None]  # source column
    ok = (src >= 0) & (src < width)  # SciPy's transpose is full width
    shifted = jnp.take_along_axis(data, jnp.clip(src, 0, m - 1), axis=1)
    return mask_values(ok, shifted)


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class DIA(AbstractSparseMatrix):
    """Diagonal format: ``data[k, j]`` is ``A[j - offsets[k], j]``.

    ``data`` has shape ``(n_diags, n_cols)`` (SciPy's layout, normalised to exactly
    ``n_cols`` columns). Slots whose row ``j - offsets[k]`` falls outside the matrix, or
    whose column is ``>= width``, are padding: constructors set them to 0 and kernels
    never read them. ``width`` (static) remembers a SciPy ``data`` narrower than
    ``n_cols`` (``None``: full width), so that ``nnz`` counts the in-band slots exactly
    as SciPy does (explicit zeros included). The capacity is ``data.size``.

    SciPy equivalent: ``scipy.sparse.dia_array``.
    """

    data: jax.Array
    offsets: jax.Array
    shape: tuple[int, int] = dataclasses.field(metadata=_static)
    width: int | None = dataclasses.field(default=None, metadata=_static)

    format_name = "dia"
    kernel_layout = "dia"

    @property
    def _width(self) -> int:
        m = self.shape[1]
        return m if self.width is None else min(self.width, m)

    # -- basic properties ---------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return int(self.data.size)

    @property
    def nnz(self) -> Any:
        n, o = self.shape[0], self.offsets
        per_diag = jnp.maximum(jnp.minimum(n + o, self._width) - jnp.maximum(o, 0), 0)
        return concrete_int(jnp.sum(per_diag, dtype=o.dtype))

    def _band(self) -> tuple[jax.Array, jax.Array]:
        """``(rows, in_band)``, both ``(n_diags, n_cols)``: the row of every data slot."""
        return _band(jnp, self.offsets, self.shape, self._width)

    def with_data(self, data: jax.Array) -> DIA:
        if data.shape[:2] != self.data.shape[:2]:
            raise ValueError(f"data must have shape {self.data.shape}, got {data.shape}")
        return dataclasses.replace(self, data=data)

    def astype(self, dtype) -> DIA:
        return self.with_data(self.data.astype(_validate.check_data_dtype(dtype, "dtype")))

    # -- kernel --------------------------------------------------------------------------
    def _matmul(self, b: jax.Array, *, transpose: bool, backend: str,
                b_start: int = 0) -> jax.Array:
        """``b_start``: the operand is ``b[b_start:]``, the kernel bound on ``b`` itself,
        whose first ``b_start`` rows are never read, nor copied (the drop-in's NumPy
        vectors, read in place from the 64-byte boundary below them:
        ``scipy_compat._route``)."""
        from ..ops._primitives import DIA_MATMUL

        source = self.__dict__.get("_transpose_of")
        if source is not None:  # A.T @ b: A's transposed kernel (see transpose)
            return source._matmul(b, transpose=not transpose, backend=backend,
                                  b_start=b_start)
        start = {"b_start": b_start} if b_start else {}  # plain products: as before
        return DIA_MATMUL.bind(self.data, self.offsets, b, shape=self.shape,
                               transpose=transpose, width=self._width, backend=backend,
                               **start)

    # -- conversions ---------------------------------------------------------------------
    @jax.jit
    def tocoo(self):
        """Jit-able: one COO slot per data slot; out-of-band slots become padding."""
        from ._coo import COO

        n, m = self.shape
        rows, in_band = self._band()
        idx = index_dtype(n, m, self.data.size)
        cols = jnp.broadcast_to(jnp.arange(m, dtype=idx)[None, :], rows.shape)
        row = jnp.where(in_band, rows, n).astype(idx).ravel()
        col = jnp.where(in_band, cols, m).astype(idx).ravel()
        data = mask_values(in_band, self.data).ravel()
        return COO(data, (row, col), shape=self.shape, has_canonical_format=False)

    def tocsr(self):
        return self.tocoo().tocsr()

    def tocsc(self):
        return self.tocoo().tocsc()

    def todia(self) -> DIA:
        return self

    @jax.jit
    def todense(self) -> jax.Array:
        return self.tocoo().todense()

    def transpose(self) -> DIA:
        """Jit-able: offsets negate, and ``data.T[k, i] = data[k, i + offsets[k]]``.

        Traced (under ``jit``), the result remembers ``self``: its products run
        ``self``'s transposed kernel (same terms, same order), so ``A.T @ x`` never forms
        the shifted data (the gather is dead code), where it cost 5-10x the product
        (banded, n = 2M: 122 ms against SciPy's 16.5). Concrete, it does not: the data is
        formed anyway, and holding ``self`` too would keep both matrices in memory. The
        memory is in the object only, not in its pytree: an ``A.T`` passed into ``jit``
        is multiplied by its own data."""
        n, m = self.shape
        data = _transposed_data(self.data, self.offsets, shape=self.shape, width=self._width)
        out = DIA(data, -self.offsets, shape=(m, n))
        if isinstance(data, jax.core.Tracer):
            object.__setattr__(out, "_transpose_of", self)  # frozen: one extra attribute
        return out

    def to_scipy(self, *, copy: bool = True):
        import scipy.sparse as sps

        data = np.asarray(self.data)[:, : self._width]
        return sps.dia_array((np.array(data) if copy else data,
                              host_array(self.offsets, copy=copy)), shape=self.shape)

    # -- public constructors ------------------------------------------------------------
    @classmethod
    def from_arrays(cls, data, offsets, *, shape, dtype=None) -> DIA:
        """From SciPy's ``(data, offsets)`` pair. ``data`` may be narrower or wider than
        ``n_cols`` (as SciPy allows): it is zero-padded or cut to ``n_cols`` columns, and
        out-of-band slots are reset to 0.
        """
        shape = _validate.check_shape(shape, 2, "DIA")
        _validate.check_data(data, dtype)
        _validate.check_dia(data, offsets)
        n, m = shape
        _check_padded_size(np.shape(data), m, np.dtype(dtype or _validate.dtype_of(data)))
        xp = _host.namespace(data, offsets)
        data = _host.asarray(xp, data, dtype)
        k, width = data.shape
        if width < m:
            data = xp.concatenate([data, xp.zeros((k, m - width), data.dtype)], axis=1)
        data = data[:, :m]
        host_offsets = np.asarray(offsets) if _validate.is_concrete(offsets) else None
        biggest = int(np.abs(host_offsets).max()) if host_offsets is not None and k else 0
        idx = index_dtype(n, m, data.size, biggest)
        offsets = xp.asarray(offsets, dtype=idx)
        if k:  # else nothing to mask (and the band would be an n_cols-long arange)
            _, in_band = _band(xp, offsets, shape, min(width, m))
            data = mask_values(in_band, data, xp)
        data, offsets = _host.to_device(data, offsets)
        return cls(data, offsets, shape=shape, width=None if width >= m else int(width))

    @classmethod
    def from_scipy(cls, matrix) -> DIA:
        import scipy.sparse as sps

        if not sps.issparse(matrix):
            raise TypeError(f"matrix must be a scipy.sparse array, got {type(matrix).__name__}")
        _validate.check_scipy_input(matrix)
        m = matrix.todia()
        return cls.from_arrays(m.data, m.offsets, shape=m.shape)

    @classmethod
    def fromdense(cls, dense) -> DIA:
        """From a dense 2-D array: every diagonal holding a nonzero is stored (host)."""
        from ._coo import COO

        if isinstance(dense, jax.core.Tracer):
            raise ValueError(
                "DIA.fromdense needs a concrete array: which diagonals are stored depends "
                "on the values, so it cannot run under jit"
            )
        return COO.fromdense(dense).todia()



def _band(xp, offsets, shape: tuple[int, int], width: int):
    """``(rows, in_band)``, both ``(n_diags, n_cols)``: the row of every data slot, and
    whether it lies in the matrix and within the first ``width`` columns."""
    n, m = shape
    cols = xp.arange(m, dtype=offsets.dtype)
    rows = cols[None, :] - offsets[:, None]
    return rows, (rows >= 0) & (rows < n) & (cols[None, :] < width)
