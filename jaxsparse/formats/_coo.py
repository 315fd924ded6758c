"""COO: coordinate format, 1-D or 2-D (SciPy 1.17 returns 1-D ``coo_array``s)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._pytree import register_pytree_dataclass
from . import _host, _validate
from ._base import AbstractSparseMatrix, concrete_int
from ._index import index_dtype

_static = dict(static=True)


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class COO(AbstractSparseMatrix):
    """Coordinate format: entry ``k`` is ``data[k]`` at ``coords[0][k], coords[1][k]``.

    Padding slots (anywhere; sorting moves them last) hold value 0 and the out-of-range
    coordinate ``shape[d]`` on every axis ``d``. Duplicates are allowed and summed by
    every consumer, as in SciPy.

    SciPy equivalent: ``scipy.sparse.coo_array``.
    """

    data: jax.Array
    coords: tuple[jax.Array, ...]
    shape: tuple[int, ...] = dataclasses.field(metadata=_static)
    has_canonical_format: bool = dataclasses.field(default=False, metadata=_static)

    format_name = "coo"
    kernel_layout = "coo"
    entries_in_data = True

    @property
    def row(self) -> jax.Array:
        if self.ndim != 2:
            raise AttributeError(f"row is defined for 2-D COO only, this one is {self.ndim}-D")
        return self.coords[0]

    @property
    def col(self) -> jax.Array:
        if self.ndim == 1:
            return self.coords[0]
        return self.coords[1]

    @property
    def nnz(self) -> Any:
        return concrete_int(jnp.sum(self.coords[0] < self.shape[0], dtype=jnp.int32))

    def _require_2d(self, what: str) -> None:
        if self.ndim != 2:
            raise ValueError(f"{what} needs a 2-D matrix, got a {self.ndim}-D COO")

    def _matmul(self, b: jax.Array, *, transpose: bool, backend: str) -> jax.Array:
        from ..ops._primitives import COO_KERNELS

        self._require_2d("a matrix product")
        return COO_KERNELS.matmul.bind(self.data, self.row, self.col, b, shape=self.shape,
                                       transpose=transpose, backend=backend)

    def _sampled(self, p: jax.Array, q: jax.Array, *, backend: str) -> jax.Array:
        from ..ops._primitives import COO_KERNELS

        self._require_2d("sddmm")
        return COO_KERNELS.sampled.bind(self.row, self.col, p, q, shape=self.shape,
                                        backend=backend)

    def with_data(self, data: jax.Array) -> COO:
        if data.shape[:1] != self.data.shape[:1]:
            raise ValueError(
                f"data must have length {self.capacity} (the capacity), got {data.shape}"
            )
        return dataclasses.replace(self, data=data)

    def astype(self, dtype) -> COO:
        return self.with_data(self.data.astype(_validate.check_data_dtype(dtype, "dtype")))

    # -- canonical forms (new objects; SciPy's methods mutate in place) ----------------
    def sum_duplicates(self) -> COO:
        """Sort row-major (lexicographic over the coordinates) and sum duplicates into
        one slot; freed slots become padding at the tail (same capacity). Jit-able.

        SciPy equivalent: ``A.sum_duplicates()`` (which mutates ``A``).
        """
        from ._canonical import sum_duplicates

        coords, data, _ = sum_duplicates(self.coords, self.shape, self.data)
        return COO(data, coords, shape=self.shape, has_canonical_format=True)

    def sort_indices(self) -> COO:
        """Sort entries row-major, duplicates kept (jit-able). SciPy's ``coo_array``
        has no such method; it is here so every format can be sorted the same way."""
        from ._canonical import sort_entries

        coords, data = sort_entries(self.coords, self.shape, self.data)
        return COO(data, coords, shape=self.shape,
                   has_canonical_format=self.has_canonical_format)

    def eliminate_zeros(self, nse: int | None = None) -> COO:
        """Drop explicit zeros, keeping the order of the rest. Two phases: on concrete
        input the capacity becomes the exact count (or ``nse``); under ``jit`` it is
        kept (or ``nse``, static) and zeros become padding at the tail.
        SciPy equivalent: ``A.eliminate_zeros()``."""
        from ._canonical import eliminate_zeros

        coords, data = eliminate_zeros(self.coords, self.shape, self.data, nse)
        return COO(data, coords, shape=self.shape,
                   has_canonical_format=self.has_canonical_format)

    def _valid(self) -> jax.Array:
        return self.coords[0] < self.shape[0]

    @jax.jit
    def todense(self) -> jax.Array:
        if self.dtype == jnp.bool_:  # duplicates of a bool matrix combine with "or"
            counts = jnp.zeros(self.shape, jnp.int32)
            return counts.at[self.coords].add(self.data.astype(jnp.int32), mode="drop") > 0
        out = jnp.zeros(self.shape, self.dtype)
        return out.at[self.coords].add(self.data, mode="drop")

    def tocoo(self) -> COO:
        return self

    def tocsr(self):
        from ._convert import coo_to_compressed

        self._require_2d("tocsr")
        return coo_to_compressed(self, row_major=True)

    def tocsc(self):
        from ._convert import coo_to_compressed

        self._require_2d("tocsc")
        return coo_to_compressed(self, row_major=False)

    def transpose(self) -> COO:
        return COO(self.data, tuple(reversed(self.coords)), shape=self.shape[::-1],
                   has_canonical_format=False)

    def to_scipy(self, *, copy: bool = True):  # boolean indexing copies: always writable
        import scipy.sparse as sps

        keep = np.asarray(self._valid())
        coords = tuple(np.asarray(c)[keep] for c in self.coords)
        return sps.coo_array((np.asarray(self.data)[keep], coords), shape=self.shape)

    # -- public constructors ------------------------------------------------------------
    @classmethod
    def from_arrays(cls, data, coords, *, shape, dtype=None) -> COO:
        """Build from SciPy's ``(data, (row, col))`` form (or ``(data, (idx,))`` in 1-D)."""
        if not isinstance(coords, (tuple, list)):
            coords = (coords,)
        shape = _validate.check_shape(shape, (1, 2), "COO")
        if len(coords) != len(shape):
            raise ValueError(
                f"coords must hold one index array per dimension ({len(shape)}), "
                f"got {len(coords)}"
            )
        names = ("row", "col") if len(shape) == 2 else ("coords[0]",)
        axes = ("rows", "columns") if len(shape) == 2 else ("entries",)
        _validate.check_data(data, dtype)
        if np.ndim(data) != 1:
            raise ValueError(f"data must be 1-D, got shape {np.shape(data)}")
        for c, name in zip(coords, names, strict=True):
            _validate.check_index_array(c, name)
            if np.shape(c)[0] != np.shape(data)[0]:
                raise ValueError(
                    f"{name} and data must have the same length, got {np.shape(c)[0]} "
                    f"and {np.shape(data)[0]}"
                )
        if _validate.is_concrete(*coords):
            for c, name, axis, bound in zip(coords, names, axes, shape, strict=True):
                _validate.check_indices_in_range(np.asarray(c), bound, name, axis)
        xp = _host.namespace(data, *coords)
        data = _host.asarray(xp, data, dtype)
        _validate.check_data_dtype(data.dtype)
        idx = index_dtype(*shape, np.shape(data)[0])
        data, *coords = _host.to_device(data, *(xp.asarray(c, dtype=idx) for c in coords))
        return cls(data, tuple(coords), shape=shape, has_canonical_format=False)

    @classmethod
    def from_scipy(cls, matrix) -> COO:
        import scipy.sparse as sps

        if not sps.issparse(matrix):
            raise TypeError(f"matrix must be a scipy.sparse array, got {type(matrix).__name__}")
        _validate.check_scipy_input(matrix)
        m = matrix.tocoo()
        out = cls.from_arrays(m.data, tuple(m.coords), shape=m.shape)
        return dataclasses.replace(out, has_canonical_format=bool(m.has_canonical_format))

    @classmethod
    def fromdense(cls, dense, *, nse: int | None = None) -> COO:
        """From a dense 1-D or 2-D array (row-major order). Under ``jit`` pass ``nse=``."""
        from ._convert import dense_to_coo

        return dense_to_coo(dense, nse=nse, row_major=True)
