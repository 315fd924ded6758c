"""CSR: compressed sparse rows, SciPy's ``csr_array`` layout."""

from __future__ import annotations

import dataclasses

import jax

from .._pytree import register_pytree_dataclass
from ._compressed import AbstractCompressed

_static = dict(static=True)


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class CSR(AbstractCompressed):
    """Compressed sparse rows: row ``i`` holds ``data[indptr[i]:indptr[i+1]]`` at
    columns ``indices[indptr[i]:indptr[i+1]]``.

    ``len(data)`` is a static capacity; slots past ``indptr[-1]`` are padding (value 0,
    column ``n_cols``). Build with :meth:`from_arrays`, :meth:`from_scipy` or
    :meth:`fromdense`; the dataclass constructor does no checking (JAX uses it).

    Example:
        >>> import scipy.sparse as sps, jaxsparse as js
        >>> A = js.CSR.from_scipy(sps.eye(3, format="csr"))
        >>> (A @ jnp.ones(3)).tolist()
        [1.0, 1.0, 1.0]

    SciPy equivalent: ``scipy.sparse.csr_array``.
    """

    data: jax.Array
    indices: jax.Array
    indptr: jax.Array
    shape: tuple[int, int] = dataclasses.field(metadata=_static)
    has_sorted_indices: bool = dataclasses.field(default=False, metadata=_static)
    has_canonical_format: bool = dataclasses.field(default=False, metadata=_static)
    diagonal_offsets: jax.Array | None = None  # formats/_offsets.py

    format_name = "csr"
    kernel_layout = "csr"
    entries_in_data = True
    _major_is_row = True

    def transpose(self):
        """A CSC view of the same arrays (no copy)."""
        from ._csc import CSC

        return CSC(self.data, self.indices, self.indptr, shape=self.shape[::-1],
                   has_sorted_indices=self.has_sorted_indices,
                   has_canonical_format=self.has_canonical_format,
                   diagonal_offsets=self.diagonal_offsets)

    def tocsr(self):
        return self

    def tocsc(self):
        from ._convert import coo_to_compressed

        return coo_to_compressed(self.tocoo(), row_major=False)
